"""What recognition returns: small dataclasses, free of any wire format."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

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

    def shifted(self, offset_ms: int) -> Sentence:
        """The same sentence with its times `offset_ms` later."""
        return Sentence(
            self.begin_ms + offset_ms,
            self.end_ms + offset_ms,
            self.text,
            [Word(w.begin_ms + offset_ms, w.end_ms + offset_ms, w.text, w.punctuation) for w in self.words],
            self.speaker_id,
        )


@dataclass(slots=True)
class Transcript:
    sentences: list[Sentence]
    language: str | None = None
    duration_ms: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return word_joiner(self.language).join(s.text.strip() for s in self.sentences if s.text.strip())
