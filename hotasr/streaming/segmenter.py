"""Sentence boundaries from voice activity: a sentence ends after `max_sentence_silence` of silence.

Pure logic over speech probabilities, one per 512-sample window; positions are sample indices
from the start of the stream (16 kHz).
"""

from __future__ import annotations

from dataclasses import dataclass

from hotasr.audio import SAMPLE_RATE
from hotasr.streaming.vad import WINDOW

# Silence after which the final's decode starts ahead of the sentence's end: as soon as the
# padding kept after the speech (SegmenterConfig.pad_ms, 200) has arrived, since it is part of the audio.
PAUSE_MS = 200


@dataclass(frozen=True, slots=True)
class SegmenterConfig:
    max_sentence_silence_ms: int = 800
    threshold: float = 0.5  # speech starts above this
    neg_threshold: float = 0.35  # and counts as silence below this (hysteresis against flicker)
    pad_ms: int = 200  # audio kept around speech so word edges are not clipped
    min_speech_ms: int = 250  # shorter blips (clicks, breaths) are not sentences
    max_sentence_ms: int = 25_000  # Whisper sees 30 s at most: cut long monologues


@dataclass(frozen=True, slots=True)
class Segment:
    start: int  # first sample, padding included
    end: int  # one past the last sample


def ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def _samples(milliseconds: int) -> int:
    return milliseconds * SAMPLE_RATE // 1000


class Segmenter:
    def __init__(self, config: SegmenterConfig) -> None:
        self.config = config
        self.position = 0  # samples judged so far
        self.start: int | None = None  # start of the sentence being spoken, if any
        self._last_end = 0  # a sentence never starts inside the previous one's padding
        self._silence = 0  # samples of silence since the last speech window
        self._speech = 0  # speech samples in the current sentence
        self.silent_for = 0  # samples since the last speech window anywhere (heartbeat / idle rules)

    def push(self, probabilities: list[float] | object) -> list[Segment]:
        """Advance over new windows; returns the sentences they complete."""
        finished: list[Segment] = []
        cfg = self.config
        for p in probabilities:  # type: ignore[attr-defined]
            window_start = self.position
            self.position += WINDOW
            if self.start is None:
                if p >= cfg.threshold:
                    self.start = max(self._last_end, window_start - _samples(cfg.pad_ms))
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
            if self._silence >= _samples(cfg.max_sentence_silence_ms):
                segment = self._close(self._pause_end())
                if segment:
                    finished.append(segment)
            elif self.position - self.start >= _samples(cfg.max_sentence_ms):
                segment = self._close(self.position)
                if segment:
                    finished.append(segment)
                self.start = self.position  # speech goes on: the next sentence starts here
                self._speech = 0
        return finished

    @property
    def quiet_ms(self) -> int:
        """How long the speaker of the sentence in progress has been quiet (0 while speaking)."""
        return ms(self._silence)

    @property
    def in_pause(self) -> bool:
        """The speaker has been quiet for a while (a sentence may be about to end); shorter dips
        between words do not count."""
        return self._silence >= _samples(PAUSE_MS)

    @property
    def ending(self) -> Segment | None:
        """The sentence as it will close if the pause in progress lasts: known before it closes.

        Its audio is all here once the silence covers the padding, and it stays the same while
        the silence goes on (the end is the last speech plus padding), so a decode started now
        is the final's decode."""
        if self.start is None or not self.in_pause or self._silence < _samples(self.config.pad_ms):
            return None
        if ms(self._speech) < self.config.min_speech_ms:
            return None
        return Segment(self.start, self._clamped(self._pause_end()))

    def _pause_end(self) -> int:
        """Where the sentence ends if the pause in progress ends it: its last speech plus padding."""
        return self.position - self._silence + _samples(self.config.pad_ms)

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
        self.start = None
        self._silence = 0
        self._last_end = end
        if ms(speech) < self.config.min_speech_ms:
            return None
        return Segment(start, end)
