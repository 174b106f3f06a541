"""Streaming voice-activity detection with the Silero VAD model that ships inside faster-whisper.

faster-whisper runs Silero over a whole file at once; here the LSTM state and the 64-sample
context carry over between calls, so any chunking of the stream gives the same probabilities.
"""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import get_vad_model

WINDOW = 512  # samples per decision at 16 kHz (32 ms)
_CONTEXT = 64


class StreamingVad:
    def __init__(self) -> None:
        self._session = get_vad_model().session  # one ONNX session per process, shared by streams
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability for each complete 512-sample window the new samples finish."""
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
        return np.asarray(probs, np.float32).reshape(-1)
