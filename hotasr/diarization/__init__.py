"""Speaker diarization of recorded files: who spoke when (DashScope's `diarization_enabled`).

One module per stage:
    model       Resemblyzer's GE2E speaker encoder, read without torch and run in numpy
    speech      speech regions (Silero VAD from faster-whisper, edges grown by level)
    windows     fixed-length windows over the speech and their embeddings
    clustering  the speaker count given or estimated (eigengap), windows grouped by linkage
    smoothing   frame scores and Viterbi: from window labels to speaker turns
    assign      speaker ids on a transcript's sentences, split at speaker changes
Adapters call `diarize` and `label_transcript`; DashScope shapes stay in the adapters.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hotasr.diarization.assign import label_transcript
from hotasr.diarization.options import (
    MAX_SPEAKERS,
    MIN_SPEAKERS,
    Diarization,
    DiarizationOptions,
    SpeakerTurn,
)
from hotasr.engine.base import SAMPLE_RATE
from hotasr.transcript import Transcript

__all__ = [
    "MAX_SPEAKERS",
    "MIN_SPEAKERS",
    "Diarization",
    "DiarizationOptions",
    "SpeakerTurn",
    "diarize",
    "diarize_transcript",
    "label_transcript",
]

log = logging.getLogger(__name__)


def diarize(samples: np.ndarray, cache_dir: Path, options: DiarizationOptions | None = None) -> Diarization:
    """Speaker turns of float32 mono 16 kHz `samples`. Raises WeightsError without the model."""
    from hotasr.diarization.clustering import centered, cluster
    from hotasr.diarization.model import load_encoder
    from hotasr.diarization.smoothing import speaker_turns
    from hotasr.diarization.speech import speech_regions
    from hotasr.diarization.windows import embed_windows, plan_windows

    options = options or DiarizationOptions()
    encoder = load_encoder(cache_dir)  # first: a missing model fails before any work
    duration_ms = len(samples) * 1000 // SAMPLE_RATE
    regions = speech_regions(samples, options)
    windows = plan_windows(regions, duration_ms, options)
    embeddings = embed_windows(samples, windows, encoder, options)
    if options.center and len(embeddings) > 1:
        embeddings = centered(embeddings)
    labels, estimated = cluster(embeddings, options)
    turns = speaker_turns(regions, windows, embeddings, labels, options)
    count = len({t.speaker for t in turns})
    log.debug("diarization: %d regions, %d windows, %d speakers", len(regions), len(windows), count)
    return Diarization(tuple(turns), count, estimated)


def diarize_transcript(
    samples: np.ndarray, transcript: Transcript, cache_dir: Path, options: DiarizationOptions | None = None
) -> Transcript:
    """`transcript` with a speaker_id on every sentence, from diarizing the same `samples`."""
    options = options or DiarizationOptions()
    if not transcript.sentences:
        return transcript
    result = diarize(samples, cache_dir, options)
    return label_transcript(transcript, result.turns, options)
