"""Text options of the DashScope APIs, applied to finished transcripts (real-time and file tasks alike):
`disfluency_removal_enabled` and `punctuation_prediction_enabled: false`."""

from __future__ import annotations

import re
from dataclasses import replace

from hotasr.transcript import UNSPACED_LANGS, Sentence, Transcript, Word, join_pieces, latin_boundary

# Filler words only: interjections that carry no content in any context. Chinese 啊/吧 are left
# alone, being sentence particles as often as fillers.
FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm", "mm", "mhm", "嗯", "呃", "呃呃", "额"})
_PUNCT = re.compile(r"[^\w\s'’-]+", re.UNICODE)
_SPACE = re.compile(r"(?<=(\S))\s+(?=(\S))")


def _is_filler(word: Word) -> bool:
    return re.sub(r"[^\w]", "", word.text.lower()) in FILLERS


def _join(words: list[Word], language: str | None) -> str:
    return join_pieces([w.text.strip() + w.punctuation.strip() for w in words], language)


def remove_disfluencies(sentence: Sentence, language: str | None) -> Sentence | None:
    """The sentence without filler words, its span shrunk to the words left; None if only fillers."""
    language = sentence.language or language
    if not sentence.words:
        return sentence
    kept = [w for w in sentence.words if not _is_filler(w)]
    if len(kept) == len(sentence.words):
        return sentence
    if not kept:
        return None
    return Sentence(kept[0].begin_ms, kept[-1].end_ms, _join(kept, language), kept, sentence.speaker_id)


def strip_punctuation(sentence: Sentence, language: str | None = None) -> Sentence:
    """The sentence without punctuation (full-width marks too); in unspaced languages the marks
    leave no space behind, except between two Latin words."""
    words = [replace(w, punctuation="") for w in sentence.words]
    text = re.sub(r"\s+", " ", _PUNCT.sub(" ", sentence.text)).strip()
    if (sentence.language or language) in UNSPACED_LANGS:
        text = _SPACE.sub(lambda m: " " if latin_boundary(m.group(1), m.group(2)) else "", text)
    return replace(sentence, words=words, text=text)


def apply_text_options(
    sentence: Sentence, language: str | None, *, disfluency_removal: bool = False, punctuation: bool = True
) -> Sentence | None:
    if disfluency_removal:
        cleaned = remove_disfluencies(sentence, language)
        if cleaned is None:
            return None
        sentence = cleaned
    if not punctuation:
        sentence = strip_punctuation(sentence, language)
    return sentence


def apply_to_transcript(
    transcript: Transcript, *, disfluency_removal: bool = False, punctuation: bool = True
) -> Transcript:
    sentences = [
        s for s in (apply_text_options(s, transcript.language, disfluency_removal=disfluency_removal,
                                       punctuation=punctuation) for s in transcript.sentences)
        if s is not None
    ]
    return replace(transcript, sentences=sentences, warnings=list(transcript.warnings))
