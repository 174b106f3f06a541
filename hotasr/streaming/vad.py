"""Streaming voice-activity detection with the Silero VAD model that ships inside faster-whisper.

faster-whisper runs Silero over a whole file at once; here the LSTM state and the 64-sample
context carry over between calls, so any chunking of the stream gives the same probabilities.

Silero alone keeps scoring a room's steady background noise as speech for up to half a second
after the last word (0.5-0.8 on the trailing noise of some LibriSpeech clips), and every final
waits that long on top of `max_sentence_silence`. So a window no louder than the stream's own
background counts as silence, whatever Silero says: the background is a low percentile of the
stream's recent window levels.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from faster_whisper.vad import get_vad_model

from hotasr.audio import SAMPLE_RATE

WINDOW = 512  # samples per decision at SAMPLE_RATE, 16 kHz (32 ms)
_CONTEXT = 64

QUIET_DB = 8.0  # a window within this much of the background level is not speech
_FLOOR_PERCENTILE = 5
# Windows of recent audio the background is judged from: 3 s follows a change of room (or of
# recording) within a sentence or two; over 10 s a quieter recording before it kept the floor too
# low for a noisier one after it.
_FLOOR_HISTORY = 3 * SAMPLE_RATE // WINDOW
_FLOOR_MIN_HISTORY = 2 * SAMPLE_RATE // WINDOW  # judged only once this much audio has been heard
_DIGITAL_SILENCE_DB = -90.0  # zeros (a muted or synthetic gap) say nothing about the room


def window_levels(windows: np.ndarray) -> np.ndarray:
    """Mean power of each row, in dB relative to full scale."""
    power = np.square(windows, dtype=np.float64).mean(axis=1)
    return 10 * np.log10(power + 1e-12)


class NoiseFloor:
    """The background level of one stream, from the levels of its recent windows."""

    def __init__(self) -> None:
        self._levels: deque[float] = deque(maxlen=_FLOOR_HISTORY)

    def update(self, levels: np.ndarray) -> float | None:
        """Take in new window levels; the background level in dBFS, or None while too little was heard."""
        self._levels.extend(float(v) for v in levels if v > _DIGITAL_SILENCE_DB)
        if len(self._levels) < _FLOOR_MIN_HISTORY:
            return None
        return float(np.percentile(np.fromiter(self._levels, np.float64), _FLOOR_PERCENTILE))


class StreamingVad:
    def __init__(self) -> None:
        self._session = get_vad_model().session  # one ONNX session per process, shared by streams
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)
        self._floor = NoiseFloor()

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability for each complete 512-sample window the new samples finish
        (0 for a window at the stream's background level)."""
        buffer = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        count = len(buffer) // WINDOW
        self._pending = buffer[count * WINDOW :]
        if count == 0:
            return np.zeros(0, np.float32)
        windows = buffer[: count * WINDOW].reshape(count, WINDOW)
        contexts = np.vstack([self._context[None, :], windows[:-1, -_CONTEXT:]])
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -_CONTEXT:].copy()
        probabilities = np.asarray(probs, np.float32).reshape(-1)
        levels = window_levels(windows)
        floor = self._floor.update(levels)
        if floor is not None:
            probabilities[levels < floor + QUIET_DB] = 0.0
        return probabilities
