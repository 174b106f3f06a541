"""Hotword "context graph": an Aho-Corasick trie over Whisper token ids with per-token bonuses.

Design follows icefall / sherpa-onnx contextual biasing: every token that extends a partial match of
a hotword earns a bonus (growing with the hotword's weight); when the partial match breaks, the bonus
earned so far is taken back, so a hypothesis that merely *started* a hotword ends up where it would
have been without biasing.  A completed hotword keeps its bonus.

Bookkeeping (per trie node n):
  node_score[n]  bonus earned along the root->n path
  keep[n]        the part of node_score[n] already committed by a hotword that ends on that path
Transition s --t--> n:
  child edge:            bonus = node_score[n] - node_score[s]
  failure (Aho-Corasick): bonus = node_score[n] + keep[s] - node_score[s]   (drop what was pending)
  end of decoding:       bonus = keep[s] - node_score[s]
Completed hotwords whose node has no children reset the state to the root (the bonus stays earned).

The graph is immutable after `compile_hotwords`; the only mutable part is a lazily filled per-state
transition cache (a dict written with whole values, safe to share across threads under the GIL).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tokenizers

from hotasr.hotwords import Hotword

# Per-token bonus (in nats, added to the log-probability) for weight 1..5 of a Chinese, Japanese or
# Korean term; weight 3 is the DashScope default.  Chosen on the LibriSpeech biasing subset
# (bench/biasing_accuracy.py), kept on the Mandarin tuning half (BENCHMARKS.md §1.5).
TOKEN_BONUS: dict[int, float] = {1: 0.5, 2: 1.0, 3: 1.5, 4: 2.0, 5: 2.5}
# A term in any other script earns this many times as much per token: chosen on the English tuning
# half (BENCHMARKS.md §1.5), where Mandarin's precision fell at the same factor.
LATIN_BONUS_FACTOR = 1.25
# Cap on the bonus one hotword can earn in total, so a 10-token term does not swamp the acoustics.
MAX_TERM_BONUS_FACTOR = 4.0

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_ROOT = 0


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@dataclass(frozen=True, slots=True)
class Transitions:
    """What every token does from one state: sparse exceptions + a default (back to the root)."""

    tokens: np.ndarray  # int64 token ids with a non-default transition
    next_states: np.ndarray  # int32
    bonus: np.ndarray  # float32 bonus for those tokens
    default_bonus: float  # bonus of every other token (the take-back); next state is the root


@dataclass(eq=False)
class HotwordGraph:
    """A compiled hotword list.  Reusable across requests and threads; never mutate it."""

    warnings: list[str]
    applied: list[Hotword]
    children: list[dict[int, int]] = field(repr=False)
    fail: list[int] = field(repr=False)
    node_score: np.ndarray = field(repr=False)
    keep: np.ndarray = field(repr=False)
    is_end: np.ndarray = field(repr=False)
    _cache: dict[int, Transitions] = field(default_factory=dict, repr=False)

    @property
    def root(self) -> int:
        return _ROOT

    @property
    def num_states(self) -> int:
        return len(self.children)

    @property
    def empty(self) -> bool:
        return len(self.children) <= 1

    def step(self, state: int, token: int) -> tuple[int, float]:
        """(next state, bonus) for one token: the scalar reference of what `transitions` vectorises."""
        if token in self.children[state]:
            nxt = self.children[state][token]
            bonus = float(self.node_score[nxt] - self.node_score[state])
        else:
            s = self.fail[state] if state != _ROOT else _ROOT
            while token not in self.children[s] and s != _ROOT:
                s = self.fail[s]
            nxt = self.children[s].get(token, _ROOT)
            bonus = float(self.node_score[nxt] + self.keep[state] - self.node_score[state])
        if self.is_end[nxt] and not self.children[nxt]:
            nxt = _ROOT  # completed term, nothing longer to match: its bonus stays earned
        return nxt, bonus

    def final_bonus(self, state: int) -> float:
        """Take back what a hypothesis that ends in `state` earned for an unfinished match."""
        return float(self.keep[state] - self.node_score[state])

    def transitions(self, state: int) -> Transitions:
        hit = self._cache.get(state)
        if hit is not None:
            return hit
        # Tokens handled by the fail chain: the nearest node (state first, root last) wins.
        seen: dict[int, None] = {}
        chain = [state]
        s = state
        while s != _ROOT:
            s = self.fail[s]
            chain.append(s)
        for s in chain:
            for tok in self.children[s]:
                seen.setdefault(tok, None)
        toks = np.fromiter(seen, dtype=np.int64, count=len(seen))
        nxt = np.empty(len(toks), np.int32)
        bon = np.empty(len(toks), np.float32)
        for i, tok in enumerate(toks.tolist()):
            n, b = self.step(state, tok)
            nxt[i] = n
            bon[i] = b
        out = Transitions(toks, nxt, bon, self.final_bonus(state))
        self._cache[state] = out
        return out


def _english_variants(text: str) -> list[str]:
    """Surface forms Whisper may emit for an ASCII/Latin term: as given, Capitalised, Title Case,
    and lower case, each with the leading space Whisper's BPE attaches to a word start."""
    forms = [text, text[:1].upper() + text[1:], " ".join(w[:1].upper() + w[1:] for w in text.split(" "))]
    if not any(c.isupper() for c in text[1:]):  # acronyms / camel case keep their casing only
        forms.append(text.lower())
    out: list[str] = []
    for f in forms:
        if " " + f not in out:
            out.append(" " + f)
    return out


