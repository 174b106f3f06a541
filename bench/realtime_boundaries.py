"""How much audio around a sentence's speech real-time finals should decode: the real-time path's
sentences, cut with a given lead and tail, decoded as biased finals, against the recorded-file path.

Offline and in one process (no server, no pacing): each clip of the manifest, with 1.5 s of silence
after it (as `realtime_accuracy.py` streams it), goes through the streaming voice-activity detector
and segmenter at `max_sentence_silence` 1300 ms (`fun-asr`'s default), in 100 ms frames. Each
sentence's audio is then cut from `--lead-ms` before its speech (never before the previous
sentence's end) to `--tail-ms` after it, and decoded as a real-time final is (`hotasr.recognize`,
`fun-asr-realtime`, the stream's language after its first sentence); the finals are joined and
scored. The recorded-file path decodes the same samples whole.

    .venv/bin/python bench/realtime_boundaries.py --lead-ms 200,700 --tail-ms 200,700 [--modes hotasr]
        [--manifest bench/sets/librispeech_n100.jsonl] [--limit N]

Prints one row per (lead, tail) pair and one for the file path.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.realtime_accuracy import with_tail
from hotasr.audio import SAMPLE_RATE
from hotasr.evaluation.runner import EvalReport, evaluate
from hotasr.hotwords import Hotword
from hotasr.recognize import recognize
from hotasr.streaming.segmenter import Segmenter, SegmenterConfig, to_samples
from hotasr.streaming.vad import StreamingVad
from hotasr.transcript import Sentence, Transcript

FRAME = SAMPLE_RATE // 10
SILENCE_MS = 1300


def speech_spans(samples: np.ndarray) -> list[tuple[int, int]]:
    """(first, one past the last) sample of each sentence's speech, as the real-time path finds them."""
    config = SegmenterConfig(max_sentence_silence_ms=SILENCE_MS)
    vad, segmenter = StreamingVad(), Segmenter(config)
    spans: list[tuple[int, int]] = []
    onset = None
    for offset in range(0, len(samples), FRAME):
        for segment in segmenter.push(vad(samples[offset : offset + FRAME])):
            assert onset is not None
            spans.append((onset, segment.end - to_samples(config.tail_ms)))
        onset = segmenter.onset if segmenter.onset is not None else onset
    if (segment := segmenter.flush()) is not None:
        assert onset is not None
        spans.append((onset, segment.end))
    return spans


def cut_recognizer(lead_ms: int, tail_ms: int) -> Any:
    lead, tail = to_samples(lead_ms), to_samples(tail_ms)

    def run(samples: np.ndarray, *, model: str, settings: Any, hotwords: Sequence[Hotword] = (),
            language_hints: Sequence[str] | None = None, biasing: str = "hotasr") -> Transcript:
        texts: list[str] = []
        language = None
        previous_end = 0
        for start, end in speech_spans(samples):
            first, last = max(previous_end, start - lead), min(len(samples), end + tail)
            previous_end = last
            final = recognize(samples[first:last], model="fun-asr-realtime", settings=settings, hotwords=hotwords,
                              language_hints=language_hints, biasing=biasing, language=language)  # type: ignore[arg-type]
            if language is None and final.sentences:
                language = final.language
            texts.append(" ".join(s.text for s in final.sentences))
        return Transcript([Sentence(0, 0, t) for t in texts if t], language)

    return run


def row(name: str, report: EvalReport, mode: str) -> str:
    d = report.score(mode).to_dict()
    unit = "WER" if "WER" in d else "CER"
    return (f"| {name} | {mode} | {d[unit]:.2f} | {d['B-' + unit]:.2f} | {d['hotword_recall']:.3f} | "
            f"{d['hotword_precision']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="bench/sets/librispeech_n100.jsonl")
    parser.add_argument("--lead-ms", default="200,700")
    parser.add_argument("--tail-ms", default="200,700")
    parser.add_argument("--modes", default="hotasr")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    modes = args.modes.split(",")
    print("| cut | mode | WER (CER) | B-WER (B-CER) | hotword recall | hotword precision |")
    print("|---|---|---:|---:|---:|---:|")
    for lead, tail in itertools.product((int(x) for x in args.lead_ms.split(",")),
                                        [int(x) for x in args.tail_ms.split(",")]):
        report = evaluate(args.manifest, model="fun-asr-realtime", modes=modes, limit=args.limit,
                          recognizer=cut_recognizer(lead, tail), audio_loader=with_tail)
        for mode in modes:
            print(row(f"sentences, lead {lead} ms, tail {tail} ms", report, mode), flush=True)
    files = evaluate(args.manifest, model="fun-asr", modes=modes, limit=args.limit, audio_loader=with_tail)
    for mode in modes:
        print(row("recorded file (same samples)", files, mode), flush=True)


if __name__ == "__main__":
    main()
