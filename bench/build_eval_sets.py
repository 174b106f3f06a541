"""Build the committed evaluation manifests under bench/sets/ (run once; outputs are committed).

    .venv/bin/pip install -e ".[bench]"     # jieba==0.42.1, only this script needs it (AISHELL rule (c))
    .venv/bin/python bench/build_eval_sets.py [--shared /work/shared/data] [--out bench/sets]

Audio paths are written relative to the repo root as `../shared/data/...` (the shared data sits
beside the checkout); `hotasr.evaluation.manifest` resolves them against the project root, the
current directory, or `$HOTASR_SHARED_DIR` (which replaces the `../shared/` prefix).

Sets (the rules are repeated in bench/sets/README.md):

* librispeech_n100.jsonl: the 68 LibriSpeech test utterances we have audio for
  (librispeech_test_subset/{test-clean,test-other}). Hotwords = Le et al.'s N=100 biasing list for
  the utterance (column 4 of biasing_100.tsv: the reference's rare words + 100 distractors), all at
  weight 4 (strong but below DashScope's maximum 5, which is meant for terms that must win).
  biasing_words = column 3 (the rare words of the reference), as the benchmark scores them.
* librispeech_n500.jsonl: same utterances, the benchmark's protocol at N=500: the rare words of the
  reference + distractors sampled from words/all_rare_words.txt, excluding every word of the
  reference, seeded per utterance (`random.Random(f"{SEED}:{uttid}")`). One deviation: the list is
  capped at 500 terms in total (rare words + 500 - #rare distractors) because a DashScope hotword
  list holds at most 500 terms.
* aishell_s0252_n100.jsonl (default bench set, 100 utterances), aishell_s0252_n300.jsonl (same
  utterances, 300-term lists), aishell_s0252_all_n100.jsonl (all 500 utterances,
  100-term lists; only with --all-aishell, not committed).
  The per-utterance list is the reference's named terms + distractors, `N` terms in total.
  Named terms of a reference (after stripping a leading BOM and the fillers 嗯/呃), union of:
    (a) every term of aishell1_ne_hotwords/{test,dev}/hotword.txt that occurs in the normalised
        reference (longest match first, no overlaps);
    (b) items W0001-W0120 (command-style): "打开X" -> X; an item that is only Chinese digits (an
        8-digit string) or contains "设为" (an appliance command) -> nothing; anything else is a
        POI / TV name: "name(branch)" -> name and branch, else the whole item;
    (c) items W0121-W0500 (news): words that jieba 0.42.1 (posseg, HMM on) tags as a name
        (nr, nrfg, nrt, ns, nt, nz), at least 2 characters, and that are NOT in jieba's own
        dictionary: a proper noun the dictionary does not know is a rare one, which is what hotwords
        are for (common names like 北京 are left to the model; dictionary-tagged "names" were too
        noisy: 城市, 东西, 明星 ...).
  Every term is NFKC-normalised (full-width -> half-width), must have 2+ characters and pass the
  DashScope term rules (non-ASCII terms at most 15 characters); longer ones are dropped.
  Distractors: sampled (seed per utterance) from the 991 distinct terms of the two aishell1_ne
  hotword lists, excluding the utterance's named terms. biasing_words = the named terms.
  The 100-utterance subset: up to 60 utterances with named terms plus the rest without (so both
  B-CER and false alarms on term-free speech are measured), sampled with the fixed seed, in id order.

Dev sets with a tuning half and a checking half (issue #21: choose a constant on one half, report
the other):

* en_{tune,check}_n{100,500}.jsonl: every English utterance with a full reference: the 68
  LibriSpeech ones (their lists above, verbatim), the 32 of ljspeech_sample and the 12 of en_misc
  (all but the keyword-only clip). For the new ones the benchmark's protocol: rare words = words of
  the normalised reference (hotasr.evaluation.scoring.normalize_en) outside words/common_words_5k.txt
  that are valid terms; N=100: rare words + 100 distractors (`random.Random(f"{SEED}:{uid}:100")`),
  N=500: 500 terms in total (`random.Random(f"{SEED}:{uid}")`, as librispeech_n500), distractors
  drawn from words/all_rare_words.txt excluding every word of the reference.
  Split by voice where there is more than one: groups = LibriSpeech speakers, en_misc sources
  (the Sense and Sensibility reader, the cards speaker, jfk, english) and, LJ Speech being a single
  reader, its recordings one by one. Within each corpus (test-clean, test-other, LJ Speech,
  en_misc) the groups, sorted, are shuffled with `random.Random(f"{SEED}:{corpus}")` and each goes
  in turn to the half with fewer of that corpus's utterances so far (the tuning half on a tie).
* aishell_s0252_{tune,check}_n100.jsonl: all 500 S0252 utterances with 100-term lists drawn exactly
  as aishell_s0252_n100's. One speaker, so the split is by utterance: the checking half holds no
  utterance of aishell_s0252_n100 (the set earlier constants were chosen on): every other utterance
  with named terms plus utterances without, drawn with `random.Random(f"{SEED}:check")` up to 250;
  the tuning half is the rest (aishell_s0252_n100's 100 included).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hotasr.evaluation.scoring import count_terms, normalize_en, normalize_zh
from hotasr.hotwords import normalize_text, text_rule_violation

SEED = 20210409  # the benchmark snapshot date; any fixed value would do
EN_WEIGHT = 4
ZH_WEIGHT = 4
REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_LIST = 500  # DashScope: at most 500 terms per list
SUBSET_SIZE = 100
SUBSET_WITH_TERMS = 60
EN_DISTRACTORS = 100  # Le et al.'s N=100: the rare words + 100 distractors
HALF = ("tune", "check")

_FILLERS = re.compile(r"^[\ufeff嗯呃]+")
_ZH_DIGIT_STRING = re.compile(r"^[零一二三四五六七八九幺]+$")
_POI = re.compile(r"^(?P<name>[^()]+)\((?P<branch>[^()]+)\)$")
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt", "ns", "nt", "nz"})


def rel(path: Path, shared: Path) -> str:
    """`../shared/data/...` when the file is under the shared data dir beside the repo, else absolute."""
    try:
        return "../shared/data/" + path.resolve().relative_to(shared.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({len(rows)} utterances)")


def clean_term(text: str) -> str | None:
    """NFKC + whitespace folding; None unless it is a valid hotword of 2+ characters."""
    term = normalize_text(unicodedata.normalize("NFKC", text))
    if len(term) < 2 or text_rule_violation(term):
        return None
    return term


# ---------------------------------------------------------------------------------------------
# LibriSpeech
# ---------------------------------------------------------------------------------------------


def librispeech_rows(shared: Path) -> list[tuple[str, Path, str, list[str], list[str], set[str]]]:
    rows = []
    for split in ("test-clean", "test-other"):
        base = shared / "librispeech_test_subset" / split
        audio = dict(line.rstrip("\n").split("\t") for line in (base / "wav.scp").open(encoding="utf-8"))
        for line in (base / "biasing_100.tsv").open(encoding="utf-8"):
            uid, ref, rare, biasing = line.rstrip("\n").split("\t")
            rows.append((uid, base / audio[uid], ref, json.loads(rare), json.loads(biasing), set(ref.split())))
    return rows


def rare_word_pool(shared: Path) -> list[str]:
    pool_path = shared / "librispeech_biasing" / "words" / "all_rare_words.txt"
    return [w for w in pool_path.read_text(encoding="utf-8").split() if clean_term(w) == w]


def draw_distractors(rng: random.Random, pool: Sequence[str], count: int, exclude: set[str]) -> list[str]:
    """`count` distinct words of `pool` outside `exclude`, in the order drawn (with replacement,
    repeats skipped: the draw librispeech_n500 was built with)."""
    chosen: list[str] = []
    seen = set(exclude)
    while len(chosen) < count:
        word = pool[rng.randrange(len(pool))]
        if word not in seen:
            seen.add(word)
            chosen.append(word)
    return chosen


def en_row(uid: str, audio: str, ref: str, rare: list[str], words: list[str]) -> dict[str, Any]:
    return {
        "id": uid,
        "audio": audio,
        "reference": ref,
        "language": "en",
        "hotwords": [{"text": w, "weight": EN_WEIGHT} for w in words],
        "biasing_words": rare,
    }


def build_librispeech(shared: Path, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = librispeech_rows(shared)
    n100 = [en_row(uid, rel(audio, shared), ref, rare, biasing) for uid, audio, ref, rare, biasing, _ in rows]
    write_jsonl(out / "librispeech_n100.jsonl", n100)

    pool = rare_word_pool(shared)
    n500 = []
    for uid, audio, ref, rare, _, ref_words in rows:
        chosen = draw_distractors(random.Random(f"{SEED}:{uid}"), pool, MAX_LIST - len(rare), set(rare) | ref_words)
        n500.append(en_row(uid, rel(audio, shared), ref, rare, sorted(rare + chosen)))
    write_jsonl(out / "librispeech_n500.jsonl", n500)
    return n100, n500


# ---------------------------------------------------------------------------------------------
# English dev sets: LibriSpeech + LJ Speech + en_misc, a tuning and a checking half
# ---------------------------------------------------------------------------------------------


def other_english(shared: Path) -> list[tuple[str, str, Path, str, str]]:
    """(corpus, group, audio, id, reference) of the LJ Speech and en_misc recordings with a reference."""
    items = []
    lj = shared / "ljspeech_sample"
    audio = dict(line.rstrip("\n").split("\t") for line in (lj / "wav.scp").open(encoding="utf-8"))
    for line in (lj / "text.tsv").open(encoding="utf-8"):
        uid, text = line.rstrip("\n").split("\t")
        items.append(("ljspeech", uid, lj / audio[uid], uid, text))  # one reader: split by recording
    misc = shared / "en_misc"
    audio = dict(line.rstrip("\n").split("\t") for line in (misc / "wav.scp").open(encoding="utf-8"))
    for line in (misc / "text.tsv").open(encoding="utf-8"):
        uid, text = line.rstrip("\n").split("\t")
        group = uid.split("_0")[0] if uid.startswith(("sense_and_sensibility", "cards")) else uid
        items.append(("en_misc", group, misc / audio[uid], uid, text))
    return items


def en_rare_words(reference: str, common: set[str]) -> list[str]:
    """The benchmark's rare words of a reference: its words outside the 5,000 common ones."""
    rare: list[str] = []
    for word in normalize_en(reference):
        if word not in common and clean_term(word) == word and word not in rare:
            rare.append(word)
    return rare