def _cjk_variants(text: str) -> list[str]:
    """Chinese has no spaces; Whisper may also emit traditional characters."""
    forms = [text]
    try:
        import zhconv

        for locale in ("zh-cn", "zh-tw"):
            conv = zhconv.convert(text, locale)
            if conv not in forms:
                forms.append(conv)
    except ImportError:  # zhconv is a dependency, but matching still works without it
        pass
    return forms


def _token_sequences(encoded: dict[str, list[int]], form: str, cjk: bool) -> list[list[int]]:
    seqs: list[list[int]] = []
    whole = encoded[form]
    if whole:
        seqs.append(whole)
    if cjk:
        # Byte-level BPE merges across a run of CJK characters, so the term may be cut differently
        # inside a sentence than alone; character-by-character encoding covers the unmerged case.
        pieces = [tok for ch in form for tok in encoded[ch]]
        if pieces and pieces not in seqs:
            seqs.append(pieces)
    return seqs


def _encoded(tokenizer: tokenizers.Tokenizer, strings: Iterable[str]) -> dict[str, list[int]]:
    """The token ids of each distinct string, encoded once: the forms of a list's terms, and the
    characters of its Chinese ones, which recur from term to term."""
    return {text: tokenizer.encode(text, add_special_tokens=False).ids for text in dict.fromkeys(strings)}


def _variants(text: str, cjk: bool) -> tuple[list[str], list[str]]:
    """A term's surface forms and the strings to encode for them (each CJK character too)."""
    forms = _cjk_variants(text) if cjk else _english_variants(text)
    return forms, [*forms, *(ch for form in forms for ch in form)] if cjk else forms


def token_bonus(weight: int, cjk: bool) -> float:
    """The bonus each token of a term of `weight` earns: Chinese characters and English word pieces
    carry different shares of a term, so the two scripts have their own scale."""
    return TOKEN_BONUS[weight] * (1.0 if cjk else LATIN_BONUS_FACTOR)


def compile_hotwords(
    hotwords: Sequence[Hotword], tokenizer: tokenizers.Tokenizer, *, multilingual: bool
) -> HotwordGraph:
    """Compile a hotword list once into a token-level context graph (callers cache the result)."""
    warnings: list[str] = []
    accepted = _accepted(hotwords, multilingual, warnings)
    encoded = _encoded(tokenizer, (string for _hw, _cjk, _forms, strings in accepted for string in strings))
    trie = _Trie()
    applied: list[Hotword] = []
    for hw, cjk, forms, _strings in accepted:
        seqs: list[list[int]] = []
        for form in forms:
            for seq in _token_sequences(encoded, form, cjk):
                if seq not in seqs:
                    seqs.append(seq)
        if not seqs:
            warnings.append(f'hotword "{hw.text}" produces no tokens for this model and was not applied')
            continue
        for seq in seqs:
            trie.insert(seq, token_bonus(hw.weight, cjk))
        applied.append(hw)
    # Report in the caller's order (by position, not by equality: `list.index` made this quadratic).
    position = {id(h): i for i, h in reversed(list(enumerate(hotwords)))}
    applied.sort(key=lambda h: position[id(h)])
    return HotwordGraph(
        warnings=warnings,
        applied=applied,
        children=trie.children,
        fail=_failure_links(trie.children),
        node_score=np.asarray(trie.node_score, np.float32),
        keep=np.asarray(_kept_scores(trie), np.float32),
        is_end=np.asarray(trie.is_end, bool),
    )


