"""Which words of a sentence being spoken are settled: what two successive interims agree on.

A real-time final decodes its whole sentence again. Most of it was already decoded by the
interims, and where two of them, made on different lengths of audio, read the same opening words,
those words rarely change with more audio (the "local agreement" policy of streaming Whisper). The
final takes them as a prefix and generates only the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotasr.transcript import looks_like_a_loop


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


# Settled words must come from drafts that heard enough of the sentence: drafts of a second or two
# read its opening words wrong and alike ("Desire and they say" for "There's iron they say").
MIN_SETTLING_MS = 3000


@dataclass(slots=True)
class SentenceDrafts:
    """The interims of one sentence (by its start in the stream): (audio ms, text), newest last."""

    start: int = -1
    drafts: list[tuple[int, str]] = field(default_factory=list)

    def add(self, start: int, audio_ms: int, text: str) -> None:
        if start != self.start:
            self.start, self.drafts = start, []
        # A looping draft would settle its loop for every decode after it ("replied he replied
        # he ..." grew to 221 words in one measured final): it settles nothing, nor does the next.
        self.drafts = [] if looks_like_a_loop(text) else [*self.drafts[-1:], (audio_ms, text)]

    def prefix_for(self, start: int) -> str | None:
        """The settled opening of the sentence that starts at `start`, or None."""
        if start != self.start or len(self.drafts) < 2 or self.drafts[0][0] < MIN_SETTLING_MS:
            return None
        return settled_prefix(self.drafts[0][1], self.drafts[1][1]) or None
