"""Chinese hotwords heard right but written with other characters: 张雨菲 for the hotword 张雨霏.

Chinese names are mostly written with characters chosen for their sound, so the recognizer often
hears a name correctly and spells it with commoner characters of the same pinyin; the decoding
bonus cannot always win against them.  After decoding, a run of characters that sounds like
a hotword is replaced by the hotword.

How close "sounds like" may be depends on the length of the term, since precision matters:
- terms of three characters or more match when every character has a reading (any of its
  heteronyms: 都 du/dou) that agrees with the term's after the usual fuzzy-pinyin merges of
  accented Mandarin (zh/z, ch/c, sh/s, n/l, and -ng/-n: 灵山 ling-shan heard as 林山 lin-shan);
- terms of two characters must agree exactly, tones included, as pypinyin reads both in context
  (toneless, 故意 gu-yi would become the name 古一).
Terms must be all Han characters.  The text changes, the timestamps do not: a replacement has
exactly as many characters as what it replaces.

A run of characters is not respelled where it cuts a common word in two (one of the most frequent
in jieba's dictionary, as jieba segments the text without guessing at unknown words): in 送往附近医院
the run 附近医 sounds like the name 付敬懿, but it ends inside 医院, so it is common speech, not a
misspelled name (as the English respelling leaves words of the model's vocabulary alone).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from hotasr.hotwords import Hotword
from hotasr.transcript import Sentence, Transcript

_MIN_CHARS = 2
_FUZZY_FROM = 3  # terms this long match fuzzily; shorter ones exactly, tones included
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FINALS = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"))
_WORD_EDGES = True  # refuse respellings that cut a common word (bench/homophones_offline.py varies it)
# Words among jieba's this many most frequent (of two characters or more) are common: 医院 is (677th),
# 飞来 is not (11,596th: 张雨飞来了 is the name 张雨霏 and 来了).
_COMMON_WORDS = 5000


def _fuzzy(syllable: str) -> str:
    for long, short in _INITIALS:
        if syllable.startswith(long):
            syllable = short + syllable[len(long) :]
            break
    for long, short in _FINALS:
        if syllable.endswith(long):
            return syllable[: -len(long)] + short
    return syllable


@cache
def _sounds(char: str) -> frozenset[str]:
    """Every reading of one character, toneless and fuzzy."""
    from pypinyin import Style, pinyin

    return frozenset(_fuzzy(r) for r in pinyin(char, style=Style.NORMAL, heteronym=True)[0])


def warm_up() -> None:
    """Start loading the common words (about a second, once per process) in the background, so
    that the first request whose text has a run to respell does not wait for them (unless it comes
    within that second); the server calls this at start."""
    if _WORD_EDGES:
        threading.Thread(target=_common_words, name="common-words", daemon=True).start()


@cache
def _common_words() -> frozenset[str]:
    """jieba's `_COMMON_WORDS` most frequent words of two characters or more (loaded once, ~1 s)."""
    import heapq

    import jieba

    jieba.setLogLevel(logging.WARNING)  # not its dictionary-loading chatter
    jieba.initialize()
    counts = ((n, w) for w, n in jieba.dt.FREQ.items() if len(w) >= 2 and n > 0)
    return frozenset(w for _, w in heapq.nlargest(_COMMON_WORDS, counts))


def _word_edges(run: str) -> frozenset[int]:
    """The positions in a run of Han characters that are not inside a common word of jieba's
    dictionary segmentation (every position, when word edges are not tested)."""
    if not _WORD_EDGES:
        return frozenset(range(len(run) + 1))
    import jieba

    common = _common_words()
    inside: set[int] = set()
    at = 0
    for word in jieba.lcut(run, HMM=False):  # dictionary words only: an unknown name falls apart in characters
        if word in common:
            inside.update(range(at + 1, at + len(word)))
        at += len(word)
    return frozenset(range(len(run) + 1)) - inside


