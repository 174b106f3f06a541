"""Where someone speaks: Silero VAD (shipped inside faster-whisper), tuned for diarization.

Why this module exists: Whisper's own VAD settings keep long pauses inside segments (good for
recognition context); diarization wants tight regions, because silence embedded with speech
blurs the speaker embedding and counts as false alarm in DER.
"""

from __future__ import annotations

import numpy as np

from hotasr.diarization.options import DiarizationOptions
from hotasr.engine.base import SAMPLE_RATE


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
    regions: list[tuple[int, int]] = []
    for span in spans:
        begin, end = span["start"] * 1000 // SAMPLE_RATE, span["end"] * 1000 // SAMPLE_RATE
        if regions and begin <= regions[-1][1]:  # padding made them touch
            regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
        elif end > begin:
            regions.append((begin, end))
    return regions