def _accepted(
    hotwords: Sequence[Hotword], multilingual: bool, warnings: list[str],
) -> list[tuple[Hotword, bool, list[str], list[str]]]:
    """(term, whether CJK, surface forms, strings to encode) of each term that can be applied,
    strongest weights first: a prefix shared by two terms keeps the bonus of the stronger one.
    Each term left out is named in `warnings`."""
    accepted: list[tuple[Hotword, bool, list[str], list[str]]] = []
    for hw in sorted(hotwords, key=lambda h: -h.weight):
        text = unicodedata.normalize("NFC", hw.text.strip())
        if not text:
            warnings.append(f'hotword "{hw.text}" is empty after trimming and was not applied')
            continue
        cjk = has_cjk(text)
        if cjk and not multilingual:
            warnings.append(
                f'hotword "{hw.text}" was not applied: this model is English-only and cannot output '
                "Chinese/Japanese/Korean characters"
            )
            continue
        if hw.weight not in TOKEN_BONUS:
            warnings.append(f'hotword "{hw.text}" has weight {hw.weight} outside 1..5 and was not applied')
            continue
        forms, strings = _variants(text, cjk)
        accepted.append((hw, cjk, forms, strings))
    return accepted


class _Trie:
    """The terms' token sequences as a trie: each node's bonus (earned on the way from the root) and
    whether a term ends there."""

    def __init__(self) -> None:
        self.children: list[dict[int, int]] = [{}]
        self.node_score: list[float] = [0.0]
        self.depth_bonus: list[float] = [0.0]
        self.is_end: list[bool] = [False]

    def insert(self, seq: list[int], per_token: float) -> None:
        """A term's tokens, each earning `per_token`, but no more than MAX_TERM_BONUS_FACTOR times
        that for the whole term."""
        cap = per_token * MAX_TERM_BONUS_FACTOR
        node = _ROOT
        for tok in seq:
            nxt = self.children[node].get(tok)
            if nxt is None:
                nxt = len(self.children)
                self.children[node][tok] = nxt
                self.children.append({})
                gain = max(0.0, min(per_token, cap - self.depth_bonus[node]))
                self.node_score.append(self.node_score[node] + gain)
                self.depth_bonus.append(self.depth_bonus[node] + gain)
                self.is_end.append(False)
            node = nxt
        self.is_end[node] = True


def _failure_links(children: list[dict[int, int]]) -> list[int]:
    """Aho-Corasick failure links, breadth first: where a match that breaks goes on from."""
    fail = [_ROOT] * len(children)
    queue = list(children[_ROOT].values())
    while queue:
        nxt_queue: list[int] = []
        for node in queue:
            for tok, child in children[node].items():
                f = fail[node]
                while tok not in children[f] and f != _ROOT:
                    f = fail[f]
                cand = children[f].get(tok, _ROOT)
                fail[child] = cand if cand != child else _ROOT
                nxt_queue.append(child)
        queue = nxt_queue
    return fail


def _kept_scores(trie: _Trie) -> list[float]:
    """Each node's committed score: the node_score of the deepest completed term on its path."""
    keep = [0.0] * len(trie.children)
    stack = [(_ROOT, 0.0)]
    while stack:
        node, kept = stack.pop()
        k = trie.node_score[node] if trie.is_end[node] else kept
        keep[node] = k
        for child in trie.children[node].values():
            stack.append((child, k))
    return keep