def _toned(run: str) -> tuple[str, ...]:
    """One toned syllable per character of a run of Han characters, read in context."""
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(run, style=Style.TONE3, neutral_tone_with_five=True))


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    exact: tuple[str, ...] | None  # toned syllables, for short terms
    fuzzy: tuple[frozenset[str], ...]

    def matches(self, run: str, i: int, toned: tuple[str, ...]) -> bool:
        n = len(self.text)
        if self.exact is not None:
            return toned[i : i + n] == self.exact
        return all(_sounds(c) & s for c, s in zip(run[i : i + n], self.fuzzy, strict=True))


class HomophoneCorrector:
    """Built once per list (cheap: a pinyin look-up per character); `correct` is a linear scan."""

    def __init__(self, hotwords: Sequence[Hotword]) -> None:
        self._by_sound: dict[str, list[_Term]] = {}  # candidates by a reading of their first character
        seen: set[str] = set()
        for hw in hotwords:
            text = hw.text.strip()
            if len(text) < _MIN_CHARS or text in seen or _HAN_RUN.fullmatch(text) is None:
                continue
            seen.add(text)
            exact = _toned(text) if len(text) < _FUZZY_FROM else None
            if exact is not None and len(exact) != len(text):
                continue
            term = _Term(text, exact, tuple(_sounds(c) for c in text))
            for sound in term.fuzzy[0]:
                self._by_sound.setdefault(sound, []).append(term)
        for terms in self._by_sound.values():
            terms.sort(key=lambda t: -len(t.text))  # longest first: 张家口市政府 before 张家口

    def __bool__(self) -> bool:
        return bool(self._by_sound)

    def correct_text(self, text: str) -> str:
        return _HAN_RUN.sub(lambda m: self._correct_run(m.group()), text)

    def _correct_run(self, run: str) -> str:
        toned = _toned(run)
        if len(toned) != len(run):
            return run  # characters pypinyin cannot read one by one: leave the run alone
        edges: frozenset[int] | None = None  # found only for runs that have a match
        chars = list(run)
        i = 0
        while i < len(run):
            term = self._match_at(run, i, toned)
            if term is not None and edges is None:
                edges = _word_edges(run)
            if term is None or edges is None or i not in edges or i + len(term.text) not in edges:
                i += 1
                continue
            chars[i : i + len(term.text)] = term.text
            i += len(term.text)
        return "".join(chars)

    def _match_at(self, run: str, i: int, toned: tuple[str, ...]) -> _Term | None:
        candidates = {t.text: t for sound in _sounds(run[i]) for t in self._by_sound.get(sound, ())}
        for term in sorted(candidates.values(), key=lambda t: -len(t.text)):
            n = len(term.text)
            if i + n > len(run):
                continue
            if run[i : i + n] == term.text:
                return None  # already right: keep it rather than let a shorter term rewrite part of it
            if term.matches(run, i, toned):
                return term
        return None

    def correct(self, transcript: Transcript) -> int:
        """Rewrite `transcript` in place; return how many sentences changed."""
        changed = 0
        for sentence in transcript.sentences:
            fixed = self.correct_text(sentence.text)
            if fixed != sentence.text:
                _respell_words(sentence, fixed)
                sentence.text = fixed
                changed += 1
        return changed


def _respell_words(sentence: Sentence, fixed: str) -> None:
    """Carry character replacements from the sentence text into its words (same characters, in
    order; punctuation and spaces in the text belong to no word text)."""
    old = sentence.text
    pos = 0
    respelled: list[str] = []
    for word in sentence.words:
        spelled = []
        for char in word.text:
            while pos < len(old) and old[pos] != char:
                pos += 1
            if pos >= len(old):  # the words do not line up with the text: leave them all
                return
            spelled.append(fixed[pos])
            pos += 1
        respelled.append("".join(spelled))
    for word, text in zip(sentence.words, respelled, strict=True):
        word.text = text
