"""A long sentence decoded in chunks cut at the speaker's pauses, so that its final costs no more
than a short one's.

A sentence's final decodes its whole audio, and Whisper's cost grows with the audio: the encoder's
window and every decoding step's cross-attention. A 16.7 s sentence's final took 0.7-1.1 s on two
cores, its interims 0.5-1.45 s. But a speaker who talks that long pauses inside the sentence, and
at such a pause the session has already decoded the sentence so far (the head start of a final
that the pause might have been). Once that much is long enough to stand on its own, its decode is
kept as a chunk when the speaker goes on; what follows is decoded from the chunk's end, with the
chunks' text as Whisper's previous-text prompt, and the final joins them. No word crosses a chunk's
cut: it lies in a pause of at least `PAUSE_MS`, and what follows is decoded from a little before
the cut, so that a word begun softly right after the pause keeps its onset.

An option, off by default (`Settings.realtime_chunks`): in the paced accuracy bench it cost about
0.6 points of real-time WER without a vocabulary and 0.4 with one, all of it in the sentences it
cut (bench/HISTORY.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotasr.streaming.segmenter import Segment, ms, to_samples
from hotasr.transcript import SENTENCE_END, Transcript

# A chunk shorter than this would leave Whisper too little of the sentence to read it by.
CHUNK_MIN_MS = 10_000
# A chunk ends with the audio kept after its last speech (the segmenter's tail, 200 ms or more);
# what follows is decoded from 150 ms before that end.
LEAD_IN = to_samples(150)


@dataclass(frozen=True, slots=True)
class Chunk:
    start: int  # stream samples
    end: int
    transcript: Transcript  # times relative to `start`


@dataclass(slots=True)
class SentenceChunks:
    """The chunks of the sentence being spoken (by its start in the stream), in order."""

    sentence: int = -1
    chunks: list[Chunk] = field(default_factory=list)

    def decode_from(self, segment: Segment) -> int:
        """Where a decode of `segment` starts: just before the end of its sentence's last chunk
        inside it, or at its start."""
        if segment.start != self.sentence:
            return segment.start
        return max([segment.start, *(c.end - LEAD_IN for c in self.chunks if c.end < segment.end)])

    def worth_a_chunk(self, segment: Segment) -> bool:
        """Whether `segment`'s audio after its sentence's chunks is long enough to become one."""
        return ms(segment.end - self.decode_from(segment)) >= CHUNK_MIN_MS

    def add(self, segment: Segment, start: int, transcript: Transcript) -> None:
        """Keep the decode of `segment` from `start` as its sentence's next chunk (if it is that)."""
        if segment.start != self.sentence:
            self.sentence, self.chunks = segment.start, []
        if start == self.decode_from(segment):
            self.chunks.append(Chunk(start, segment.end, transcript))

    def context(self, segment: Segment, start: int) -> str | None:
        """The text spoken in `segment`'s sentence before `start`: the prompt of a decode from there.

        Without the full stop the chunk's own decode put where its audio ended: the speaker went on.
        """
        text = " ".join(s.text for c in self._before(segment, start) for s in c.transcript.sentences)
        return text.rstrip("".join(SENTENCE_END)) or None

    def joined(self, segment: Segment, start: int, tail: Transcript) -> Transcript:
        """`tail`, decoded from `start`, after the chunks before it; times relative to `segment.start`."""
        chunks = [*self._before(segment, start), Chunk(start, segment.end, tail)]
        if len(chunks) == 1 and start == segment.start:
            return tail
        sentences = [s.shifted(ms(c.start - segment.start)) for c in chunks for s in c.transcript.sentences]
        warnings = list(dict.fromkeys(w for c in chunks for w in c.transcript.warnings))
        language = next((c.transcript.language for c in chunks if c.transcript.sentences), tail.language)
        return Transcript(sentences, language, ms(segment.end - segment.start), warnings)

    def _before(self, segment: Segment, start: int) -> list[Chunk]:
        if segment.start != self.sentence:
            return []
        return [c for c in self.chunks if c.end - LEAD_IN <= start]
