"""`hotasr eval` with the per-token hotword bonus scaled: how the bonus factors were chosen.

    python bench/bonus_factor.py --latin 1.25 bench/sets/en_tune_n100.jsonl --out bench/out/bonus_en_tune_n100
    python bench/bonus_factor.py --cjk 1.25 bench/sets/aishell_s0252_tune_n100.jsonl --out bench/out/bonus_zh_tune

`--latin` replaces `LATIN_BONUS_FACTOR` (terms in Latin letters); `--cjk` scales `TOKEN_BONUS`, which
terms with CJK characters earn as it is (and Latin terms times their factor). Decodes in mode
`hotasr` only: no list reaches a `none` decode, so its rows do not move (BENCHMARKS.md §1.5).
"""

from __future__ import annotations

import argparse
import sys

from hotasr.biasing import graph
from hotasr.cli import main as hotasr_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("--out", required=True)
    parser.add_argument("--latin", type=float, default=graph.LATIN_BONUS_FACTOR)
    parser.add_argument("--cjk", type=float, default=1.0)
    args = parser.parse_args()
    graph.LATIN_BONUS_FACTOR = args.latin
    for weight in graph.TOKEN_BONUS:
        graph.TOKEN_BONUS[weight] *= args.cjk
    sys.argv = ["hotasr", "eval", args.manifest, "--modes", "hotasr", "--out", args.out]
    hotasr_main()


if __name__ == "__main__":
    main()
