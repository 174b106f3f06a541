"""Text options of the DashScope APIs applied to finished sentences (shared by real-time and file tasks):
`disfluency_removal_enabled` and `punctuation_prediction_enabled: false`."""

from __future__ import annotations

import re
from dataclasses import replace

from hotasr.transcript import Sentence, Word

# Filler words only: interjections that carry no content in any context. Chinese 啊/吧 are left
# alone, being sentence particles as often as fillers.
FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm", "mm", "mhm", "嗯", "呃", "额"})
_UNSPACED = frozenset({"zh", "ja", "yue"})
_PUNCT = re.compile(r"[^\w\s'’-]+", re.UNICODE)


def _key(word: Word) -> str:
    return word.text.strip().lower().strip("-'’")


def _join(words: list[Word], language: str | None) -> str:
    joiner = "" if language in _UNSPACED else " "
    return joiner.join(w.text + w.punctuation.rstrip() for w in words).strip()


def remove_disfluencies(sentence: Sentence, language: str | None) -> Sentence:
    kept = [w for w in sentence.words if _key(w) not in FILLERS]
    if len(kept) == len(sentence.words):
        return sentence
    return replace(sentence, words=kept, text=_join(kept, language))


def strip_punctuation(sentence: Sentence) -> Sentence:
    words = [replace(w, punctuation="") for w in sentence.words]
    text = re.sub(r"\s+", " ", _PUNCT.sub(" ", sentence.text)).strip()
    return replace(sentence, words=words, text=text)


def apply_text_options(
    sentence: Sentence, language: str | None, *, disfluency_removal: bool = False, punctuation: bool = True
) -> Sentence:
    if disfluency_removal:
        sentence = remove_disfluencies(sentence, language)
    if not punctuation:
        sentence = strip_punctuation(sentence)
    return sentence
