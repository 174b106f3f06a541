"""In-process transcription, the library API: `hotasr.transcribe("call.wav", hotwords=[...])`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from hotasr.audio import EMPTY, SAMPLE_RATE, AudioError, AudioLimits, decode_audio, resample
from hotasr.catalog import get_model
from hotasr.config import Settings
from hotasr.engine import BiasingMode
from hotasr.hotwords import Hotword, parse_hotword_list
from hotasr.recognize import ModelNotServed, recognize
from hotasr.transcript import Transcript

if TYPE_CHECKING:  # imported only when diarization is asked for
    from hotasr.diarization import DiarizationOptions

AudioInput = str | os.PathLike[str] | bytes | bytearray | BinaryIO | np.ndarray


def transcribe(
    audio: AudioInput,
    *,
    hotwords: Sequence[dict[str, Any] | Hotword] | None = None,
    model: str = "fun-asr",
    language: str | None = None,
    settings: Settings | None = None,
    biasing: BiasingMode = "hotasr",
    progress: Callable[[float], None] | None = None,
    channel: int | None = None,
    sample_rate: int = SAMPLE_RATE,
    diarize: bool = False,
    speaker_count: int | None = None,
) -> Transcript:
    """Transcribe one recording.

    audio: a path, the bytes of a file in any format FFmpeg reads, a binary file object, or a
        float32 mono numpy array at `sample_rate` (16 kHz by default).
    hotwords: `[{"text": ..., "weight": 1-5, "lang": ...}]`, validated by DashScope's rules for the
        family of `model` (raises hotasr.hotwords.HotwordError).
    language: the language spoken; also acts like DashScope's language_hints, so hotwords with
        another `lang` are skipped (with a warning).
    channel: for multi-channel files, which channel to transcribe (default: a downmix).
    diarize: label every sentence with a `speaker_id` (0, 1, ...), splitting sentences where the
        speaker changes; `speaker_count` (2-100) fixes the number of speakers, else it is estimated.

    Raises hotasr.audio.AudioError for unreadable audio, or audio past the limits of `settings`
    (max_audio_seconds, max_audio_channels, ...), and ModelNotServed for unknown models. Files are
    decoded in a child process, so a file that crashes FFmpeg raises AudioError(DECODE_CRASHED)
    instead of ending this process. Audio without speech gives no sentences and a warning.
    """
    settings = settings or Settings()
    options = _diarization_options(diarize, speaker_count)
    info = get_model(model)
    if info is None:
        raise ModelNotServed(model, f"model {model!r} is not a known model name")
    terms = _parse_hotwords(hotwords, info.hotword_langs, settings.max_terms_per_vocabulary)

    limits = AudioLimits.from_settings(settings)
    warnings: list[str] = []
    if isinstance(audio, np.ndarray):
        samples = _array_samples(audio, sample_rate, limits)
    else:
        # Probed and decoded in a child process: a file that crashes FFmpeg raises AudioError here.
        decoded = decode_audio(audio, channel=channel, limits=limits)
        samples, warnings = decoded.samples, decoded.warnings

    transcript = recognize(
        samples,
        model=model,
        settings=settings,
        hotwords=terms,
        language_hints=[language] if language else None,
        biasing=biasing,
        progress=progress,
        speech_gate=True,
    )
    transcript.warnings[:0] = warnings
    if options is not None:
        from hotasr.diarization import diarize_transcript

        transcript = diarize_transcript(samples, transcript, settings.model_cache_dir, options)
    return transcript


def _diarization_options(diarize: bool, speaker_count: int | None) -> DiarizationOptions | None:
    if not diarize:
        if speaker_count is not None:
            raise ValueError("speaker_count only applies with diarize=True")
        return None
    from hotasr.diarization import DiarizationOptions

    return DiarizationOptions(speaker_count)  # ValueError names a bad speaker_count


def _array_samples(audio: np.ndarray, sample_rate: int, limits: AudioLimits) -> np.ndarray:
    """A caller's float32 mono array at `sample_rate`, checked against the limits files get, at 16 kHz."""
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"a numpy audio array must be mono (1-D), got shape {samples.shape}")
    # The same limits as files: a 1 Hz "rate" would make resampling allocate 16,000 times the input.
    limits.check_header("the audio array", channels=1, sample_rate=sample_rate,
                        seconds=len(samples) / sample_rate if sample_rate > 0 else None)
    if not len(samples):
        raise AudioError(EMPTY, "the audio array is empty (0 samples)")
    return resample(samples, sample_rate, SAMPLE_RATE)


def _parse_hotwords(
    hotwords: Sequence[dict[str, Any] | Hotword] | None, langs: frozenset[str], max_terms: int
) -> list[Hotword]:
    if not hotwords:
        return []
    items = [h.to_dict() if isinstance(h, Hotword) else h for h in hotwords]
    return parse_hotword_list(items, allowed_langs=langs, max_terms=max_terms)
