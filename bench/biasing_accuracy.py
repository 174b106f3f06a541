"""Accuracy benchmark for hotword biasing: none / prompt-only / hotasr (biased decoding).

English: LibriSpeech subset (68 utts) with the Le et al. biasing lists, N=100 (given) and N=500
(the utterance's rare words + random distractors from all_rare_words.txt, seed 0).
WER / U-WER / B-WER as in Le et al. 2021: words of the reference that are in the utterance's biasing
list count as B, the rest as U; an inserted word counts as B when it is in the biasing list.
Chinese: AISHELL sample S0252, hotwords = the command-style items (see `aishell_terms`), hotword
recall / precision and CER.

    .venv/bin/python bench/biasing_accuracy.py --modes none,prompt,hotasr --n 100,500 [--limit 20]
    .venv/bin/python bench/biasing_accuracy.py --zh --modes none,hotasr --limit 60
Raw hypotheses go to bench/out/.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

from hotasr.biasing import compile_hotwords
from hotasr.engine.faster_whisper_adapter import biased_pass
from hotasr.hotwords import Hotword

DATA = Path("/work/shared/data")
LS = DATA / "librispeech_test_subset"
RARE = DATA / "librispeech_biasing/words/all_rare_words.txt"
AISHELL = DATA / "aishell_sample_S0252/wav"
OUT = Path(__file__).parent / "out"


def norm_en(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def align(ref: list[str], hyp: list[str]) -> list[tuple[str | None, str | None]]:
    """Levenshtein alignment as (ref word | None, hyp word | None) pairs."""
    n, m = len(ref), len(hyp)
    d = np.zeros((n + 1, m + 1), np.int32)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]))
    out: list[tuple[str | None, str | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            out.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            out.append((ref[i - 1], None))
            i -= 1
        else:
            out.append((None, hyp[j - 1]))
            j -= 1
    return out[::-1]


def score_en(rows: list[tuple[list[str], list[str], set[str]]]) -> dict[str, float]:
    err = {"u": 0, "b": 0}
    cnt = {"u": 0, "b": 0}
    for ref, hyp, bias in rows:
        for r, h in align(ref, hyp):
            if r is None:
                err["b" if h in bias else "u"] += 1
                continue
            cat = "b" if r in bias else "u"
            cnt[cat] += 1
            err[cat] += r != h
    tot = max(cnt["u"] + cnt["b"], 1)
    return {
        "WER": 100 * (err["u"] + err["b"]) / tot,
        "U-WER": 100 * err["u"] / max(cnt["u"], 1),
        "B-WER": 100 * err["b"] / max(cnt["b"], 1),
    }


def load_ls() -> list[dict]:
    items = []
    for split in ("test-clean", "test-other"):
        d = LS / split
        files = dict(line.split("\t") for line in (d / "wav.scp").read_text().splitlines() if line)
        for line in (d / "biasing_100.tsv").read_text().splitlines():
            uid, ref, rare, bias = line.split("\t")
            items.append(
                {
                    "id": uid,
                    "path": str(d / files[uid].strip()),
                    "ref": ref,
                    "rare": json.loads(rare),
                    "bias100": json.loads(bias),
                }
            )
    return items


def bias_list(item: dict, n: int, pool: list[str]) -> list[str]:
    if n == 100:
        return item["bias100"]
    rng = random.Random(f"{item['id']}-{n}")  # fixed seed per utterance
    words = list(dict.fromkeys(item["rare"]))
    taken = set(words)
    for w in rng.sample(pool, n * 2):
        if len(words) >= n:
            break
        if w not in taken:
            taken.add(w)
            words.append(w)
    return sorted(words)


def run_en(args: argparse.Namespace, wm: WhisperModel) -> None:
    items = load_ls()
    if args.limit:
        items = items[: args.limit] if args.limit > 0 else items
    pool = [w for w in RARE.read_text().split() if w]
    results: dict[str, dict] = {}
    for n in args.n:
        for mode in args.modes:
            if mode in ("none", "hotasr0") and n != args.n[0]:
                results[f"{mode}@{n}"] = results[f"{mode}@{args.n[0]}"]
                continue
            rows = []
            hyps = {}
            t_audio = t_proc = t_compile = 0.0
            for it in items:
                audio = decode_audio(it["path"])
                t_audio += len(audio) / 16000
                words = bias_list(it, n, pool)
                t0 = time.time()
                kw: dict = {"language": "en", "beam_size": 5}
                model = wm
                if mode == "prompt":
                    kw["initial_prompt"] = ", ".join(words)
                elif mode in ("hotasr", "hotasr0"):  # hotasr0: same decoder, empty list
                    tc = time.time()
                    graph = compile_hotwords(
                        [Hotword(w, args.weight) for w in words] if mode == "hotasr" else [],
                        wm.hf_tokenizer,
                        multilingual=True,
                    )
                    t_compile += time.time() - tc
                    model = biased_pass(wm, graph, model_dir=str(args.model))
                segs, _ = model.transcribe(audio, **kw)
                text = " ".join(s.text.strip() for s in segs)
                t_proc += time.time() - t0
                hyps[it["id"]] = text
                rows.append((norm_en(it["ref"]), norm_en(text), set(words)))
            sc = score_en(rows)
            sc["RTF"] = t_proc / t_audio
            sc["compile_ms_per_list"] = 1000 * t_compile / len(items)
            results[f"{mode}@{n}"] = sc
            print(
                f"N={n:<4} {mode:<7} "
                + "  ".join(f"{k} {v:.3f}" if k == "RTF" else f"{k} {v:.1f}" for k, v in sc.items()),
                flush=True,
            )
            (OUT / f"en_{mode}_{n}_{args.tag}.json").write_text(json.dumps(hyps, indent=1))
    (OUT / f"en_summary_{args.tag}.json").write_text(json.dumps(results, indent=1))


def aishell_terms(refs: dict[str, str]) -> list[str]:
    """Hotwords for the AISHELL sample: the command-style items W0001-W0120 that are names
    (not digit strings), with an "打开" prefix removed and bracketed branch names dropped."""
    terms: list[str] = []
    for uid, text in sorted(refs.items()):
        if int(uid[-4:]) > 120:
            continue
        t = re.sub(r"[（(].*?[)）]", "", text.lstrip("\ufeff"))
        t = t.lstrip("嗯呃").removeprefix("打开")
        if "温度" in t:  # fridge commands, not names
            continue
        if not t or re.fullmatch(r"[零一二三四五六七八九幺]+", t) or not re.search(r"[\u4e00-\u9fff]", t):
            continue
        if 2 <= len(t) <= 15 and t not in terms:
            terms.append(t)
    return terms


def run_zh(args: argparse.Namespace, wm: WhisperModel) -> None:
    import zhconv

    refs = dict(line.split("\t") for line in (AISHELL / "text.tsv").read_text().splitlines() if line)
    terms = aishell_terms(refs)
    ids = sorted(refs)
    if args.limit:
        # Half command items (hotword carriers), half news sentences (false-alarm check).
        ids = ids[: args.limit // 2] + ids[120 : 120 + args.limit - args.limit // 2]
    print(f"AISHELL: {len(terms)} hotwords, {len(ids)} utts")
    for mode in args.modes:
        tp = fn = fp = 0
        ed = nref = 0
        t_proc = t_audio = 0.0
        hyps = {}
        graph = compile_hotwords([Hotword(t, args.weight) for t in terms], wm.hf_tokenizer, multilingual=True)
        for uid in ids:
            audio = decode_audio(str(AISHELL / f"{uid}.wav"))
            t_audio += len(audio) / 16000
            t0 = time.time()
            kw: dict = {"language": "zh", "beam_size": 5}
            model = wm
            if mode == "prompt":
                kw["initial_prompt"] = "，".join(terms)
            elif mode == "hotasr":
                model = biased_pass(wm, graph, model_dir=str(args.model))
            segs, _ = model.transcribe(audio, **kw)
            hyp = zhconv.convert("".join(s.text for s in segs), "zh-cn")
            hyp = re.sub(r"[\s，。！？、,.!?：:；;\"“”]", "", hyp)
            t_proc += time.time() - t0
            ref = refs[uid]
            hyps[uid] = hyp
            for t in terms:
                in_ref, in_hyp = t in ref, t in hyp
                tp += in_ref and in_hyp
                fn += in_ref and not in_hyp
                fp += in_hyp and not in_ref
            r, h = list(ref), list(hyp)
            ed += sum(a != b for a, b in align(r, h))
            nref += len(r)
        rec = tp / max(tp + fn, 1)
        prec = tp / max(tp + fp, 1)
        print(
            f"zh {mode:<7} recall {100 * rec:.1f}  precision {100 * prec:.1f}  CER {100 * ed / nref:.1f}  "
            f"RTF {t_proc / t_audio:.3f}",
            flush=True,
        )
        (OUT / f"zh_{mode}_{args.tag}.json").write_text(json.dumps(hyps, ensure_ascii=False, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="var/models/whisper-base")
    ap.add_argument("--modes", default="none,prompt,hotasr")
    ap.add_argument("--n", default="100,500")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--weight", type=int, default=4)
    ap.add_argument("--zh", action="store_true")
    ap.add_argument("--tag", default="run")
    # "default" = what WhisperModel does by default (float32 on a CPU for these fp16 models), so
    # "none" and "hotasr" differ only by the biasing (our decoder follows the compute type).
    ap.add_argument("--compute-type", default="default")
    args = ap.parse_args()
    args.modes = args.modes.split(",")
    args.n = [int(x) for x in args.n.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    wm = WhisperModel(args.model, device="cpu", compute_type=args.compute_type, cpu_threads=2)
    if args.zh:
        run_zh(args, wm)
    else:
        run_en(args, wm)


if __name__ == "__main__":
    main()
