"""What recognition returns: small dataclasses, free of any wire format (and a neutral JSON form of
them, for storage; each adapter renders its own shape)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

# Whisper's own test for a decoding loop ("replied he replied he ..."): text that compresses this
# well (faster-whisper's compression_ratio_threshold).
LOOP_COMPRESSION_RATIO = 2.4

# Languages written without spaces between words.
UNSPACED_LANGS = frozenset({"zh", "ja", "yue", "th", "lo", "my", "km", "bo"})
SENTENCE_END = frozenset(".?!。？！…")


def looks_like_a_loop(text: str) -> bool:
    data = text.encode()
    return bool(data) and len(data) / len(zlib.compress(data)) > LOOP_COMPRESSION_RATIO


def word_joiner(language: str | None) -> str:
    """What goes between two words (or two pieces of a sentence) in this language."""
    return "" if language in UNSPACED_LANGS else " "


def _latin_edge(char: str) -> bool:
    """A letter or digit of a spaced script (Latin, Cyrillic, ...): not CJK, kana, Hangul or Thai."""
    return char.isalnum() and ord(char) < 0x0E00


def latin_boundary(before: str, after: str) -> bool:
    """Whether two characters meet as the end and start of two Latin words (a space between)."""
    return _latin_edge(before) and _latin_edge(after)


def join_pieces(pieces: list[str], language: str | None) -> str:
    """Words (with their punctuation) joined as `language` writes them.

    Unspaced languages keep a space between two Latin words ("iPhone 15 Pro", "Speech Lab"): a
    Chinese sentence writes the English inside it the English way. Pieces are whole words: sub-word
    tokens ("i" + "Phone") must come joined already.
    """
    if language not in UNSPACED_LANGS:
        return " ".join(p.strip() for p in pieces if p.strip())
    text = ""
    for piece in (p.strip() for p in pieces):
        if text and piece and latin_boundary(text[-1], piece[0]):
            text += " "
        text += piece
    return text


def joined_sentences(sentences: list[Sentence]) -> str:
    """Sentences as one text: no space between two in unspaced languages, else one."""
    text = ""
    last: str | None = None
    for sentence in sentences:
        piece = sentence.text.strip()
        if not piece:
            continue
        if text:
            both_unspaced = last in UNSPACED_LANGS and sentence.language in UNSPACED_LANGS
            text += "" if both_unspaced else " "
        text += piece
        last = sentence.language
    return text


@dataclass(slots=True)
class Word:
    begin_ms: int
    end_ms: int
    text: str
    punctuation: str = ""  # punctuation that follows the word, e.g. ", "


@dataclass(slots=True)
class Sentence:
    begin_ms: int
    end_ms: int
    text: str
    words: list[Word] = field(default_factory=list)
    speaker_id: int | None = None
    # The language this sentence was decoded in: a recording may switch languages between sentences.
    language: str | None = None

    def shifted(self, offset_ms: int) -> Sentence:
        """The same sentence with its times `offset_ms` later."""
        return Sentence(
            self.begin_ms + offset_ms,
            self.end_ms + offset_ms,
            self.text,
            [Word(w.begin_ms + offset_ms, w.end_ms + offset_ms, w.text, w.punctuation) for w in self.words],
            self.speaker_id,
            self.language,
        )


@dataclass(slots=True)
class Transcript:
    sentences: list[Sentence]
    # The language of most of the speech; each sentence carries its own (`Sentence.language`).
    language: str | None = None
    duration_ms: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return joined_sentences([s if s.language else _with_language(s, self.language) for s in self.sentences])

    @property
    def spoken(self) -> list[Sentence]:
        """The sentences that have text: what a result lists and a subtitle shows."""
        return [s for s in self.sentences if s.text.strip()]


def _with_language(sentence: Sentence, language: str | None) -> Sentence:
    return Sentence(sentence.begin_ms, sentence.end_ms, sentence.text, sentence.words, sentence.speaker_id, language)


def dominant_language(sentences: list[Sentence]) -> str | None:
    """The language with the most speech time among `sentences` (None when there is none)."""
    spoken: dict[str, int] = {}
    for s in sentences:
        if s.language:
            spoken[s.language] = spoken.get(s.language, 0) + max(1, s.end_ms - s.begin_ms)
    return max(spoken, key=lambda lang: spoken[lang]) if spoken else None


# -- a neutral serialisation, for what is stored (a file task's transcripts) ---------------------


def transcript_to_dict(transcript: Transcript) -> dict[str, Any]:
    """`transcript` as JSON-able data, every field kept: `transcript_from_dict` gives it back equal."""
    return {
        "language": transcript.language,
        "duration_ms": transcript.duration_ms,
        "warnings": list(transcript.warnings),
        "sentences": [
            {
                "begin_ms": s.begin_ms,
                "end_ms": s.end_ms,
                "text": s.text,
                "speaker_id": s.speaker_id,
                "language": s.language,
                "words": [[w.begin_ms, w.end_ms, w.text, w.punctuation] for w in s.words],
            }
            for s in transcript.sentences
        ],
    }


def transcript_from_dict(data: dict[str, Any]) -> Transcript:
    sentences = [
        Sentence(s["begin_ms"], s["end_ms"], s["text"], [Word(*w) for w in s["words"]], s.get("speaker_id"),
                 s.get("language"))
        for s in data["sentences"]
    ]
    return Transcript(sentences, data.get("language"), data.get("duration_ms", 0), list(data.get("warnings", [])))
