"""English hotwords heard right but spelled otherwise: "Schoffer" for the hotword Schoeffer.

The English counterpart of `homophones.py`: a rare name is often heard correctly and written the
way its sound suggests ("Basel" for Basle, "willome" for whilome, "salters" for psalters), and the
decoding bonus cannot always win against the spelling the model prefers.  After decoding, a span
of one or two words whose sound key equals a listed term's is replaced by the term.

The sound key is a small metaphone-like code (`sound_key`): letters folded to ASCII, silent
initial letters dropped (kn, gn, pn, ps, wr), digraphs merged (ph=f, sch=sk, sh/ch=X, th=0,
ck=k), c/g/q/x/z/v/w/y/h folded to the consonant they sound as, vowels dropped after the first
letter, doubled consonants merged.  That key is coarse (place and polus share it), so precision
rests on the guards:
- `known`: the words the model's vocabulary holds whole (`whole_words`).  A word Whisper writes as
  one token is a word it knows ("Germany", "lovely", "speak"), not a name it spelled by ear, and is
  never rewritten; only spellings the model assembled from pieces are.
- a term's key needs `MIN_KEY` consonant sounds; two listed terms with one key respell to neither;
  a listed term is never rewritten; two words are joined only across a plain space.
Only terms written in Latin letters apply.  `recognize()` is where it belongs, next to the
homophone respelling, for English sentences of a `hotasr`-biased decode.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from hotasr.hotwords import Hotword
from hotasr.transcript import Sentence, Transcript, Word

MIN_KEY = 3  # consonant sounds a term's key needs before it may respell anything
MAX_SPAN = 2  # words of the hypothesis that may be joined into one term
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f']+")
_LATIN_TERM = re.compile(r"[A-Za-z\u00c0-\u024f' -]+")
_VOWELS = frozenset("aeiou")
_CONTRACTIONS = frozenset({"t", "s", "ll", "re", "ve", "d", "m"})  # what follows the apostrophe
# Ordered rewrites on lower-case ASCII letters (metaphone's main rules, simplified).
_INITIAL = (("kn", "n"), ("gn", "n"), ("pn", "n"), ("ps", "s"), ("wr", "r"), ("wh", "w"), ("x", "s"))
_RULES = (
    (re.compile(r"tch"), "X"),
    (re.compile(r"sch"), "sk"),
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck"), "k"),
    (re.compile(r"dg(?=[eiy])"), "j"),
    (re.compile(r"sh|ch|ti(?=[ao])|si(?=[ao])"), "X"),
    (re.compile(r"th"), "0"),
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"[cqk]"), "k"),
    (re.compile(r"g(?=[eiy])"), "j"),
    (re.compile(r"gh(?![aeiou])"), ""),
    (re.compile(r"x"), "ks"),
    (re.compile(r"z"), "s"),
    (re.compile(r"v"), "f"),
    (re.compile(r"[wyh](?![aeiou])"), ""),
)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in folded if "a" <= c <= "z")


def sound_key(text: str) -> str:
    """A metaphone-like key: words that sound alike share it ("Schoffer", "Schoeffer" -> "skfr")."""
    word = _ascii(text)
    if not word:
        return ""
    for prefix, repl in _INITIAL:
        if word.startswith(prefix):
            word = repl + word[len(prefix) :]
            break
    for pattern, repl in _RULES:
        word = pattern.sub(repl, word)
    if not word:
        return ""
    first = "a" if word[0] in _VOWELS else word[0]
    out = [first]
    for c in word[1:]:
        if c not in _VOWELS and c not in "wyh" and c != out[-1]:
            out.append(c)
    return "".join(out)


def _consonants(key: str) -> int:
    return sum(1 for c in key if c != "a")


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    key: str


class SoundsAlikeRespeller:
    """Built once per list (a key per term); `correct_text` scans the words once."""

    def __init__(
        self, hotwords: Sequence[Hotword], *, known: frozenset[str], min_key: int = MIN_KEY, max_span: int = MAX_SPAN
    ) -> None:
        self._known = known
        self._max_span = max_span
        self._by_key: dict[str, _Term] = {}
        self._listed: set[str] = set()
        ambiguous: set[str] = set()
        for hw in hotwords:
            text = hw.text.strip()
            if not text or _LATIN_TERM.fullmatch(text) is None:
                continue
            self._listed.add(_ascii(text))
            key = sound_key(text)
            if _consonants(key) < min_key:
                continue
            other = self._by_key.get(key)
            if other is not None and other.text.casefold() != text.casefold():
                ambiguous.add(key)  # two listed terms sound alike: respell to neither
            self._by_key[key] = _Term(text, key)
        for key in ambiguous:
            del self._by_key[key]

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def matches(self, words: Sequence[str], stops: Sequence[bool] = ()) -> list[tuple[int, int, str]]:
        """(start, end, term) for each span of `words` to respell, left to right, no overlaps.
        `stops[i]`: punctuation follows word i, so it is never joined with the next."""
        found: list[tuple[int, int, str]] = []
        i = 0
        while i < len(words):
            hit = None
            for n in range(min(self._max_span, len(words) - i), 0, -1):
                span = words[i : i + n]
                if any(stops[i : i + n - 1]) or any(_WORD.fullmatch(w) is None or self._is_known(w) for w in span):
                    continue
                joined = "".join(_ascii(w) for w in span)
                if not joined or any(_ascii(w) in self._listed for w in span):
                    continue
                term = self._by_key.get(sound_key(joined))
                if term is not None and _ascii(term.text) != joined:
                    hit = (i, i + n, term.text)
                    break
            if hit is None:
                i += 1
                continue
            found.append(hit)
            i = hit[1]
        return found

    def _is_known(self, word: str) -> bool:
        """A word the vocabulary holds whole, or a known word with a contraction's ending ("don't":
        Whisper writes " don" + "'t", so the whole form is never one token)."""
        if word in self._known or word.lower() in self._known:
            return True
        stem, apostrophe, ending = word.partition("'")
        return bool(apostrophe) and ending.lower() in _CONTRACTIONS and self._is_known(stem)

    def correct_text(self, text: str) -> str:
        """The text with every sounds-alike span replaced (punctuation around words kept)."""
        spans = [m.span() for m in _WORD.finditer(text)]
        words = [text[a:b] for a, b in spans]
        stops = [not text[a:b].isspace() for (_, a), (b, _) in pairwise(spans)]
        out = text
        for start, end, term in reversed(self.matches(words, stops)):
            a, b = spans[start][0], spans[end - 1][1]
            out = out[:a] + _cased(term, words[start]) + out[b:]
        return out

    def correct(self, transcript: Transcript) -> int:
        """Rewrite the English sentences of `transcript` in place (text and words); return how many
        changed.  Sentences in another language (Latin words in a Chinese sentence) stay as they are."""
        changed = 0
        for sentence in transcript.sentences:
            if (sentence.language or transcript.language) != "en":
                continue
            fixed = self.correct_text(sentence.text)
            if fixed != sentence.text:
                _respell_words(sentence, self)
                sentence.text = fixed
                changed += 1
        return changed


def _cased(term: str, like: str) -> str:
    """The term as listed, capitalised when the word it replaces was and the term is lower case."""
    if term.islower() and like[:1].isupper():
        return term[:1].upper() + term[1:]
    return term


def _respell_words(sentence: Sentence, respeller: SoundsAlikeRespeller) -> None:
    """Carry the replacements into the sentence's words: a span of words becomes one word with the
    span's times and the last word's punctuation.  A word that is not plain letters ("1462",
    "twenty-one") is never replaced nor joined."""
    texts = [w.text.strip() for w in sentence.words]
    words: list[Word] = list(sentence.words)
    stops = [bool(w.punctuation.strip()) or _WORD.fullmatch(t) is None for w, t in zip(words, texts, strict=True)]
    for start, end, term in reversed(respeller.matches(texts, stops)):
        first, last = words[start], words[end - 1]
        lead = first.text[: len(first.text) - len(first.text.lstrip())]
        merged = Word(first.begin_ms, last.end_ms, lead + _cased(term, texts[start]), last.punctuation)
        words[start:end] = [merged]
    sentence.words = words


def whole_words(vocabulary: Iterable[str]) -> frozenset[str]:
    """The words a byte-level BPE vocabulary (Whisper's `tokenizer.get_vocab()`) holds whole: the
    tokens made of a word start (`Ġ`, a space) and letters only.  A word the model writes as one
    token is a word it knows, not a name it spelled by ear, so the respeller leaves it alone."""
    return frozenset(
        token[1:] for token in vocabulary if token.startswith("\u0120") and token[1:].isascii() and token[1:].isalpha()
    )
