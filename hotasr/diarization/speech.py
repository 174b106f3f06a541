"""Where someone speaks: Silero VAD (shipped inside faster-whisper), tuned for diarization.

Why this module exists: Whisper's own VAD settings keep long pauses inside segments (good for
recognition context); diarization wants tight regions, because silence embedded with speech
blurs the speaker embedding and counts as false alarm in DER.
"""

from __future__ import annotations

import numpy as np

from hotasr.diarization.options import DiarizationOptions
from hotasr.engine.base import SAMPLE_RATE

_DIGITAL_SILENCE_DB = -100.0
_NOISE_PERCENTILE = 10


def speech_regions(samples: np.ndarray, options: DiarizationOptions) -> list[tuple[int, int]]:
    """(begin_ms, end_ms) of each speech region of float32 16 kHz `samples`, in order."""
    if len(samples) < SAMPLE_RATE // 10:
        return []
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(
        threshold=options.vad_threshold,
        min_silence_duration_ms=options.vad_min_silence_ms,
        speech_pad_ms=options.vad_pad_ms,
        min_speech_duration_ms=options.min_region_ms,
    )
    spans = get_speech_timestamps(np.asarray(samples, dtype=np.float32), vad, sampling_rate=SAMPLE_RATE)
    regions = [(span["start"] * 1000 // SAMPLE_RATE, span["end"] * 1000 // SAMPLE_RATE) for span in spans]
    if options.edge_max_ms > 0:
        levels = frame_levels(samples)
        floor = noise_floor(levels) + options.edge_above_noise_db
        regions = extend_edges(levels, regions, floor, options.edge_max_ms)
    return joined(regions)


def joined(regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Regions in order with those that touch or overlap (after padding) made one."""
    out: list[tuple[int, int]] = []
    for begin, end in regions:
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        elif end > begin:
            out.append((begin, end))
    return out


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """Level in dB of each 10 ms frame (mean power)."""
    step = SAMPLE_RATE // 100
    n = len(samples) // step
    frames = np.asarray(samples[: n * step], dtype=np.float32).reshape(n, step)
    return 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def noise_floor(levels: np.ndarray) -> float:
    """The file's background level: a low percentile of its frame levels, digital silence left out
    (edited or synthetic audio has stretches of exact zeros, which are no room's background)."""
    audible = levels[levels > _DIGITAL_SILENCE_DB]
    return float(np.percentile(audible, _NOISE_PERCENTILE)) if len(audible) else _DIGITAL_SILENCE_DB


def extend_edges(
    levels: np.ndarray, regions: list[tuple[int, int]], floor_db: float, max_ms: int
) -> list[tuple[int, int]]:
    """Each region grown outwards, by at most `max_ms` a side, over consecutive frames louder than
    `floor_db`. Silero decides late that speech has begun and early that it has ended (soft onsets,
    breaths, trailing consonants); audio that still stands out from the background is the speaker's."""
    out = []
    limit = max_ms // 10
    for begin, end in regions:
        first, last = begin // 10, min(max(end // 10, begin // 10 + 1), len(levels))
        b = first
        while b > max(0, first - limit) and levels[b - 1] >= floor_db:
            b -= 1
        e = last
        while e < min(len(levels), last + limit) and levels[e] >= floor_db:
            e += 1
        out.append((min(begin, b * 10), max(end, e * 10)))
    return out
