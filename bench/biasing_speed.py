"""Decode-time cost of hotword biasing, through the service path a user's request takes.

The same clips are decoded with no list and with a list given inline (no vocabulary id), through
`hotasr.recognize.recognize` and the engine it loads, interleaved clip by clip (the order of the two
flips every clip and every repeat), so that a busy shared machine hits both paths alike. Every
biased decode starts from an empty graph cache unless `--cached`: the time to compile the inline
list is part of it, as in a request that brings a new list. English: LibriSpeech with 500-term
lists; Mandarin: AISHELL S0252 with 300-term lists (`bench/sets/`). Wall-clock RTF and CPU-time RTF
(this process's CPU seconds, steadier when other work shares the cores) are reported for each path,
with their ratio, and how many decodes were redone on the 30 s window. Then the compile time of an
inline list alone (median of `--repeats` compiles of each clip's list).

    .venv/bin/python bench/biasing_speed.py [--limit 12] [--repeats 3] [--sets en,zh]

`--decoder` instead compares the decoders alone, on faster-whisper's 30 s windows: CTranslate2's
beam search, hotasr's with an empty list, and hotasr's with each clip's list (`--model`: a
CTranslate2 model directory; default: the engine's whisper-base).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hotasr.audio import decode_audio
from hotasr.config import Settings
from hotasr.engine import SAMPLE_RATE, load_engine
from hotasr.evaluation.manifest import Utterance, load_manifest
from hotasr.recognize import recognize

SETS = {
    "en": Path("bench/sets/librispeech_n500.jsonl"),
    "zh": Path("bench/sets/aishell_s0252_n300.jsonl"),
}
MODEL = "fun-asr"
FULL_WINDOW = 3000  # Whisper's 30 s window, in log-mel frames
OUT = Path("bench/out/biasing_speed.json")


@dataclass
class PathTimes:
    """Seconds spent by one path (no list, or the list) over a set's clips."""

    wall: float = 0.0
    cpu: float = 0.0
    decodes: int = 0
    redone_on_30s: int = 0
    texts: list[str] = field(default_factory=list)


def clips(name: str, limit: int) -> list[tuple[Utterance, np.ndarray]]:
    """The first `limit` utterances of a set with their audio, decoded once up front."""
    utterances = load_manifest(SETS[name]).utterances[:limit]
    return [(u, decode_audio(u.audio).samples) for u in utterances]