def split_groups(groups: dict[str, dict[str, int]]) -> dict[str, str]:
    """{corpus: {group: utterances}} -> {group: "tune" | "check"}: per corpus, the groups sorted and
    shuffled with the seed, each to the half with fewer of the corpus's utterances (tune on a tie)."""
    half_of: dict[str, str] = {}
    for corpus in sorted(groups):
        names = sorted(groups[corpus])
        random.Random(f"{SEED}:{corpus}").shuffle(names)
        sizes = dict.fromkeys(HALF, 0)
        for name in names:
            half = "tune" if sizes["tune"] <= sizes["check"] else "check"
            half_of[name] = half
            sizes[half] += groups[corpus][name]
    return half_of


def build_english_dev(
    shared: Path, out: Path, ls_n100: list[dict[str, Any]], ls_n500: list[dict[str, Any]]
) -> None:
    common = set((shared / "librispeech_biasing" / "words" / "common_words_5k.txt").read_text(encoding="utf-8").split())
    pool = rare_word_pool(shared)
    rows100 = list(ls_n100)
    rows500 = list(ls_n500)
    groups: dict[str, dict[str, int]] = {}
    group_of: dict[str, str] = {}
    for row in ls_n100:
        corpus = "test-clean" if "/test-clean/" in row["audio"] else "test-other"
        speaker = "librispeech-" + row["id"].split("-")[0]
        group_of[row["id"]] = speaker
        groups.setdefault(corpus, {}).setdefault(speaker, 0)
        groups[corpus][speaker] += 1
    for corpus, group, audio, uid, ref in other_english(shared):
        rare = en_rare_words(ref, common)
        ref_words = set(normalize_en(ref))
        exclude = set(rare) | ref_words
        d100 = draw_distractors(random.Random(f"{SEED}:{uid}:{EN_DISTRACTORS}"), pool, EN_DISTRACTORS, exclude)
        d500 = draw_distractors(random.Random(f"{SEED}:{uid}"), pool, MAX_LIST - len(rare), exclude)
        rows100.append(en_row(uid, rel(audio, shared), ref, rare, sorted(rare + d100)))
        rows500.append(en_row(uid, rel(audio, shared), ref, rare, sorted(rare + d500)))
        group_of[uid] = f"{corpus}-{group}"
        groups.setdefault(corpus, {}).setdefault(group_of[uid], 0)
        groups[corpus][group_of[uid]] += 1
    half_of = split_groups(groups)
    for half in HALF:
        for size, rows in ((100, rows100), (500, rows500)):
            write_jsonl(out / f"en_{half}_n{size}.jsonl", [r for r in rows if half_of[group_of[r["id"]]] == half])
    for half in HALF:
        print(f"  {half}: " + ", ".join(sorted(g for g, h in half_of.items() if h == half)))


