"""CPU an hour of noise costs compared with an hour of speech, with the speech gate off and on.

Clips go through `hotasr.transcribe` (the library path: the same recognize() the OpenAI endpoint,
file tasks and the CLI use), one after another in this process; CPU time is this process's (all
CTranslate2 threads), after the model is loaded and warmed up. Noise: full-scale white noise in
6.25 s clips (the abuse probe's input) and one long clip (files over 30 s also go through
faster-whisper's own VAD). Speech: LibriSpeech test clips; their transcripts with the gate on must
equal those with it off (the gate only decides whether Whisper runs; it never cuts audio).

    PYTHONPATH=$PWD .venv/bin/python bench/noise_cost.py [--model whisper-base] [--noise-clips 4] [--speech 12]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import hotasr
from hotasr.audio import SAMPLE_RATE, decode_audio
from hotasr.config import ModelRoute, Settings

REPO = Path(__file__).resolve().parents[1]
LIBRISPEECH = REPO.parent / "shared" / "data" / "librispeech_test_subset"

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="whisper-base")
ap.add_argument("--noise-clips", type=int, default=4)
ap.add_argument("--clip-seconds", type=float, default=6.25)
ap.add_argument("--long-noise-seconds", type=float, default=120)
ap.add_argument("--speech", type=int, default=12)
args = ap.parse_args()


def settings(gate: bool) -> Settings:
    return Settings(model_cache_dir=REPO / "var" / "cache", models={"fun-asr": ModelRoute(weights=args.model)},
                    speech_gate=gate)


def cost(clips: list[np.ndarray], gate: bool) -> tuple[float, list[str]]:
    """CPU seconds for all clips, and their texts."""
    texts = []
    started = time.process_time()
    for samples in clips:
        texts.append(hotasr.transcribe(samples, settings=settings(gate)).text)
    return time.process_time() - started, texts


rng = np.random.default_rng(6)
short_noise = [rng.uniform(-1, 1, round(args.clip_seconds * SAMPLE_RATE)).astype(np.float32)
               for _ in range(args.noise_clips)]
long_noise = [rng.uniform(-1, 1, round(args.long_noise_seconds * SAMPLE_RATE)).astype(np.float32)]
paths = sorted(p for p in LIBRISPEECH.glob("*/*") if p.suffix in (".flac", ".wav"))[: args.speech]
speech = [decode_audio(p).samples for p in paths]

hotasr.transcribe(speech[0], settings=settings(False))  # load and warm the model outside the clock

rows = []
sets = [(f"noise, {args.clip_seconds:g} s clips", short_noise),
        (f"noise, one {args.long_noise_seconds:g} s file", long_noise), ("speech, LibriSpeech clips", speech)]
for name, clips in sets:
    seconds = sum(len(c) for c in clips) / SAMPLE_RATE
    off, texts_off = cost(clips, gate=False)
    on, texts_on = cost(clips, gate=True)
    rows.append({
        "audio": name, "clips": len(clips), "audio_s": round(seconds, 1),
        "cpu_s_gate_off": round(off, 2), "cpu_s_gate_on": round(on, 2),
        "cpu_h_per_audio_h_off": round(off / seconds, 3), "cpu_h_per_audio_h_on": round(on / seconds, 3),
        "clips_with_text_off": sum(bool(t.strip()) for t in texts_off),
        "clips_with_text_on": sum(bool(t.strip()) for t in texts_on),
        "same_text_on_and_off": sum(a == b for a, b in zip(texts_off, texts_on, strict=True)),
        "invented_text_sample": next((t for t in texts_off if t.strip()), "")[:80] if "noise" in name else "",
    })
    print(json.dumps(rows[-1]), flush=True)
