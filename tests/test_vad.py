"""Voice activity for sentence ends: Silero's probabilities, where the stream's own background
level counts as silence (real speech with its real room noise)."""

from __future__ import annotations

import numpy as np
import pytest

from hotasr.audio import SAMPLE_RATE, decode_audio
from hotasr.streaming import vad
from hotasr.streaming.segmenter import Segmenter, SegmenterConfig
from hotasr.streaming.vad import WINDOW, NoiseFloor, StreamingVad, window_levels
from tests.engine_fixtures import DATA, need

# 4.8 s of speech whose trailing room noise (−45..−49 dBFS) Silero scores 0.5-0.8.
NOISY_TAIL = DATA / "librispeech_test_subset" / "test-clean" / "1221-135766-0002.wav"
SILENCE_MS = 500


def speech_end(samples: np.ndarray) -> int:
    """One past the last window clearly (20 dB) louder than the quietest ones: where the words stop."""
    count = len(samples) // WINDOW
    levels = window_levels(samples[: count * WINDOW].reshape(count, WINDOW))
    loud = np.nonzero(levels > np.percentile(levels, 5) + 20)[0]
    return (int(loud[-1]) + 1) * WINDOW


def sentence_closed_at(samples: np.ndarray) -> list[int]:
    """Where, in the stream, each sentence was known to be over (100 ms frames, as a client sends)."""
    detector, segmenter = StreamingVad(), Segmenter(SegmenterConfig(max_sentence_silence_ms=SILENCE_MS))
    frame = SAMPLE_RATE // 10
    return [min(offset + frame, len(samples))
            for offset in range(0, len(samples), frame)
            for _ in segmenter.push(detector(samples[offset : offset + frame]))]


@pytest.fixture(scope="module")
def speech_then_room() -> np.ndarray:
    """The clip, then the room as it goes on after the speaker stops: its last 0.3 s, five times."""
    samples = decode_audio(need(NOISY_TAIL)).samples
    return np.concatenate([samples, np.tile(samples[-SAMPLE_RATE * 3 // 10 :], 5)])


def test_room_noise_after_the_last_word_counts_as_silence(speech_then_room: np.ndarray) -> None:
    closed = sentence_closed_at(speech_then_room)
    assert len(closed) == 1
    waited_s = (closed[0] - speech_end(speech_then_room)) / SAMPLE_RATE
    assert SILENCE_MS / 1000 <= waited_s <= SILENCE_MS / 1000 + 0.2


def test_silero_alone_hears_the_room_as_speech(speech_then_room: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the background rule exists: without it, 1.5 s of this room after the last word do not
    end the sentence at all."""
    monkeypatch.setattr(vad, "QUIET_DB", -np.inf)
    assert sentence_closed_at(speech_then_room) == []


def test_digital_silence_does_not_count_as_the_background() -> None:
    """Zeros (a muted microphone, a synthetic gap) are left out of the background level, or any
    sound at all would stand above it."""
    floor = NoiseFloor()
    assert floor.update(np.full(200, -200.0)) is None
    assert floor.update(np.full(40, -50.0)) is None  # under two seconds of real sound so far
    assert floor.update(np.full(40, -50.0)) == pytest.approx(-50.0)
    assert floor.update(np.full(20, -20.0)) == pytest.approx(-50.0)


def test_speech_after_a_muted_start_is_one_sentence() -> None:
    samples = decode_audio(need(NOISY_TAIL)).samples
    closed = sentence_closed_at(np.concatenate([np.zeros(3 * SAMPLE_RATE, np.float32), samples,
                                                np.zeros(SAMPLE_RATE, np.float32)]))
    assert len(closed) == 1