@contextmanager
def encoder_windows() -> Iterator[list[int]]:
    """The window (in frames) of every encoder pass run inside the block. Counted on the class
    (`WhisperModel.encode`, which the engine's decode passes call once they have fitted the window
    and missed their memo): an instance attribute would shadow the pass's own `encode`."""
    from faster_whisper import WhisperModel

    own = WhisperModel.encode
    seen: list[int] = []

    def encode(self: Any, features: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        seen.append(features.shape[-1])
        return own(self, features, *args, **kwargs)

    WhisperModel.encode = encode
    try:
        yield seen
    finally:
        WhisperModel.encode = own


def decode(settings: Settings, utt: Utterance, samples: np.ndarray, biased: bool) -> str:
    """One request: the clip in its language, with its list inline or with none."""
    hotwords = utt.hotwords if biased else ()
    transcript = recognize(samples, model=MODEL, settings=settings, hotwords=hotwords, language_hints=[utt.language])
    return transcript.text


def timed(times: PathTimes, run: Callable[[], str]) -> None:
    """`run` once, its wall and CPU seconds and its 30 s redos added to `times`."""
    with encoder_windows() as windows:
        wall, cpu = time.perf_counter(), time.process_time()
        text = run()
        times.wall += time.perf_counter() - wall
        times.cpu += time.process_time() - cpu
    # A clip under 25 s is encoded on a fitted window first: a 30 s pass means it was redone.
    times.redone_on_30s += FULL_WINDOW in windows and min(windows) < FULL_WINDOW
    times.decodes += 1
    times.texts.append(text)


def forget_lists(engine: Any) -> None:
    """Empty the engine's cache of compiled lists (token graphs, homophone correctors): the next
    biased decode pays for its list as a request that brings a new one does."""
    engine._hotwords._lists.clear()


def bench_set(name: str, settings: Settings, limit: int, repeats: int, cached: bool) -> dict[str, Any]:
    """Both paths over one set's clips, interleaved, `repeats` times."""
    engine: Any = load_engine(settings.models[MODEL], settings)
    items = clips(name, limit)
    for utt, samples in items[:1]:  # untimed: engine, biased decoder and caches ready
        decode(settings, utt, samples, False)
        decode(settings, utt, samples, True)
    plain, biased = PathTimes(), PathTimes()
    for repeat in range(repeats):
        for i, (utt, samples) in enumerate(items):
            if not cached:
                forget_lists(engine)
            runs = [(plain, False), (biased, True)]
            for times, with_list in runs if (i + repeat) % 2 == 0 else runs[::-1]:
                timed(times, functools.partial(decode, settings, utt, samples, with_list))
    audio = repeats * sum(len(s) for _, s in items) / SAMPLE_RATE
    terms = statistics.median(len(u.hotwords) for u, _ in items)
    return summary(name, audio, terms, plain, biased)


def summary(name: str, audio: float, terms: float, plain: PathTimes, biased: PathTimes) -> dict[str, Any]:
    return {
        "set": name,
        "terms": terms,
        "clips": plain.decodes,
        "audio_s": round(audio, 1),
        "rtf_none": round(plain.wall / audio, 4),
        "rtf_list": round(biased.wall / audio, 4),
        "ratio": round(biased.wall / plain.wall, 3),
        "cpu_rtf_none": round(plain.cpu / audio, 4),
        "cpu_rtf_list": round(biased.cpu / audio, 4),
        "cpu_ratio": round(biased.cpu / plain.cpu, 3),
        "redone_on_30s_none": plain.redone_on_30s,
        "redone_on_30s_list": biased.redone_on_30s,
    }


def compile_times(name: str, settings: Settings, limit: int, repeats: int) -> dict[str, Any]:
    """Median wall and CPU milliseconds of compiling each clip's list, `repeats` times each."""
    from hotasr.biasing import compile_hotwords

    engine: Any = load_engine(settings.models[MODEL], settings)
    from hotasr.biasing.homophones import HomophoneCorrector

    walls: list[float] = []
    cpus: list[float] = []
    corrector: list[float] = []
    lists = [u.hotwords for u in load_manifest(SETS[name]).utterances[:limit]]
    for _ in range(repeats):
        for terms in lists:
            wall, cpu = time.perf_counter(), time.process_time()
            compile_hotwords(terms, engine.model.hf_tokenizer, multilingual=engine.multilingual)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            if name == "zh":  # recognize() respells Chinese transcripts with the list's corrector
                wall = time.perf_counter()
                HomophoneCorrector(terms)
                corrector.append(time.perf_counter() - wall)
    return {"set": name, "terms": statistics.median(len(t) for t in lists),
            "compile_ms": round(1000 * statistics.median(walls), 1),
            "compile_cpu_ms": round(1000 * statistics.median(cpus), 1),
            "corrector_ms": round(1000 * statistics.median(corrector), 1) if corrector else None}


def print_tables(speed: list[dict[str, Any]], compiles: list[dict[str, Any]]) -> None:
    print("| set | terms | decodes per path | audio s | RTF no list | RTF list | ratio "
          "| CPU RTF no list | CPU RTF list | CPU ratio | redone on 30 s (no list / list) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in speed:
        print(f"| {r['set']} | {r['terms']:.0f} | {r['clips']} | {r['audio_s']} | {r['rtf_none']:.3f} "
              f"| {r['rtf_list']:.3f} | {r['ratio']:.2f} | {r['cpu_rtf_none']:.3f} | {r['cpu_rtf_list']:.3f} "
              f"| {r['cpu_ratio']:.2f} | {r['redone_on_30s_none']} / {r['redone_on_30s_list']} |")
    print()
    print("| set | terms | compile ms (median) | compile CPU ms (median) | homophone corrector ms (median) |")
    print("|---|---:|---:|---:|---:|")
    for c in compiles:
        corrector = "-" if c["corrector_ms"] is None else c["corrector_ms"]
        print(f"| {c['set']} | {c['terms']:.0f} | {c['compile_ms']} | {c['compile_cpu_ms']} | {corrector} |")


def service_bench(args: argparse.Namespace) -> None:
    settings = Settings()
    names = [n for n in args.sets.split(",") if n]
    speed = [bench_set(n, settings, args.limit, args.repeats, args.cached) for n in names]
    compiles = [compile_times(n, settings, args.limit, args.repeats) for n in names]
    print_tables(speed, compiles)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"speed": speed, "compile": compiles, "args": vars(args)}, indent=2))
    print(f"\nwrote {OUT}")


def decoder_bench(args: argparse.Namespace) -> None:
    """CTranslate2's beam search against hotasr's, both on 30 s windows, faster-whisper direct."""
    from faster_whisper import WhisperModel

    from hotasr.biasing import compile_hotwords
    from hotasr.engine.faster_whisper_adapter import biased_pass
    from hotasr.engine.weights import resolve_weights

    settings = Settings()
    model_dir = args.model or str(resolve_weights("whisper-base", settings.model_cache_dir))
    wm = WhisperModel(model_dir, device="cpu", compute_type=args.compute_type, cpu_threads=2)
    empty = biased_pass(wm, compile_hotwords([], wm.hf_tokenizer, multilingual=True), model_dir=str(model_dir))
    totals = {"stock": 0.0, "ours-empty": 0.0, "ours-list": 0.0}
    audio_s = 0.0
    for utt, samples in clips("en", args.limit):
        audio_s += len(samples) / SAMPLE_RATE
        graph = compile_hotwords(list(utt.hotwords), wm.hf_tokenizer, multilingual=True)
        full = biased_pass(wm, graph, model_dir=str(model_dir))
        for name, model in (("stock", wm), ("ours-empty", empty), ("ours-list", full)):
            start = time.perf_counter()
            list(model.transcribe(samples, language="en", beam_size=5)[0])
            totals[name] += time.perf_counter() - start
    for name, seconds in totals.items():
        print(f"{name:<11} {seconds:7.2f} s  RTF {seconds / audio_s:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="en,zh", help="comma-separated, of: " + ", ".join(SETS))
    ap.add_argument("--limit", type=int, default=12, help="clips per set")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cached", action="store_true", help="keep compiled lists between decodes")
    ap.add_argument("--decoder", action="store_true", help="compare the decoders alone (see above)")
    ap.add_argument("--model", default=None, help="--decoder: CTranslate2 model directory")
    ap.add_argument("--compute-type", default="int8", help="--decoder: CTranslate2 compute type")
    args = ap.parse_args()
    if args.decoder:
        decoder_bench(args)
    else:
        service_bench(args)


if __name__ == "__main__":
    main()
