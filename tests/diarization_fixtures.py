"""Real multi-speaker audio built at test time from two LibriSpeech voices (shared data)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from hotasr.audio import decode_audio
from tests.servers import SHARED

LIBRI = SHARED / "data" / "librispeech_test_subset" / "test-other"
# Two voices of LibriSpeech test-other: 1688 (male) and 1998 (female), 10 utterances each.
MAN = sorted(LIBRI.glob("1688-*.flac"))
WOMAN = sorted(LIBRI.glob("1998-*.flac"))


def speech(paths: list[Path], seconds: float) -> np.ndarray:
    """About `seconds` of one speaker: their utterances in order, cut at `seconds`."""
    out, total = [], 0
    for path in paths:
        samples = decode_audio(path).samples
        out.append(samples)
        total += len(samples)
        if total >= seconds * 16000:
            break
    return np.concatenate(out)[: int(seconds * 16000)]


def two_speaker_audio() -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """Man 10 s, woman 10 s, man 8 s (0.6 s of silence between turns) and those turns in ms."""
    gap = np.zeros(int(0.6 * 16000), np.float32)
    man, woman = speech(MAN, 18), speech(WOMAN, 10)
    parts = [(man[: 10 * 16000], "man"), (woman, "woman"), (man[10 * 16000 :], "man")]
    audio, turns, at = [], [], 0
    for samples, who in parts:
        audio += [samples, gap]
        turns.append((at, at + len(samples) // 16, who))
        at += (len(samples) + len(gap)) // 16
    return np.concatenate(audio), turns


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path
