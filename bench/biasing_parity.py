"""Parity + speed: faster-whisper with CTranslate2's decoder vs our ONNX Runtime decoder (empty graph)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from faster_whisper import WhisperModel

from hotasr.biasing import compile_hotwords
from hotasr.engine.faster_whisper_adapter import biased_pass

model_dir, *wavs = sys.argv[1:]
wm = WhisperModel(model_dir, device="cpu", compute_type=os.environ.get("CT", "int8"), cpu_threads=2)
g = compile_hotwords([], wm.hf_tokenizer, multilingual=wm.model.is_multilingual)
bw = biased_pass(wm, g, model_dir=str(model_dir))
lang = "en"
same = 0
t_ref = t_np = 0.0
for wav in wavs:
    t = time.time()
    ref = " ".join(s.text.strip() for s in wm.transcribe(wav, language=lang, beam_size=5)[0])
    t_ref += time.time() - t
    t = time.time()
    out = " ".join(s.text.strip() for s in bw.transcribe(wav, language=lang, beam_size=5)[0])
    t_np += time.time() - t
    same += ref == out
    if ref != out:
        print(Path(wav).name, "\n  ct2:", ref, "\n  np :", out)
print(f"identical {same}/{len(wavs)}  ct2 {t_ref:.1f}s  ours {t_np:.1f}s")
