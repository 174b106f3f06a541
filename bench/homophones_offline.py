"""Tune the Chinese homophone respelling (hotasr/biasing/homophones.py) on saved transcripts.

`recognize()` respells the biased decode before `hotasr eval` sees it, so the respelling cannot be
varied on a normal report. `raw` decodes a manifest in `hotasr` mode with the respelling switched
off and saves the report; `score` then applies the respelling with other constants to those
transcripts and scores each variant, without decoding again:

    .venv/bin/python bench/homophones_offline.py raw bench/sets/aishell_s0252_tune_n100.jsonl \\
        --out bench/out/raw_zh_tune
    .venv/bin/python bench/homophones_offline.py score bench/out/raw_zh_tune/report.json \\
        --manifest bench/sets/aishell_s0252_tune_n100.jsonl --min-chars 2,3 --fuzzy-from 3,4 --show

`min_chars`: the shortest term respelled; `fuzzy_from`: the shortest term matched on toneless fuzzy
pinyin (shorter ones must agree exactly, tones included); `word_edges`: whether a respelling may cut
a word of jieba's dictionary. The service's constants are `_MIN_CHARS`, `_FUZZY_FROM` and
`_WORD_EDGES` in homophones.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from respelling_offline import row  # the same table row (bench/ is on the path when run as a script)

from hotasr.biasing import homophones
from hotasr.evaluation.manifest import load_manifest
from hotasr.evaluation.scoring import BiasedErrors, HotwordCounts, hotword_counts, normalize_zh, score_text


def raw(args: argparse.Namespace) -> None:
    from threadpoolctl import threadpool_limits

    from hotasr.evaluation.runner import evaluate

    # As `hotasr` does (hotasr/cli/__init__.py): numpy's BLAS on one thread. With more, the features
    # come out a rounding apart and the biased decodes differ from `hotasr eval`'s.
    threadpool_limits(1, user_api="blas")
    off = homophones.HomophoneCorrector(())
    homophones.corrector_for = lambda hotwords: off  # type: ignore[assignment]  # recognize() imports it per call
    report = evaluate(args.manifest, modes=["hotasr"], limit=args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(report.to_json() + "\n", encoding="utf-8")
    (args.out / "report.md").write_text(report.to_markdown(), encoding="utf-8")
    print(report.to_markdown())


def score(args: argparse.Namespace) -> None:
    utts = {u.id: u for u in load_manifest(args.manifest)}
    report = json.loads(args.report.read_text(encoding="utf-8"))
    results: list[dict[str, Any]] = [r for r in report["utterances"] if r["mode"] == "hotasr" and r["id"] in utts]
    print(f"{args.report}, lists of {args.manifest.name}: {len(results)} utterances")
    print("| variant | CER | U-CER | B-CER | recall | precision | hotwords ref / hyp / hits |")
    print("|---|---:|---:|---:|---:|---:|---|")
    variants: list[tuple[str, int | None, int, bool]] = [("as decoded, no respelling", None, 0, False)]
    variants += [
        (f"respelled, min_chars {m}, fuzzy_from {f}, word edges {'on' if e == '1' else 'off'}",
         int(m), int(f), e == "1")
        for m in args.min_chars.split(",")
        for f in args.fuzzy_from.split(",")
        for e in args.word_edges.split(",")
    ]
    notes: list[str] = []
    for name, min_chars, fuzzy_from, word_edges in variants:
        errors, counts = BiasedErrors(), HotwordCounts()
        if min_chars is not None:
            homophones._MIN_CHARS = min_chars
            homophones._FUZZY_FROM = fuzzy_from
            homophones._WORD_EDGES = word_edges
            notes.append(f"{name}:")
        for r in results:
            utt = utts[r["id"]]
            hyp = r["hypothesis"]
            if min_chars is not None:
                fixed = homophones.HomophoneCorrector(utt.hotwords).correct_text(hyp)
                if fixed != hyp:
                    ref = "".join(normalize_zh(utt.reference))
                    new = [h.text for h in utt.hotwords if h.text in fixed and h.text not in hyp]
                    verdict = "ok" if all("".join(normalize_zh(t)) in ref for t in new) else "FALSE"
                    notes.append(f"  {verdict} {utt.id}: {hyp} -> {fixed}")
                hyp = fixed
            errors += score_text(utt.reference, hyp, utt.biasing_words, utt.language)
            counts += hotword_counts(utt.reference, hyp, [h.text for h in utt.hotwords], utt.language)
        print(row(name, errors, counts))
    if args.show:
        print("\n".join(notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("raw", help="decode in hotasr mode without the respelling")
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--limit", type=int)
    p.set_defaults(func=raw)
    p = sub.add_parser("score", help="score respelling variants on a raw report")
    p.add_argument("report", type=Path)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--min-chars", default="2")
    p.add_argument("--fuzzy-from", default="3")
    p.add_argument("--word-edges", default="1", help="1: respellings may not cut a dictionary word; 0: they may")
    p.add_argument("--show", action="store_true")
    p.set_defaults(func=score)
    args = parser.parse_args()
    args.func(args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
