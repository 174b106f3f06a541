"""When a real-time session asks for interim decodes: real speech through the real voice-activity
detector, with a recognizer that records what it is asked to decode (the scheduling is under test
here; the real model's part is covered end to end in test_realtime.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from hotasr.audio import SAMPLE_RATE
from hotasr.engine import DecodeCancelled
from hotasr.streaming.agreement import MIN_SETTLING_MS, SentenceDrafts, settled_prefix
from hotasr.streaming.segmenter import SegmenterConfig
from hotasr.streaming.session import RealtimeSession, Recognize, SentenceEvent, StreamFailed, StreamOptions
from hotasr.transcript import Sentence, Transcript
from tests.engine_fixtures import jfk_samples  # noqa: F401  (fixture)

FRAME = SAMPLE_RATE // 10  # 100 ms, as clients send it


def drafts_requested(samples: np.ndarray, options: StreamOptions) -> tuple[list[int], list[int]]:
    """(length of each draft decode, length of each final decode), in samples."""
    drafts: list[int] = []
    finals: list[int] = []

    def recognize(
        audio: np.ndarray, draft: bool, language: str | None, prefix: str | None, cancelled: Callable[[], bool]
    ) -> Transcript:
        (drafts if draft else finals).append(len(audio))
        return Transcript([], "en", len(audio) * 1000 // SAMPLE_RATE, [])

    play(samples, options, recognize)
    return drafts, finals


def play(samples: np.ndarray, options: StreamOptions, recognize: Recognize) -> None:
    """Stream `samples` through a session in 100 ms frames, then finish it (results unseen)."""

    async def emit(event: SentenceEvent | StreamFailed) -> None:
        pass

    async def stream() -> None:
        with ThreadPoolExecutor(1) as pool:
            session = RealtimeSession(options, recognize, pool, emit)
            for offset in range(0, len(samples), FRAME):
                await session.feed(samples[offset : offset + FRAME])
                await asyncio.sleep(0.02)  # lets the instant "decode" finish, so the stream is idle
            await session.finish()

    asyncio.run(stream())


def test_first_interim_comes_early_and_later_ones_at_the_interval(jfk_samples: np.ndarray) -> None:  # noqa: F811
    speech = jfk_samples[: 6 * SAMPLE_RATE]  # "And so, my fellow Americans, ask not ...": three sentences
    drafts, finals = drafts_requested(speech, StreamOptions(first_interim_ms=400, interim_interval_ms=800))
    ms = [n * 1000 // SAMPLE_RATE for n in drafts]
    # One final decode a sentence, and a head start at the 0.26 s pause inside "ask not ... what".
    assert len(finals) == 4
    # Each sentence's drafts grow from its start; a shorter one begins the next sentence.
    firsts = [m for i, m in enumerate(ms) if i == 0 or m < ms[i - 1]]
    assert len(firsts) == 3
    # 400 ms of sentence audio, give or take a frame and a VAD window.
    assert all(400 <= m < 400 + 100 + 32 + 1 for m in firsts)
    gaps = [b - a for a, b in itertools.pairwise(ms) if b > a]
    assert gaps and all(gap >= 800 for gap in gaps)


def test_first_interim_waits_longer_when_configured(jfk_samples: np.ndarray) -> None:  # noqa: F811
    drafts, _ = drafts_requested(jfk_samples[: 6 * SAMPLE_RATE], StreamOptions(first_interim_ms=1200))
    assert drafts and drafts[0] * 1000 // SAMPLE_RATE >= 1200


def test_final_is_decoded_during_the_pause_that_ends_the_sentence(jfk_samples: np.ndarray) -> None:  # noqa: F811
    """The final's decode starts once the speaker pauses, not when the pause has lasted long enough
    to end the sentence; its result is the final, and the audio is not decoded a second time."""
    options = StreamOptions(segmenter=SegmenterConfig(max_sentence_silence_ms=1500), first_interim_ms=10_000)
    fed_ms = 0
    decodes: list[tuple[int, int]] = []  # (audio ms, stream ms fed when the decode was asked for)
    finals: list[SentenceEvent] = []

    def recognize(
        audio: np.ndarray, draft: bool, language: str | None, prefix: str | None, cancelled: Callable[[], bool]
    ) -> Transcript:
        length = len(audio) * 1000 // SAMPLE_RATE
        decodes.append((length, fed_ms))
        return Transcript([Sentence(0, length, f"decode {len(decodes)}")], "en", length, [])

    async def emit(event: SentenceEvent | StreamFailed) -> None:
        if isinstance(event, SentenceEvent) and event.final:
            finals.append(event)

    async def stream() -> None:
        nonlocal fed_ms
        speech = np.concatenate([jfk_samples[: 6 * SAMPLE_RATE], np.zeros(2 * SAMPLE_RATE, np.float32)])
        with ThreadPoolExecutor(1) as pool:
            session = RealtimeSession(options, recognize, pool, emit)
            for offset in range(0, len(speech), FRAME):
                fed_ms += 100
                await session.feed(speech[offset : offset + FRAME])
                await asyncio.sleep(0.02)
            await session.finish()

    asyncio.run(stream())
    assert finals
    for final in finals:
        number = int(final.text.split()[-1])
        length, asked_at = decodes[number - 1]
        assert length == final.end_ms - final.begin_ms
        # Asked for before the 1.5 s of silence that closes the sentence were in (the last 200 ms
        # of the sentence are padding after its speech).
        assert asked_at < final.end_ms - 200 + 1500
        assert [d for d in decodes if d[0] == length] == [(length, asked_at)]  # decoded once


def test_no_interim_once_the_speaker_goes_quiet(jfk_samples: np.ndarray) -> None:  # noqa: F811
    """A refresh asked for as a sentence ends would hold up its final (decodes of a stream run one
    at a time): none is asked once the speaker has been quiet for about a tenth of a second."""
    quiet_when_asked: list[int] = []
    session: RealtimeSession | None = None

    def recognize(
        audio: np.ndarray, draft: bool, language: str | None, prefix: str | None, cancelled: Callable[[], bool]
    ) -> Transcript:
        assert session is not None
        if draft:  # runs before the next frame is fed: the segmenter is as it was when asked
            quiet_when_asked.append(session._segmenter.quiet_ms)
        return Transcript([], "en", len(audio) * 1000 // SAMPLE_RATE, [])

    async def emit(event: SentenceEvent | StreamFailed) -> None:
        pass

    async def stream() -> None:
        nonlocal session
        with ThreadPoolExecutor(1) as pool:
            every_frame = StreamOptions(first_interim_ms=100, interim_interval_ms=100)  # unless held back
            session = RealtimeSession(every_frame, recognize, pool, emit)
            for offset in range(0, 8 * SAMPLE_RATE, FRAME):
                await session.feed(jfk_samples[offset : offset + FRAME])
                await asyncio.sleep(0.02)
            await session.finish()

    asyncio.run(stream())
    assert len(quiet_when_asked) > 20
    assert max(quiet_when_asked) < 100


def test_the_interim_running_when_its_sentence_ends_is_stopped(jfk_samples: np.ndarray) -> None:  # noqa: F811
    """Decodes of a stream run one at a time: an interim still running when the speaker stops would
    hold up the final. It is told to stop once the final is queued, and the final follows."""
    drafts: list[str] = []  # how each draft decode ended
    finals: list[SentenceEvent] = []

    def recognize(
        audio: np.ndarray, draft: bool, language: str | None, prefix: str | None, cancelled: Callable[[], bool]
    ) -> Transcript:
        length = len(audio) * 1000 // SAMPLE_RATE
        if draft:  # a slow interim: it would run for 5 s unless stopped
            for _ in range(500):
                if cancelled():
                    drafts.append("stopped")
                    raise DecodeCancelled("stopped")
                time.sleep(0.01)
            drafts.append("ran to the end")
        return Transcript([Sentence(0, length, "words")], "en", length, [])

    async def emit(event: SentenceEvent | StreamFailed) -> None:
        if isinstance(event, SentenceEvent) and event.final:
            finals.append(event)

    async def stream() -> None:
        speech = np.concatenate([jfk_samples[: 6 * SAMPLE_RATE], np.zeros(SAMPLE_RATE, np.float32)])
        with ThreadPoolExecutor(2) as pool:
            session = RealtimeSession(StreamOptions(), recognize, pool, emit)
            for offset in range(0, len(speech), FRAME):
                await session.feed(speech[offset : offset + FRAME])
                await asyncio.sleep(0.02)
            await session.finish()

    asyncio.run(stream())
    assert len(finals) == 3  # "And so, my fellow Americans, ask not ...": three sentences
    assert drafts and set(drafts) == {"stopped"}


def prefixes_given(
    samples: np.ndarray, options: StreamOptions
) -> tuple[list[tuple[str | None, list[tuple[int, str]]]], list[str | None]]:
    """(prefix a final was given, its sentence's drafts before it as (audio ms, text)) per final
    decode, and the prefix each draft decode was given.

    Drafts read one made-up word per 250 ms of audio, and a ragged last word (as a draft cut in the
    middle of a word would); a draft shorter than the one before starts a new sentence."""
    finals: list[tuple[str | None, list[tuple[int, str]]]] = []
    drafts: list[tuple[int, str]] = []
    draft_prefixes: list[str | None] = []

    def recognize(
        audio: np.ndarray, draft: bool, language: str | None, prefix: str | None, cancelled: Callable[[], bool]
    ) -> Transcript:
        length = len(audio) * 1000 // SAMPLE_RATE
        text = " ".join(f"w{i}" for i in range(1, length // 250 + 1))
        if draft:
            text += " ragg-"
            draft_prefixes.append(prefix)
            if drafts and length < drafts[-1][0]:
                drafts.clear()
            drafts.append((length, text))
        else:
            finals.append((prefix, list(drafts)))
        return Transcript([Sentence(0, length, text)], "en", length, [])

    play(samples, options, recognize)
    return finals, draft_prefixes


def test_a_final_reads_what_its_last_two_interims_agree_on(jfk_samples: np.ndarray) -> None:  # noqa: F811
    often = StreamOptions(first_interim_ms=200, interim_interval_ms=300)
    finals, draft_prefixes = prefixes_given(jfk_samples, often)
    with_prefix = [(prefix, drafts) for prefix, drafts in finals if prefix]
    assert len(with_prefix) >= 2
    for prefix, drafts in finals:
        if len(drafts) < 2 or drafts[-2][0] < MIN_SETTLING_MS:
            assert prefix is None
            continue
        # The earlier draft's words less its ragged last one: the later draft has all of them.
        assert prefix == drafts[-2][1].removesuffix(" ragg-")
    assert not any(draft_prefixes)  # interims decode from scratch
    # Off by configuration: every decode starts from scratch.
    finals, draft_prefixes = prefixes_given(jfk_samples, replace(often, settled_prefix=False))
    assert finals and all(prefix is None for prefix, _ in finals) and not any(draft_prefixes)


def test_settled_words_are_those_two_drafts_share_before_the_earlier_ones_cut() -> None:
    assert settled_prefix("the cat sa", "the cat sat on the") == "the cat"
    assert settled_prefix("the cat sat on", "the hat sat on the mat") == "the"
    assert settled_prefix("The cat, sat on", "the cat sat. On the mat") == "the cat sat."  # as the later has it
    assert settled_prefix("the cats sat on", "the cat sat on the mat") == "the"  # spelling counts
    assert settled_prefix("the cat sat on the", "the cat sat") == "the cat sat"
    assert settled_prefix("hello", "hello world") == ""
    assert settled_prefix("", "hello world") == ""


def test_a_looping_draft_settles_nothing_nor_do_short_ones() -> None:
    drafts = SentenceDrafts()
    drafts.add(0, 2000, "replied he")
    drafts.add(0, 3200, "replied he replied")
    assert drafts.prefix_for(0) is None  # the earlier one heard too little
    drafts.add(0, 4000, "replied he replied he")
    assert drafts.prefix_for(0) == "replied he"
    drafts.add(0, 4800, "replied he " * 20)
    assert drafts.prefix_for(0) is None
    drafts.add(0, 5600, "replied he said")
    assert drafts.prefix_for(0) is None  # one sound draft is not an agreement
    drafts.add(0, 6400, "replied he said nothing")
    assert drafts.prefix_for(0) == "replied he"
    assert drafts.prefix_for(16000) is None  # another sentence
