"""Bilingual recordings (issue #19): Mandarin and English sentences alternating in one file.

    # build the set (deterministic; commits bench/sets/bilingual_s0252_ls.json, the recipe only)
    .venv/bin/python bench/bilingual.py build [--shared ../shared/data] [--files 4] [--pairs 5]
    # score the file path (and, with --realtime, the real-time path) against each utterance alone
    nice .venv/bin/python bench/bilingual.py score [--files 2] [--model fun-asr] [--realtime]

The recipe: from the shared AISHELL speaker S0252 (news sentences W0121-W0500) and LibriSpeech
test-other, `--files` files of `--pairs` (Mandarin, English) pairs, sentences alternating (Mandarin
first), each followed by a pause drawn from 0.4-0.9 s; all draws from `random.Random(SEED)`. The
audio is built from the recipe when scoring (nothing but the recipe is committed).

Scoring: each output sentence belongs to the utterance its middle falls in (a pause counts for
the utterance before it). Per language: CER (Mandarin) / WER (English) over the utterances of
that language, against the references and against the same utterances decoded alone in their own
language (`language_hints` = that language: the monolingual decode). A *lost half* is an utterance
whose text has nothing in its language's script (no CJK character for Mandarin, no Latin word for
English): dropped, or translated into the other language. Time: the bilingual file decoded with no
language given, against the same file decoded with one language forced (`language_hints` =
["zh"], and ["en"]), and against the sum of its utterances decoded alone. Also reported: the share
of Mandarin sentences ending in 。？！ (DashScope ends every sentence with a mark).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotasr.audio import SAMPLE_RATE, decode_audio  # noqa: E402
from hotasr.evaluation.scoring import ErrorCounts, score_text  # noqa: E402

SEED = 20260119
RECIPE = ROOT / "bench" / "sets" / "bilingual_s0252_ls.json"
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def build(shared: Path, files: int, pairs: int) -> dict[str, Any]:
    aishell = shared / "aishell_sample_S0252"
    zh_ids = [f"BAC009S0252W{n:04d}" for n in range(121, 501)]
    zh_ids = [i for i in zh_ids if (aishell / "wav" / f"{i}.wav").is_file()]
    other = shared / "librispeech_test_subset" / "test-other"
    en_refs = dict(line.rstrip("\n").split("\t", 1) for line in (other / "text.tsv").read_text().splitlines())
    en_ids = sorted(i for i in en_refs if (other / f"{i}.flac").is_file())
    rng = random.Random(SEED)
    zh_pick = rng.sample(zh_ids, files * pairs)
    en_pick = rng.sample(en_ids, files * pairs)
    out = []
    for f in range(files):
        utterances = []
        for p in range(pairs):
            k = f * pairs + p
            zid, eid = zh_pick[k], en_pick[k]
            zh_text = (aishell / "txt" / f"{zid}.txt").read_text(encoding="utf-8-sig").strip()
            utterances.append({"id": zid, "language": "zh", "audio": f"aishell_sample_S0252/wav/{zid}.wav",
                               "reference": zh_text, "pause_s": round(rng.uniform(0.4, 0.9), 2)})
            utterances.append({"id": eid, "language": "en", "audio": f"librispeech_test_subset/test-other/{eid}.flac",
                               "reference": en_refs[eid], "pause_s": round(rng.uniform(0.4, 0.9), 2)})
        out.append({"id": f"bilingual-{f:02d}", "utterances": utterances})
    return {"seed": SEED, "source": "AISHELL S0252 W0121-W0500 + LibriSpeech test-other", "files": out}


Span = tuple[dict[str, Any], np.ndarray, int, int]


def assemble(recipe_file: dict[str, Any], shared: Path) -> tuple[np.ndarray, list[Span]]:
    """The file's samples and, per utterance, (utterance, its samples, start, end of its span)."""
    parts, spans, at = [], [], 0
    for utt in recipe_file["utterances"]:
        samples = decode_audio(shared / utt["audio"]).samples
        pause = np.zeros(round(utt["pause_s"] * SAMPLE_RATE), np.float32)
        spans.append((utt, samples, at, at + len(samples) + len(pause)))
        parts += [samples, pause]
        at += len(samples) + len(pause)
    return np.concatenate(parts), spans