# ---------------------------------------------------------------------------------------------
# AISHELL S0252
# ---------------------------------------------------------------------------------------------


def load_ne_pool(shared: Path) -> list[str]:
    pool: list[str] = []
    seen: set[str] = set()
    for split in ("test", "dev"):
        path = shared / "aishell1_ne_hotwords" / split / "hotword.txt"
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            term = clean_term(line)
            if term and term.casefold() not in seen:
                seen.add(term.casefold())
                pool.append(term)
    return pool


def command_terms(text: str) -> list[str]:
    """Rule (b) for W0001-W0120."""
    item = text.strip()
    if not item or _ZH_DIGIT_STRING.match(item) or "设为" in item:
        return []
    if item.startswith("打开"):
        return [item[2:]]
    match = _POI.match(unicodedata.normalize("NFKC", item))
    if match:
        return [match["name"], match["branch"]]
    return [item]


def news_terms(text: str) -> list[str]:
    """Rule (c) for W0121-W0500."""
    import logging

    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return [
        p.word for p in pseg.cut(text) if p.flag in _NAME_TAGS and len(p.word) >= 2 and not jieba.dt.FREQ.get(p.word)
    ]


def named_terms(uid: str, text: str, pool_tokens: dict[tuple[str, ...], str]) -> list[str]:
    item = _FILLERS.sub("", text)
    found = count_terms(normalize_zh(item), pool_tokens)
    candidates = [pool_tokens[t] for t in found]  # rule (a)
    number = int(uid[-4:])
    candidates += command_terms(item) if number <= 120 else news_terms(item)
    terms: list[str] = []
    for raw in candidates:
        term = clean_term(raw)
        if term and term.casefold() not in {t.casefold() for t in terms}:
            terms.append(term)
    return terms


