"""Scoring: WER / U-WER / B-WER (Le et al., Interspeech 2021), CER / B-CER, hotword recall/precision.

Definitions follow the scorer that ships with the LibriSpeech biasing benchmark
(facebookresearch/fbai-speech, `is21_deep_bias/score.py`) and are checked against its published
result files by `tests/test_scoring.py`:

* Alignment: Levenshtein with backtrace, costs match 0, insertion 3, deletion 3, substitution 4
  (a substitution is cheaper than insertion + deletion but dearer than either alone). Ties keep
  the diagonal move first, then an insertion, then a deletion (a later move wins only if strictly
  cheaper). The tie rule matters: it decides how errors split into sub/ins/del and which reference
  word an error is charged to, and the published numbers depend on it.
* A reference token is *biased* when it is one of the utterance's biasing words (upstream: the rare
  words of the reference). Matches, substitutions and deletions are charged to B-WER when the
  reference token is biased, otherwise to U-WER.
* An insertion is charged to B-WER when the inserted hypothesis token is a biasing word and to U-WER
  otherwise. On the upstream files every insertion lands in U-WER (no system inserts a rare word of
  the reference), which is what "all insertions count in U-WER" in the issue observes.
* Rates are percentages: 100 * (subs + ins + dels) / ref_words, exactly as upstream prints them.

Multi-token biasing terms (a phrase like "because of you", or any Chinese term scored by characters)
generalise the single-word rule: a token is biased when it lies inside an occurrence of a biasing
term in its own sequence (ref tokens for sub/del/match, hyp tokens for insertions). For single-word
terms this is exactly upstream's set-membership test.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Literal

import zhconv

from hotasr.chinese import HAN

Language = Literal["en", "zh"]

# Upstream costs (score.py `EditDistance.cost`).
_COST_SUB, _COST_INS, _COST_DEL = 4, 3, 3
# Backtrace codes stored per cell.
_DIAG, _INS, _DEL = 0, 1, 2


class Op(Enum):
    MATCH = "match"
    SUB = "sub"
    INS = "ins"
    DEL = "del"


@dataclass(frozen=True, slots=True)
class Step:
    """One alignment step; `ref`/`hyp` are token indices, -1 where the step has no token there."""

    op: Op
    ref: int
    hyp: int


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[Step]:
    """Align `hyp` to `ref` with upstream's costs and tie-breaking (see module docstring)."""
    n, m = len(ref), len(hyp)
    # Row-by-row DP; only the previous score row is kept, the backtrace is kept whole (bytes are cheap).
    prev = [j * _COST_INS for j in range(m + 1)]
    back: list[bytearray] = [bytearray([_INS]) * (m + 1)]
    for i in range(1, n + 1):
        r = ref[i - 1]
        cur = [0] * (m + 1)
        cur[0] = prev[0] + _COST_DEL
        row = bytearray(m + 1)
        row[0] = _DEL
        left = cur[0]
        for j in range(1, m + 1):
            best = prev[j - 1] + (0 if r == hyp[j - 1] else _COST_SUB)
            move = _DIAG
            ins = left + _COST_INS
            if ins < best:
                best, move = ins, _INS
            dele = prev[j] + _COST_DEL
            if dele < best:
                best, move = dele, _DEL
            cur[j] = best
            row[j] = move
            left = best
        back.append(row)
        prev = cur

    steps: list[Step] = []
    i, j = n, m
    while i or j:
        move = back[i][j] if i else _INS
        if move == _DIAG:
            i, j = i - 1, j - 1
            steps.append(Step(Op.MATCH if ref[i] == hyp[j] else Op.SUB, i, j))
        elif move == _INS:
            j -= 1
            steps.append(Step(Op.INS, -1, j))
        else:
            i -= 1
            steps.append(Step(Op.DEL, i, -1))
    steps.reverse()
    return steps


