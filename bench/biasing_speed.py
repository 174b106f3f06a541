"""Decode-time cost of biasing: per utterance, back to back (so a busy shared box hits every mode
alike): stock faster-whisper, our decoder (ONNX Runtime) with an empty list, and with a 500-term list.

    .venv/bin/python bench/biasing_speed.py [--limit 12] [--n 500]
"""

from __future__ import annotations

import argparse
import sys
import time

from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

sys.path.insert(0, "bench")
from biasing_accuracy import RARE, bias_list, load_ls

from hotasr.biasing import biased_whisper, compile_hotwords
from hotasr.hotwords import Hotword

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="var/models/whisper-base")
ap.add_argument("--limit", type=int, default=12)
ap.add_argument("--n", type=int, default=500)
ap.add_argument("--compute-type", default="default")
args = ap.parse_args()
wm = WhisperModel(args.model, device="cpu", compute_type=args.compute_type, cpu_threads=2)
pool = [w for w in RARE.read_text().split() if w]
items = load_ls()[8 : 8 + args.limit]  # test-other first: longer utterances
empty = biased_whisper(wm, compile_hotwords([], wm.hf_tokenizer, multilingual=True), model_dir=args.model)
tot = {"stock": 0.0, "ours-empty": 0.0, f"ours-{args.n}": 0.0, "compile": 0.0}
audio_s = 0.0
for it in items:
    audio = decode_audio(it["path"])
    audio_s += len(audio) / 16000
    t = time.time()
    graph = compile_hotwords([Hotword(w, 4) for w in bias_list(it, args.n, pool)], wm.hf_tokenizer, multilingual=True)
    tot["compile"] += time.time() - t
    full = biased_whisper(wm, graph, model_dir=args.model)
    for name, model in (("stock", wm), ("ours-empty", empty), (f"ours-{args.n}", full)):
        t = time.time()
        list(model.transcribe(audio, language="en", beam_size=5)[0])
        tot[name] += time.time() - t
print(f"{len(items)} utts, {audio_s:.0f} s audio")
for k, v in tot.items():
    print(f"{k:<14} {v:7.2f} s  RTF {v / audio_s:.3f}")
print(f"biasing overhead vs empty list: {100 * (tot[f'ours-{args.n}'] / tot['ours-empty'] - 1):+.1f}%")
print(f"vs stock faster-whisper:        {100 * (tot[f'ours-{args.n}'] / tot['stock'] - 1):+.1f}%")
