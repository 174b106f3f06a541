"""Whisper segments as hotasr sentences and words: punctuation split off words, sentences cut after
their final marks, Chinese simplified and punctuated full-width, Latin words inside Chinese kept whole.

A Whisper segment is not a sentence: it ends where Whisper put a timestamp, often in the middle of
one ("... differs from most" / "if not from all the arts ..."). A sentence left open at a segment's
end goes on into the next segment of the same decode (`add_sentences`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from hotasr.chinese import HAN_LANGS, full_width, han_text, has_han, sentence_end
from hotasr.transcript import SENTENCE_END, UNSPACED_LANGS, Sentence, Word, join_pieces, latin_boundary

_UNFINISHED = "\ufffd"
# English titles written with a full stop before a name, and abbreviations that never close a
# sentence: "Mr." ends no sentence ("And Mr. John Dashwood"), nor does "i.e.".
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "i.e", "e.g", "vs"})


def add_sentences(sentences: list[Sentence], following: list[Sentence]) -> None:
    """`following` (a Whisper segment's sentences) appended to `sentences` (those of the segments
    before it, in one decode), the first joined to the last before it where that one is left open:
    it ends in no final mark and what follows starts in lower case, or it ends in a title ("Mr.")."""
    for sentence in following:
        if sentences and _goes_on(sentences[-1], sentence):
            sentences[-1] = _joined(sentences[-1], sentence)
        else:
            sentences.append(sentence)


def _goes_on(sentence: Sentence, following: Sentence) -> bool:
    if sentence.language in UNSPACED_LANGS or following.language != sentence.language or not sentence.words:
        return False
    last, text = sentence.words[-1], following.text.lstrip()
    if _ends_a_sentence(last):
        return False
    return _is_title(last) or text[:1].islower()


def _joined(sentence: Sentence, following: Sentence) -> Sentence:
    text = join_pieces([sentence.text, following.text], sentence.language)
    return Sentence(sentence.begin_ms, following.end_ms, text, [*sentence.words, *following.words],
                    language=sentence.language)


def _ends_a_sentence(word: Word) -> bool:
    return bool(word.punctuation) and word.punctuation[-1] in SENTENCE_END and not _is_title(word)


def _is_title(word: Word) -> bool:
    return word.punctuation == "." and word.text.casefold() in _TITLES


def segment_sentences(segment: Any, language: str | None, simplify: bool) -> list[Sentence]:
    """A Whisper segment as sentences (cut after sentence-ending marks) of words, in `language`
    (`simplify`: Chinese in simplified characters).

    In Chinese the marks are full-width and every sentence ends in one (`hotasr.chinese`); Latin
    words inside unspaced text keep their spaces, and a Latin word Whisper split into tokens
    ("i" + "Phone") is one word. Each sentence's text is its words and their marks, joined. A
    character the decode left unfinished is left out. Chinese that Whisper wrote though told a
    spaced language (a Mandarin sentence around an English title, detected as English: "打开 call
    me maybe") is written, and labelled, as Chinese.
    """
    writes_han = has_han(segment.text)
    if language not in UNSPACED_LANGS and writes_han:
        language = "zh"
    simplified = _to_simplified if simplify and language == "zh" else _identity

    def convert(text: str) -> str:
        # A character Whisper left unfinished (the decode ended inside its bytes) reads as U+FFFD:
        # it is no text, and DashScope writes none.
        return simplified(text.replace(_UNFINISHED, ""))

    # Chinese marks for Chinese text: English that Whisper wrote though told "zh" keeps its own.
    han = language in HAN_LANGS and writes_han
    words = segment.words or []
    if not words:
        text = convert(segment.text.strip())
        if not text:
            return []
        return [Sentence(_ms(segment.start), _ms(segment.end), han_text(text) if han else text, language=language)]

    sentences: list[Sentence] = []
    current: list[Word] = []
    leads: list[str] = []  # punctuation before each word of `current` ("“Hello"): text only
    lead = ""
    for raw in words:
        opening, text, punct = _split_punctuation(convert(raw.word.strip()))
        if han:
            punct = full_width(punct)
        if not text:
            # A bare punctuation token belongs to the word before it (or opens the next one).
            if current:
                current[-1].punctuation += punct
            else:
                lead += punct
        elif _continues_word(current, raw.word, opening, text, language):
            last = current[-1]
            last.text += opening + text
            last.end_ms = _ms(raw.end)
            last.punctuation = punct
        else:
            current.append(Word(_ms(raw.start), _ms(raw.end), text, punct))
            leads.append(lead + opening)
            lead = ""
        if current and _ends_a_sentence(current[-1]):
            sentences.append(_sentence(current, leads, language))
            current, leads = [], []
    if current:
        if han:
            current[-1].punctuation += sentence_end(current[-1].text + current[-1].punctuation)
        sentences.append(_sentence(current, leads, language))
    return sentences


def _continues_word(current: list[Word], raw: str, opening: str, text: str, language: str | None) -> bool:
    """Whether a token is the rest of the word before it: no space before it, no mark after that
    word, and in spaced text a mark inside the word ("flour" + "-fatten", "i" + ".e.": Whisper's word
    splitting opens a word at a mark), in unspaced text Latin on both sides of the join."""
    if not current or raw[:1].isspace() or current[-1].punctuation:
        return False
    if language not in UNSPACED_LANGS:
        return bool(opening)
    return not opening and latin_boundary(current[-1].text[-1], text[0])


def _sentence(words: list[Word], leads: list[str], language: str | None) -> Sentence:
    pieces = [lead + w.text + w.punctuation for lead, w in zip(leads, words, strict=True)]
    return Sentence(words[0].begin_ms, words[-1].end_ms, join_pieces(pieces, language), words, language=language)


def _split_punctuation(token: str) -> tuple[str, str, str]:
    """("“", "Hello", ",”") for "“Hello,”"; apostrophes and hyphens inside words stay put."""
    start, end = 0, len(token)
    while start < end and _is_punct(token[start]):
        start += 1
    while end > start and _is_punct(token[end - 1]):
        end -= 1
    if start == end:  # only punctuation
        return "", "", token
    return token[:start], token[start:end], token[end:]


def _is_punct(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _to_simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


def _identity(text: str) -> str:
    return text