@dataclass(slots=True)
class ErrorCounts:
    """Counts behind one error rate (WER, U-WER, B-WER, CER, B-CER)."""

    ref_words: int = 0
    subs: int = 0
    ins: int = 0
    dels: int = 0

    @property
    def errors(self) -> int:
        return self.subs + self.ins + self.dels

    @property
    def error_rate(self) -> float | None:
        """Percent, computed as upstream does (`100.0 * errors / ref_words`); None with no ref words."""
        if self.ref_words == 0:
            return None
        return 100.0 * self.errors / self.ref_words

    def __iadd__(self, other: ErrorCounts) -> ErrorCounts:
        self.ref_words += other.ref_words
        self.subs += other.subs
        self.ins += other.ins
        self.dels += other.dels
        return self

    def result_string(self) -> str:
        """The text upstream score.py prints after "WER: " (same float formatting)."""
        return (
            f"error_rate={self.error_rate}, ref_words={self.ref_words}, "
            f"subs={self.subs}, ins={self.ins}, dels={self.dels}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors, "error_rate": self.error_rate}


@dataclass(slots=True)
class BiasedErrors:
    """Overall, unbiased and biased error counts (WER, U-WER, B-WER; or CER, U-CER, B-CER)."""

    overall: ErrorCounts = field(default_factory=ErrorCounts)
    unbiased: ErrorCounts = field(default_factory=ErrorCounts)
    biased: ErrorCounts = field(default_factory=ErrorCounts)

    def __iadd__(self, other: BiasedErrors) -> BiasedErrors:
        self.overall += other.overall
        self.unbiased += other.unbiased
        self.biased += other.biased
        return self

    def result_text(self) -> str:
        """Three lines in upstream's format (used to compare with its `.result` files)."""
        return (
            f"WER: {self.overall.result_string()}\n"
            f"U-WER: {self.unbiased.result_string()}\n"
            f"B-WER: {self.biased.result_string()}\n"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "unbiased": self.unbiased.to_dict(),
            "biased": self.biased.to_dict(),
        }


def biased_mask(tokens: Sequence[str], terms: Iterable[Sequence[str]]) -> list[bool]:
    """Mark every token that lies inside an occurrence of any term (a term = a token sequence)."""
    mask = [False] * len(tokens)
    single = set()
    multi: list[tuple[str, ...]] = []
    for term in terms:
        term = tuple(term)
        if len(term) == 1:
            single.add(term[0])
        elif term:
            multi.append(term)
    for k, tok in enumerate(tokens):
        if tok in single:
            mask[k] = True
    for term in multi:
        size = len(term)
        for start in range(len(tokens) - size + 1):
            if tuple(tokens[start : start + size]) == term:
                for k in range(start, start + size):
                    mask[k] = True
    return mask


def score_tokens(ref: Sequence[str], hyp: Sequence[str], biasing_terms: Iterable[Sequence[str]] = ()) -> BiasedErrors:
    """Score one utterance given already normalised tokens and tokenised biasing terms."""
    terms = [tuple(t) for t in biasing_terms]
    ref_biased = biased_mask(ref, terms)
    hyp_biased = biased_mask(hyp, terms)
    out = BiasedErrors()
    if not ref and not hyp:
        return out
    for step in align(ref, hyp):
        if step.op is Op.INS:
            out.overall.ins += 1
            (out.biased if hyp_biased[step.hyp] else out.unbiased).ins += 1
            continue
        part = out.biased if ref_biased[step.ref] else out.unbiased
        for counts in (out.overall, part):
            counts.ref_words += 1
            if step.op is Op.SUB:
                counts.subs += 1
            elif step.op is Op.DEL:
                counts.dels += 1
    return out


# ---------------------------------------------------------------------------------------------
# Normalisation and tokenisation
# ---------------------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# LibriSpeech spells these out; Whisper writes the abbreviation.
_EN_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
_EN_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _en_number(n: int) -> str:
    """Cardinal words for 0..999 the LibriSpeech way ("one hundred twenty one", hyphens as spaces)."""
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _EN_TENS[tens] + (f" {_EN_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_EN_ONES[hundreds]} hundred" + (f" {_en_number(rest)}" if rest else "")


def _en_token(token: str) -> list[str]:
    # Apostrophes are part of words ("banti's", "don't"), but a quote mark around a word is not.
    token = token.strip("'")
    if not token:
        return []
    if token in _EN_ABBREVIATIONS:
        return [_EN_ABBREVIATIONS[token]]
    if token.isdigit() and len(token) <= 3:
        return _en_number(int(token)).split()
    return [token]


def normalize_en(text: str) -> list[str]:
    """English words, LibriSpeech style: lower-case, punctuation removed except in-word apostrophes.

    What it does for Whisper output (and nothing more, so the rule stays predictable):
    NFKC; curly apostrophes -> "'"; lower-case; "," between digits dropped ("1,000" -> "1000");
    every other non-letter/digit/apostrophe character -> space (so "twenty-one" -> "twenty one");
    quote marks at word edges dropped; "mr"/"mrs"/"dr" -> "mister"/"missus"/"doctor"; integers of
    1-3 digits -> words ("21" -> "twenty one"). Longer numbers, ordinals, years, currency stay
    digits and count as errors against LibriSpeech references; that costs every biasing mode
    the same, so mode-to-mode comparisons are unaffected.
    """
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"[^\w']+|_", " ", text)
    tokens: list[str] = []
    for raw in text.split():
        tokens.extend(_en_token(raw))
    return tokens


_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = ((10**8, "亿"), (10**4, "万"), (1000, "千"), (100, "百"), (10, "十"))


def _zh_cardinal(n: int) -> str:
    """Chinese cardinal reading ("300" -> "三百", "15" -> "十五", "105" -> "一百零五")."""
    if n < 10:
        return _ZH_DIGITS[n]
    for value, unit in _ZH_UNITS:
        if n >= value:
            high, rest = divmod(n, value)
            head = ("" if value == 10 and high == 1 else _zh_cardinal(high)) + unit
            if rest == 0:
                return head
            # A gap of a whole unit order is read with 零 ("一百零五", "一万零五十").
            gap = "零" if rest < value // 10 else ""
            tail = _zh_cardinal(rest)
            # Inside a larger number 10-19 keep their 一 ("一百一十", not "一百十").
            return head + gap + ("一" + tail if tail.startswith("十") else tail)
    raise AssertionError("unreachable")


def _zh_number(match: re.Match[str]) -> str:
    digits, frac, after = match.group(1), match.group(2), match.group(3)
    # Years ("2015年") and long digit strings (phone numbers, codes) are read digit by digit.
    if after == "年" or len(digits) >= 5 or (digits.startswith("0") and len(digits) > 1):
        head = "".join(_ZH_DIGITS[int(d)] for d in digits)
    else:
        head = _zh_cardinal(int(digits))
    if frac:
        head += "点" + "".join(_ZH_DIGITS[int(d)] for d in frac)
    return head + (after or "")


_ZH_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_ZH_NUMBER = re.compile(r"(\d+)(?:\.(\d+))?(年)?")
_ZH_TOKEN = re.compile(f"[{HAN}]|[a-z0-9]")


def normalize_zh(text: str) -> list[str]:
    """Chinese tokens for CER: one token per character, Latin letters included.

    Rule: NFKC (full-width -> half-width, e.g. "万科Ａ" -> "万科A"); traditional -> simplified
    (zhconv, zh-cn); lower-case; "幺" -> "一" (the references read 1 as 幺 in digit strings, a
    hypothesis may write either); "80%" -> "百分之80"; Arabic numbers -> Chinese numerals (digit
    by digit for years "2015年", strings of 5+ digits or with a leading 0, else the cardinal
    reading "300" -> "三百", decimals "8.5" -> "八点五"); then everything that is not a Chinese
    character or a Latin letter/digit (punctuation, spaces, symbols) is dropped and each remaining
    character is a token. Latin letters are characters too, so the spacing of Latin words does not
    matter ("打开Call Me Maybe" and "打开callmemaybe" score the same), which is what "strip spaces"
    means for mixed text: Mandarin recognisers are inconsistent about those spaces.
    """
    text = unicodedata.normalize("NFKC", text)
    text = zhconv.convert(text, "zh-cn").lower().replace("幺", "一")
    text = _ZH_PERCENT.sub(r"百分之\1", text)
    text = _ZH_NUMBER.sub(_zh_number, text)
    return _ZH_TOKEN.findall(text)


def tokenize(text: str, language: Language | str) -> list[str]:
    """Normalised scoring tokens: characters for Chinese (`zh`), words for everything else."""
    return normalize_zh(text) if language == "zh" else normalize_en(text)


def score_text(
    reference: str, hypothesis: str, biasing_words: Iterable[str] = (), language: Language | str = "en"
) -> BiasedErrors:
    """Score one utterance from raw text: normalise both sides and the terms, then `score_tokens`."""
    terms = [t for t in (tokenize(w, language) for w in biasing_words) if t]
    return score_tokens(tokenize(reference, language), tokenize(hypothesis, language), terms)


# ---------------------------------------------------------------------------------------------
# Hotword recall / precision
# ---------------------------------------------------------------------------------------------


def count_terms(tokens: Sequence[str], terms: Iterable[Sequence[str]]) -> dict[tuple[str, ...], int]:
    """Occurrences of each term, scanning left to right and taking the longest term at each point.

    Matches never overlap, so a term nested in a longer one ("今久" in "今久上海分公司") is not
    counted again inside an occurrence of the longer one.
    """
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for term in {tuple(t) for t in terms if t}:
        by_first.setdefault(term[0], []).append(term)
    for group in by_first.values():
        group.sort(key=len, reverse=True)
    counts: dict[tuple[str, ...], int] = {}
    k = 0
    while k < len(tokens):
        for term in by_first.get(tokens[k], ()):
            if tuple(tokens[k : k + len(term)]) == term:
                counts[term] = counts.get(term, 0) + 1
                k += len(term)
                break
        else:
            k += 1
    return counts


@dataclass(slots=True)
class HotwordCounts:
    """Hotword occurrence counts behind recall and precision.

    For each utterance and each term t of its hotword list (normalised like the text), let
    ref(t) / hyp(t) be t's occurrences in the reference / hypothesis (`count_terms`) and
    hit(t) = min(ref(t), hyp(t)). Summed over terms and utterances:
    recall = hit / ref (share of the list terms spoken that were recognised) and
    precision = said / hyp (share of the list terms written that were really spoken; a distractor
    the recogniser hallucinates lowers precision), where said(t) = min(hyp(t), the times t's
    tokens stand anywhere in the reference): a term written where a longer listed term holding it
    was spoken was spoken too (重庆 when 重庆谢记老火锅 was said), though only the longer one counts
    for recall. Position is ignored: a term counts as recognised when it appears anywhere in the
    hypothesis as often as in the reference.
    """

    ref_occurrences: int = 0
    hyp_occurrences: int = 0
    hits: int = 0
    said: int = 0

    @property
    def recall(self) -> float | None:
        return self.hits / self.ref_occurrences if self.ref_occurrences else None

    @property
    def precision(self) -> float | None:
        return self.said / self.hyp_occurrences if self.hyp_occurrences else None

    def __iadd__(self, other: HotwordCounts) -> HotwordCounts:
        self.ref_occurrences += other.ref_occurrences
        self.hyp_occurrences += other.hyp_occurrences
        self.hits += other.hits
        self.said += other.said
        return self

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recall": self.recall, "precision": self.precision}


def hotword_counts(
    reference: str, hypothesis: str, terms: Iterable[str], language: Language | str = "en"
) -> HotwordCounts:
    """Recall/precision counts for one utterance (see `HotwordCounts`)."""
    tokenized = [t for t in (tuple(tokenize(term, language)) for term in terms) if t]
    ref_tokens = tokenize(reference, language)
    ref_counts = count_terms(ref_tokens, tokenized)
    hyp_counts = count_terms(tokenize(hypothesis, language), tokenized)
    hits = sum(min(n, hyp_counts.get(term, 0)) for term, n in ref_counts.items())
    said = sum(min(n, count_terms(ref_tokens, [term]).get(term, 0)) for term, n in hyp_counts.items())
    return HotwordCounts(sum(ref_counts.values()), sum(hyp_counts.values()), hits, said)


# ---------------------------------------------------------------------------------------------
# The benchmark's own file formats
# ---------------------------------------------------------------------------------------------


def score_benchmark_files(ref_path: str, hyp_path: str) -> BiasedErrors:
    """Score a benchmark hyp file against a ref file exactly as upstream score.py does.

    ref: `uttid<TAB>text<TAB>JSON rare words<TAB>...`; hyp: `uttid<TAB>text` (text may be missing).
    Texts are already normalised, so they are split on whitespace and not normalised again; a ref
    utterance with no hypothesis is an error (upstream's non-lenient mode).
    """
    import json

    refs: dict[str, tuple[str, set[str]]] = {}
    with open(ref_path, encoding="utf-8") as f:
        for line in f:
            cols = line.strip().split("\t")
            refs[cols[0]] = (cols[1], set(json.loads(cols[2])))
    hyps: dict[str, str] = {}
    with open(hyp_path, encoding="utf-8") as f:
        for line in f:
            cols = line.strip().split("\t")
            hyps[cols[0]] = cols[1] if len(cols) >= 2 else ""
    missing = [u for u in refs if u not in hyps]
    if missing:
        raise ValueError(f"{len(missing)} reference utterances have no hypothesis, e.g. {missing[0]}")
    total = BiasedErrors()
    for uttid, (text, rare) in refs.items():
        total += score_tokens(text.split(), hyps[uttid].split(), [(w,) for w in rare])
    return total
