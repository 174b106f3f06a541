"""Fixed-length windows over the speech regions and their speaker embeddings.

Why this module exists: GE2E embeds fixed-length stretches of audio; a speaker turn is found by
comparing the embeddings of overlapping windows, so the window plan decides the time resolution
(hop) and the cost (window / hop times the speech duration goes through the LSTM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from hotasr.diarization.model import HOP, SpeakerEncoder, mel_frames
from hotasr.diarization.options import DiarizationOptions

FRAME_MS = HOP * 1000 // 16000  # 10 ms per mel frame
_BATCH = 64


@dataclass(frozen=True, slots=True)
class Window:
    """Audio from start_ms (window_ms long) is embedded; it speaks for begin_ms..end_ms of speech."""

    start_ms: int
    begin_ms: int
    end_ms: int


def plan_windows(regions: list[tuple[int, int]], duration_ms: int, options: DiarizationOptions) -> list[Window]:
    size, hop = options.window_ms, options.hop_ms
    windows = []
    for begin, end in regions:
        if end - begin <= size:
            # One window centred on a short region (its neighbourhood is mostly silence).
            start = min(max(0, (begin + end - size) // 2), max(0, duration_ms - size))
            windows.append(Window(start, begin, end))
            continue
        starts = list(range(begin, end - size + 1, hop))
        if starts[-1] + size < end:
            starts.append(end - size)
        windows.extend(Window(s, s, s + size) for s in starts)
    return windows


def embed_windows(
    samples: np.ndarray, windows: list[Window], encoder: SpeakerEncoder, options: DiarizationOptions
) -> np.ndarray:
    """(len(windows), 256) embeddings; the mel frames of the whole file are computed once."""
    if not windows:
        return np.zeros((0, 256), np.float32)
    mel = mel_frames(samples)
    n = options.window_ms // FRAME_MS
    mel = np.pad(mel, ((0, n), (0, 0)))  # a window that reaches past the end sees silence
    starts = [w.start_ms // FRAME_MS for w in windows]
    out = []
    # One BLAS thread: the LSTM's products are small, and extra threads only spin against the
    # decoders (the `hotasr` command sets this for the whole process; a library caller may not).
    with threadpool_limits(1, user_api="blas"):
        for i in range(0, len(starts), _BATCH):
            batch = np.stack([mel[s : s + n] for s in starts[i : i + _BATCH]])
            out.append(encoder.embed(batch))
    return np.concatenate(out)