def build_aishell(shared: Path, out: Path, all_utterances: bool = False) -> None:
    base = shared / "aishell_sample_S0252" / "wav"
    pool = load_ne_pool(shared)
    pool_tokens = {tuple(normalize_zh(t)): t for t in pool}
    audio = dict(line.rstrip("\n").split("\t") for line in (base / "wav.scp").open(encoding="utf-8-sig"))
    items = []
    for line in (base / "text.tsv").open(encoding="utf-8-sig"):
        uid, text = line.rstrip("\n").split("\t")
        items.append((uid, text.lstrip("\ufeff"), named_terms(uid, text, pool_tokens)))

    def rows(size: int, subset: Sequence[tuple[str, str, list[str]]]) -> list[dict[str, Any]]:
        result = []
        for uid, text, terms in subset:
            rng = random.Random(f"{SEED}:{uid}:{size}")
            own = {t.casefold() for t in terms}
            candidates = [t for t in pool if t.casefold() not in own]
            distractors = rng.sample(candidates, size - len(terms))
            result.append(
                {
                    "id": uid,
                    "audio": rel(base / audio[uid], shared),
                    "reference": text,
                    "language": "zh",
                    "hotwords": [{"text": t, "weight": ZH_WEIGHT} for t in sorted(terms + distractors)],
                    "biasing_words": terms,
                }
            )
        return result

    rng = random.Random(SEED)
    with_terms = [it for it in items if it[2]]
    without = [it for it in items if not it[2]]
    picked = rng.sample(with_terms, min(SUBSET_WITH_TERMS, len(with_terms)))
    picked += rng.sample(without, SUBSET_SIZE - len(picked))
    subset = sorted(picked)
    print(f"AISHELL: {len(with_terms)}/{len(items)} utterances have named terms")
    write_jsonl(out / "aishell_s0252_n100.jsonl", rows(100, subset))
    write_jsonl(out / "aishell_s0252_n300.jsonl", rows(300, subset))
    if all_utterances:  # 2 MB; not committed, build it when you want the whole sample
        write_jsonl(out / "aishell_s0252_all_n100.jsonl", rows(100, items))

    # The dev halves: the checking half keeps clear of the 100 utterances above.
    chosen = {it[0] for it in subset}
    rest = [it for it in items if it[0] not in chosen]
    check = [it for it in rest if it[2]]
    rest_without = [it for it in rest if not it[2]]
    check += random.Random(f"{SEED}:check").sample(rest_without, len(items) // 2 - len(check))
    check_ids = {it[0] for it in check}
    all_rows = rows(100, items)
    for half in HALF:
        half_rows = [r for r in all_rows if (r["id"] in check_ids) == (half == "check")]
        named = sum(1 for r in half_rows if r["biasing_words"])
        print(f"  {half}: {named} of {len(half_rows)} utterances have named terms")
        write_jsonl(out / f"aishell_s0252_{half}_n100.jsonl", half_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "sets")
    parser.add_argument("--all-aishell", action="store_true", help="also write aishell_s0252_all_n100.jsonl")
    args = parser.parse_args()
    ls_n100, ls_n500 = build_librispeech(args.shared, args.out)
    build_english_dev(args.shared, args.out, ls_n100, ls_n500)
    build_aishell(args.shared, args.out, args.all_aishell)


if __name__ == "__main__":
    main()
