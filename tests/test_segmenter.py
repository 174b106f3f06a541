"""Sentence boundaries from voice activity (pure logic over speech probabilities): how much audio a
sentence keeps around its speech, and when its final's decode may start."""

from __future__ import annotations

import pytest

from hotasr.audio import SAMPLE_RATE
from hotasr.streaming.segmenter import LEAD_MS, PAUSE_MS, Segment, Segmenter, SegmenterConfig
from hotasr.streaming.vad import WINDOW

WINDOW_MS = WINDOW * 1000 // SAMPLE_RATE  # 32


def windows(ms: int, p: float) -> list[float]:
    return [p] * (ms // WINDOW_MS)


def at(ms: int) -> int:
    """The sample index of the VAD window boundary at `ms` (a multiple of 32 ms)."""
    return ms // WINDOW_MS * WINDOW


@pytest.mark.parametrize(("silence_ms", "tail_ms"), [(200, 200), (500, 200), (800, 200), (1000, 400), (1300, 700),
                                                     (6000, 700)])
def test_audio_kept_after_the_speech_leaves_the_final_room_to_decode(silence_ms: int, tail_ms: int) -> None:
    assert SegmenterConfig(max_sentence_silence_ms=silence_ms).tail_ms == tail_ms


def test_a_sentence_keeps_the_room_before_and_after_its_speech() -> None:
    seg = Segmenter(SegmenterConfig(max_sentence_silence_ms=1300))
    assert seg.push(windows(1600, 0.0) + windows(1600, 0.9)) == []
    assert seg.start == at(1600) - LEAD_MS * SAMPLE_RATE // 1000
    assert seg.onset == at(1600)
    closed = seg.push(windows(1344, 0.0))
    assert closed == [Segment(at(1600) - LEAD_MS * SAMPLE_RATE // 1000, at(3200) + 700 * SAMPLE_RATE // 1000)]


def test_the_audio_kept_before_a_sentence_never_reaches_into_the_one_before() -> None:
    seg = Segmenter(SegmenterConfig(max_sentence_silence_ms=800))  # tail 200 ms
    [first] = seg.push(windows(1600, 0.9) + windows(832, 0.0))
    seg.push(windows(640, 0.9))  # speech again right after the pause that ended the first, 0.83 s
    assert first.end == at(1600) + 200 * SAMPLE_RATE // 1000
    assert seg.start == first.end  # not LEAD_MS before the new speech, which would overlap it
    assert seg.onset == at(1600 + 832)


def test_the_final_can_start_once_the_tail_is_in() -> None:
    """A head start decodes the sentence as it will close: only once the audio kept after the
    speech has arrived, and then with the same end as the closed sentence."""
    seg = Segmenter(SegmenterConfig(max_sentence_silence_ms=1300))  # tail 700 ms
    seg.push(windows(640, 0.0) + windows(1600, 0.9))
    seg.push(windows(640, 0.0))
    assert seg.quiet_ms >= PAUSE_MS and seg.ending is None  # pausing, but the tail is not all here yet
    seg.push(windows(64, 0.0))
    ending = seg.ending
    assert ending is not None and ending.end == at(640 + 1600) + 700 * SAMPLE_RATE // 1000
    [closed] = seg.push(windows(640, 0.0))
    assert closed == ending
