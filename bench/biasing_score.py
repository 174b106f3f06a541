"""Re-score saved hypotheses (bench/out/en_<mode>_<n>_<tag>.json): WER / U-WER / B-WER."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, "bench")
from biasing_accuracy import OUT, RARE, bias_list, load_ls, norm_en, score_en

items = {it["id"]: it for it in load_ls()}
pool = [w for w in RARE.read_text().split() if w]
for path in sys.argv[1:] or sorted(str(p) for p in OUT.glob("en_*_*_*.json")):
    name = Path(path).stem
    if name.startswith("en_summary"):
        continue
    n = int(name.split("_")[2])
    hyps = json.loads(Path(path).read_text())
    rows = [(norm_en(items[k]["ref"]), norm_en(v), set(bias_list(items[k], n, pool))) for k, v in hyps.items()]
    sc = score_en(rows)
    print(f"{name:<28} utts {len(rows):>3}  " + "  ".join(f"{k} {v:.1f}" for k, v in sc.items()))
