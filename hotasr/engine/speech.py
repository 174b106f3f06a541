"""Where the sentences of a recording are: speech segments found by Silero VAD (faster-whisper's).

A recording that may switch languages has each segment's language detected, and neighbouring
segments of one language decoded together (`WhisperEngine._decode_sentences`): a segment must not
run across a change of language, so segments end at pauses a speaker leaves between sentences
(300 ms), far shorter than faster-whisper's own VAD (2 s), which only cuts out silence. Segments
stay short enough for a fitted encoder window (audio + 5 s margin within Whisper's 30 s).
"""

from __future__ import annotations

import numpy as np

from hotasr.engine.base import SAMPLE_RATE

MIN_PAUSE_MS = 300
# Kept around each segment: the VAD cuts into the last syllable ("健康数据" ended at "健"), and
# Whisper reads a sentence's first words better with some of the quiet before them. Chosen on the
# bilingual tuning set over six draws of its pauses, among 200, 300, 450 and 600 (BENCHMARKS.md §5.3).
PAD_MS = 450
MAX_SEGMENT_S = 24.0
MIN_SPEECH_MS = 200  # clicks and breaths shorter than this are not speech


def speech_segments(samples: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) sample ranges of the speech in `samples`, in order; no speech: empty."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_silence_duration_ms=MIN_PAUSE_MS,
        speech_pad_ms=PAD_MS,
        max_speech_duration_s=MAX_SEGMENT_S,
        min_speech_duration_ms=MIN_SPEECH_MS,
    )
    chunks = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    return [(int(c["start"]), int(c["end"])) for c in chunks]
