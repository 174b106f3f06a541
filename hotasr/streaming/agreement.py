"""Which words of a sentence being spoken are settled: what two successive interims agree on.

Each real-time decode (interim or final) reads its sentence from the start. Most of it was already
decoded by earlier interims, and where two of them, made on different lengths of audio, read the
same opening words, those words rarely change with more audio (the "local agreement" policy of
streaming Whisper). The next decode takes them as a prefix and generates only the rest; once
settled, words stay (the next agreement starts from them).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def settled_prefix(earlier: str, later: str) -> str:
    """The opening words `earlier` and `later` share, leaving out `earlier`'s last word; as `later`
    writes them.

    That last word was heard up to where the earlier audio stopped, perhaps in the middle of it; the
    later interim heard it whole, so only a match before it counts. Words compare without case and
    punctuation: drafts of one sentence flip commas back and forth ("God, as" / "God as"), and
    comparing them exactly settled nothing of a 16 s sentence. Spelling must match exactly.
    """
    first, second = earlier.split()[:-1], later.split()
    agreed = 0
    for a, b in zip(first, second, strict=False):
        if _plain(a) != _plain(b):
            break
        agreed += 1
    return " ".join(second[:agreed])


def _plain(word: str) -> str:
    return "".join(c for c in word.casefold() if c.isalnum())


@dataclass(slots=True)
class SentenceDrafts:
    """The texts of the interims of one sentence (by its start in the stream), newest last."""

    start: int = -1
    texts: list[str] = field(default_factory=list)

    def add(self, start: int, text: str) -> None:
        if start != self.start:
            self.start, self.texts = start, []
        self.texts = [*self.texts[-1:], text]

    def prefix_for(self, start: int) -> str | None:
        """The settled opening of the sentence that starts at `start`, or None."""
        if start != self.start or len(self.texts) < 2:
            return None
        return settled_prefix(*self.texts) or None
