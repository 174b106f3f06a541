"""Score English sounds-alike respelling (hotasr/biasing/respelling.py) on saved `hotasr eval` reports.

The respelling runs after decoding, on the text alone, so it can be measured on the hypotheses of a
report without decoding again:

    .venv/bin/hotasr eval bench/sets/en_tune_n100.jsonl --modes none,hotasr --out bench/out/eval_en_tune_n100
    .venv/bin/python bench/respelling_offline.py bench/out/eval_en_tune_n100/report.json \\
        --manifest bench/sets/en_tune_n100.jsonl --min-key 2,3,4 --max-span 1,2 --known 1,0

For every (known, min_key, max_span) it prints the hotasr row before and after (WER, U-WER, B-WER, recall,
precision) and, with --show, every span it rewrote and whether the term was in the reference.
`known` 1: the respeller leaves the words Whisper's vocabulary (`--tokenizer`) holds whole, as in the
service; 0: no such guard.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hotasr.biasing.respelling import SoundsAlikeRespeller, whole_words
from hotasr.evaluation.manifest import load_manifest
from hotasr.evaluation.scoring import BiasedErrors, HotwordCounts, hotword_counts, normalize_en, score_text


def row(name: str, errors: BiasedErrors, counts: HotwordCounts) -> str:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    def ratio(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (
        f"| {name} | {pct(errors.overall.error_rate)} | {pct(errors.unbiased.error_rate)} "
        f"| {pct(errors.biased.error_rate)} | {ratio(counts.recall)} | {ratio(counts.precision)} "
        f"| {counts.ref_occurrences} / {counts.hyp_occurrences} / {counts.hits} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--mode", default="hotasr")
    parser.add_argument("--min-key", default="3")
    parser.add_argument("--max-span", default="2")
    parser.add_argument("--known", default="1", help="1, 0 or 1,0: leave words Whisper's vocabulary holds whole")
    parser.add_argument("--tokenizer", type=Path, default=Path.home() / ".cache/hotasr/whisper-base/tokenizer.json")
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()

    utts = {u.id: u for u in load_manifest(args.manifest)}
    report = json.loads(args.report.read_text(encoding="utf-8"))
    results = [r for r in report["utterances"] if r["mode"] == args.mode and r["id"] in utts]
    print(f"{args.report} [{args.mode}], lists of {args.manifest.name}: {len(results)} utterances")
    print("| variant | WER | U-WER | B-WER | recall | precision | hotwords ref / hyp / hits |")
    print("|---|---:|---:|---:|---:|---:|---|")

    def score(transform: SoundsAlikeRespeller | None) -> tuple[BiasedErrors, HotwordCounts, list[str]]:
        errors, counts, notes = BiasedErrors(), HotwordCounts(), []
        for r in results:
            utt = utts[r["id"]]
            hyp = r["hypothesis"]
            if transform is not None:
                fixed = transform(utt).correct_text(hyp)
                if fixed != hyp:
                    ref = set(normalize_en(utt.reference))
                    before, after = normalize_en(hyp), normalize_en(fixed)
                    new = [w for w in after if w not in before]
                    verdict = "ok" if all(w in ref for w in new) else "FALSE"
                    old = " ".join(w for w in before if w not in after)
                    notes.append(f"  {verdict} {utt.id}: {old} -> {' '.join(new)}")
                hyp = fixed
            errors += score_text(utt.reference, hyp, utt.biasing_words, utt.language)
            counts += hotword_counts(utt.reference, hyp, [h.text for h in utt.hotwords], utt.language)
        return errors, counts, notes

    e, c, _ = score(None)
    print(row("as decoded", e, c))
    shown: list[str] = []
    import tokenizers

    vocab = whole_words(tokenizers.Tokenizer.from_file(str(args.tokenizer)).get_vocab())
    grid = [
        (int(k), int(n), vocab if int(w) else frozenset())
        for w in args.known.split(",")
        for k in args.min_key.split(",")
        for n in args.max_span.split(",")
    ]
    for min_key, max_span, known in grid:
        cache: dict[str, SoundsAlikeRespeller] = {}

        def make(utt, k=min_key, n=max_span, w=known, cache=cache):  # type: ignore[no-untyped-def]
            if utt.id not in cache:
                cache[utt.id] = SoundsAlikeRespeller(utt.hotwords, known=w, min_key=k, max_span=n)
            return cache[utt.id]

        name = f"respelled, known {int(bool(known))}, min_key {min_key}, max_span {max_span}"
        e, c, notes = score(make)  # type: ignore[arg-type]
        print(row(name, e, c))
        shown += [f"{name}:", *notes]
    if args.show:
        print("\n".join(shown))


if __name__ == "__main__":
    main()