def in_script(text: str, language: str) -> bool:
    return bool(_CJK.search(text) if language == "zh" else _LATIN_WORD.search(text))


def score(args: argparse.Namespace) -> None:
    from hotasr.recognize import recognize
    from tests.engine_fixtures import settings_for

    recipe = json.loads(RECIPE.read_text())
    shared = Path(args.shared)
    settings = settings_for(args.weights)
    rec = dict(model=args.model, settings=settings)
    warm, _ = assemble(recipe["files"][0], shared)
    recognize(warm[: 8 * SAMPLE_RATE], **rec)  # type: ignore[arg-type]  # model load, untimed

    totals: dict[str, dict[str, Any]] = {
        lang: {"bi": ErrorCounts(), "alone": ErrorCounts(), "ref": ErrorCounts(), "lost": 0, "n": 0}
        for lang in ("zh", "en")
    }
    times = {"bilingual": 0.0, "forced_zh": 0.0, "forced_en": 0.0, "alone": 0.0}
    zh_sentences = zh_marked = 0
    warnings_seen: list[str] = []
    for recipe_file in recipe["files"][: args.files]:
        samples, spans = assemble(recipe_file, shared)
        t = time.perf_counter()
        transcript = recognize(samples, **rec)  # type: ignore[arg-type]
        times["bilingual"] += time.perf_counter() - t
        warnings_seen += transcript.warnings
        for hints, key in ((["zh"], "forced_zh"), (["en"], "forced_en")):
            if args.forced:
                t = time.perf_counter()
                recognize(samples, language_hints=hints, **rec)  # type: ignore[arg-type]
                times[key] += time.perf_counter() - t
        hyps: dict[int, list[str]] = {i: [] for i in range(len(spans))}
        for sentence in transcript.sentences:
            middle = (sentence.begin_ms + sentence.end_ms) / 2 * SAMPLE_RATE / 1000
            index = next((i for i, (_, _, a, b) in enumerate(spans) if a <= middle < b), len(spans) - 1)
            hyps[index].append(sentence.text)
            if sentence.language == "zh":
                zh_sentences += 1
                zh_marked += sentence.text.rstrip()[-1:] in ("。", "？", "！")
        for i, (utt, utt_samples, _, _) in enumerate(spans):
            lang = utt["language"]
            t = time.perf_counter()
            alone = recognize(utt_samples, language_hints=[lang], **rec)  # type: ignore[arg-type]
            times["alone"] += time.perf_counter() - t
            hyp = " ".join(hyps[i])
            totals[lang]["bi"] += score_text(utt["reference"], hyp, language=lang).overall
            totals[lang]["alone"] += score_text(utt["reference"], alone.text, language=lang).overall
            totals[lang]["n"] += 1
            lost = not in_script(hyp, lang)
            totals[lang]["lost"] += lost
            if args.verbose or lost:
                print(f"{utt['id']} [{lang}]{' LOST' if lost else ''}\n  ref   {utt['reference']}\n"
                      f"  bi    {hyp}\n  alone {alone.text}")
    report = {
        "model": args.model, "weights": args.weights, "files": min(args.files, len(recipe["files"])),
        "per_language": {
            lang: {"utterances": v["n"], "metric": "CER" if lang == "zh" else "WER",
                   "bilingual": round(v["bi"].error_rate or 0, 2), "alone": round(v["alone"].error_rate or 0, 2),
                   "lost_halves": v["lost"]}
            for lang, v in totals.items()
        },
        "decode_seconds": {k: round(v, 2) for k, v in times.items()},
        "zh_sentences_ending_in_a_mark": f"{zh_marked}/{zh_sentences}",
        "warnings": warnings_seen,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    b.add_argument("--files", type=int, default=4)
    b.add_argument("--pairs", type=int, default=5)
    s = sub.add_parser("score")
    s.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    s.add_argument("--files", type=int, default=4)
    s.add_argument("--model", default="fun-asr")
    s.add_argument("--weights", default="whisper-base")
    s.add_argument("--forced", action="store_true", help="also time the file decoded in one language (slow)")
    s.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.command == "build":
        recipe = build(Path(args.shared), args.files, args.pairs)
        RECIPE.write_text(json.dumps(recipe, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {RECIPE}")
    else:
        score(args)


if __name__ == "__main__":
    main()
