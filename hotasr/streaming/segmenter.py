"""Sentence boundaries from voice activity: a sentence ends after `max_sentence_silence` of silence.

Pure logic over speech probabilities, one per 512-sample window; positions are sample indices
from the start of the stream (16 kHz).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hotasr.audio import SAMPLE_RATE
from hotasr.streaming.vad import WINDOW

# The least audio kept after a sentence's speech (its last word's edge), and so the shortest pause
# at which the final's decode starts ahead of the sentence's end: once the tail has arrived.
PAUSE_MS = 200
# Audio kept around a sentence's speech. Whisper reads a sentence's first and last words better
# with some of the room around them: on LibriSpeech, biased finals cut 700 ms out rather than
# 200 ms out found as many hotwords as recorded files, give or take one of 136 (BENCHMARKS.md §3).
# After the speech it is kept only where the final would wait for it anyway: it must arrive
# before the final's decode can start, and at least FINAL_ROOM_MS of the sentence-ending silence
# is left for that decode.
LEAD_MS = 700
MAX_TAIL_MS = 700
FINAL_ROOM_MS = 600


@dataclass(frozen=True, slots=True)
class SegmenterConfig:
    max_sentence_silence_ms: int = 800
    threshold: float = 0.5  # speech starts above this
    neg_threshold: float = 0.35  # and counts as silence below this (hysteresis against flicker)
    lead_ms: int = LEAD_MS  # audio kept before the speech (never reaching into the previous sentence)
    min_speech_ms: int = 250  # shorter blips (clicks, breaths) are not sentences
    max_sentence_ms: int = 25_000  # Whisper sees 30 s at most: cut long monologues

    @property
    def tail_ms(self) -> int:
        """Audio kept after the speech: 200 ms (word edges) up to MAX_TAIL_MS, as the sentence-ending
        silence allows (1300 ms, fun-asr's default: 700; 800 ms, paraformer's: 200)."""
        return min(MAX_TAIL_MS, max(PAUSE_MS, self.max_sentence_silence_ms - FINAL_ROOM_MS))


@dataclass(frozen=True, slots=True)
class Segment:
    start: int  # first sample, the audio kept before the speech included
    end: int  # one past the last sample


def ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def to_samples(milliseconds: int) -> int:
    return milliseconds * SAMPLE_RATE // 1000


class Segmenter:
    def __init__(self, config: SegmenterConfig) -> None:
        self.config = config
        self.position = 0  # samples judged so far
        self.start: int | None = None  # start of the sentence being spoken, if any
        self.onset: int | None = None  # where its speech began (start + the audio kept before it)
        self._last_end = 0  # a sentence never starts inside the previous one's audio
        self._silence = 0  # samples of silence since the last speech window
        self._speech = 0  # speech samples in the current sentence
        self.silent_for = 0  # samples since the last speech window anywhere (heartbeat / idle rules)

    def push(self, probabilities: Iterable[float]) -> list[Segment]:
        """Advance over new windows; returns the sentences they complete."""
        finished: list[Segment] = []
        cfg = self.config
        for p in probabilities:
            window_start = self.position
            self.position += WINDOW
            if self.start is None:
                if p >= cfg.threshold:
                    self.start = max(self._last_end, window_start - to_samples(cfg.lead_ms))
                    self.onset = window_start
                    self._silence, self._speech, self.silent_for = 0, WINDOW, 0
                else:
                    self.silent_for += WINDOW
                continue
            if p < cfg.neg_threshold:
                self._silence += WINDOW
                self.silent_for += WINDOW
            else:
                self._speech += WINDOW
                self._silence = 0
                self.silent_for = 0
            if self._silence >= to_samples(cfg.max_sentence_silence_ms):
                segment = self._close(self._pause_end())
                if segment:
                    finished.append(segment)
            elif self.position - self.start >= to_samples(cfg.max_sentence_ms):
                segment = self._close(self.position)
                if segment:
                    finished.append(segment)
                self.start = self.onset = self.position  # speech goes on: the next sentence starts here
                self._speech = 0
        return finished

    @property
    def quiet_ms(self) -> int:
        """How long the speaker of the sentence in progress has been quiet (0 while speaking)."""
        return ms(self._silence)

    @property
    def ending(self) -> Segment | None:
        """The sentence as it will close if the pause in progress lasts: known before it closes.

        Its audio is all here once the silence covers the tail, and it stays the same while the
        silence goes on (the end is the last speech plus the tail), so a decode started now is the
        final's decode. The tail (PAUSE_MS at least) is also what tells a pause from the dips
        between words."""
        if self.start is None or self._silence < to_samples(self.config.tail_ms):
            return None
        if ms(self._speech) < self.config.min_speech_ms:
            return None
        return Segment(self.start, self._clamped(self._pause_end()))

    def _pause_end(self) -> int:
        """Where the sentence ends if the pause in progress ends it: its last speech plus the tail."""
        return self.position - self._silence + to_samples(self.config.tail_ms)

    def _clamped(self, end: int) -> int:
        assert self.start is not None
        return min(max(end, self.start), self.position)

    def flush(self) -> Segment | None:
        """End of stream: close the sentence being spoken."""
        if self.start is None:
            return None
        return self._close(self.position)

    def _close(self, end: int) -> Segment | None:
        assert self.start is not None
        start, speech, end = self.start, self._speech, self._clamped(end)
        self.start = self.onset = None
        self._silence = 0
        self._last_end = end
        if ms(speech) < self.config.min_speech_ms:
            return None
        return Segment(start, end)
