"""When a real-time session asks for interim decodes: real speech through the real voice-activity
detector, with a recognizer that records what it is asked to decode (the scheduling is under test
here; the real model's part is covered end to end in test_realtime.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from hotasr.audio import SAMPLE_RATE
from hotasr.engine import DecodeCancelled
from hotasr.streaming import session as session_module
from hotasr.streaming.agreement import MIN_SETTLING_MS, SentenceDrafts, settled_prefix
from hotasr.streaming.chunks import CHUNK_MIN_MS, LEAD_IN, SentenceChunks
from hotasr.streaming.segmenter import LEAD_MS, Segment, SegmenterConfig, ms
from hotasr.streaming.session import (
    NoAudio,
    RealtimeSession,
    Recognize,
    SentenceDecode,
    SentenceEvent,
    StreamFailed,
    StreamOptions,
)
from hotasr.streaming.vad import WINDOW
from hotasr.transcript import Sentence, Transcript, Word
from tests.engine_fixtures import jfk_samples  # noqa: F401  (fixture)

FRAME = SAMPLE_RATE // 10  # 100 ms, as clients send it


def drafts_requested(samples: np.ndarray, options: StreamOptions) -> tuple[list[int], list[int]]:
    """(length of each draft decode, length of each final decode), in samples."""
    drafts: list[int] = []
    finals: list[int] = []

    def recognize(decode: SentenceDecode) -> Transcript:
        audio, draft = decode.samples, decode.draft
        (drafts if draft else finals).append(len(audio))
        return Transcript([], "en", len(audio) * 1000 // SAMPLE_RATE, [])

    play(samples, options, recognize)
    return drafts, finals


def play(
    samples: np.ndarray, options: StreamOptions, recognize: Recognize, interims: list[SentenceEvent] | None = None,
) -> list[SentenceEvent]:
    """Stream `samples` through a session in 100 ms frames, then finish it; its final events (and
    its interim events into `interims`, if given)."""
    finals: list[SentenceEvent] = []

    async def emit(event: SentenceEvent | StreamFailed) -> None:
        if isinstance(event, SentenceEvent) and event.final:
            finals.append(event)
        elif isinstance(event, SentenceEvent) and interims is not None:
            interims.append(event)

    async def stream() -> None:
        with ThreadPoolExecutor(1) as pool:
            session = RealtimeSession(options, recognize, pool, emit)
            for offset in range(0, len(samples), FRAME):
                await session.feed(samples[offset : offset + FRAME])
                await asyncio.sleep(0.02)  # lets the instant "decode" finish, so the stream is idle
            await session.finish()

    asyncio.run(stream())
    return finals


def test_first_interim_comes_early_and_later_ones_at_the_interval(jfk_samples: np.ndarray) -> None:  # noqa: F811
    speech = jfk_samples[: 6 * SAMPLE_RATE]  # "And so, my fellow Americans, ask not ...": three sentences
    options = StreamOptions(segmenter=SegmenterConfig(lead_ms=200), first_interim_ms=200, interim_interval_ms=800)
    drafts, finals = drafts_requested(speech, options)
    ms = [n * 1000 // SAMPLE_RATE for n in drafts]
    # One final decode a sentence, and a head start at the 0.26 s pause inside "ask not ... what".
    assert len(finals) == 4
    # Each sentence's drafts grow from its start; a shorter one begins the next sentence.
    firsts = [m for i, m in enumerate(ms) if i == 0 or m < ms[i - 1]]
    assert len(firsts) == 3
    # 200 ms of speech after the 200 ms kept before it, give or take a frame and a VAD window.
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

    def recognize(decode: SentenceDecode) -> Transcript:
        audio = decode.samples
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
        # Asked for before the 1.5 s of silence that closes the sentence were in (the sentence's
        # last tail_ms are the audio kept after its speech).
        assert asked_at < final.end_ms - options.segmenter.tail_ms + 1500
        assert [d for d in decodes if d[0] == length] == [(length, asked_at)]  # decoded once


def test_no_interim_once_the_speaker_goes_quiet(jfk_samples: np.ndarray) -> None:  # noqa: F811
    """A refresh asked for as a sentence ends would hold up its final (decodes of a stream run one
    at a time): none is asked once the speaker has been quiet for about a tenth of a second."""
    quiet_when_asked: list[int] = []
    session: RealtimeSession | None = None

    def recognize(decode: SentenceDecode) -> Transcript:
        audio, draft = decode.samples, decode.draft
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

    def recognize(decode: SentenceDecode) -> Transcript:
        audio, draft = decode.samples, decode.draft
        length = len(audio) * 1000 // SAMPLE_RATE
        if draft:  # a slow interim: it would run for 5 s unless stopped
            for _ in range(500):
                if decode.cancel.cancelled:
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

    def recognize(decode: SentenceDecode) -> Transcript:
        audio, draft = decode.samples, decode.draft
        length = len(audio) * 1000 // SAMPLE_RATE
        text = " ".join(f"w{i}" for i in range(1, length // 250 + 1))
        if draft:
            text += " ragg-"
            draft_prefixes.append(decode.prefix)
            if drafts and length < drafts[-1][0]:
                drafts.clear()
            drafts.append((length, text))
        else:
            finals.append((decode.prefix, list(drafts)))
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


def chunked_decodes(
    samples: np.ndarray, head_start_s: float, chunked: bool = True
) -> tuple[list[tuple[bool, int, str | None]], list[SentenceEvent]]:
    """(draft?, audio ms, context) of each decode of `samples` as one long sentence (1.5 s of
    silence ends one), and the final events. Each decode reads "pN." for the Nth decode, with one
    word spanning its audio; finals take `head_start_s`, and are dropped if told to stop by then."""
    decodes: list[tuple[bool, int, str | None]] = []

    def recognize(decode: SentenceDecode) -> Transcript:
        audio, draft, context = decode.samples, decode.draft, decode.context
        length = len(audio) * 1000 // SAMPLE_RATE
        decodes.append((draft, length, context))
        if not draft:
            time.sleep(head_start_s)
            if decode.cancel.cancelled:
                raise DecodeCancelled("stopped")
        word = f"p{len(decodes)}"
        return Transcript([Sentence(0, length, word + ".", [Word(0, length, word, ".")])], "en", length, [])

    speech = np.concatenate([samples, np.zeros(2 * SAMPLE_RATE, np.float32)])
    options = StreamOptions(segmenter=SegmenterConfig(max_sentence_silence_ms=1500), first_interim_ms=1000,
                            chunked=chunked)
    return decodes, play(speech, options, recognize)


@pytest.mark.paced
@pytest.mark.parametrize("head_start_s", [0.0, 0.4], ids=["done within the pause", "running when speech resumes"])
def test_a_long_sentence_is_decoded_on_from_its_chunks(jfk_samples: np.ndarray, head_start_s: float) -> None:  # noqa: F811
    """JFK's 11 s twice over are one sentence here, with pauses of 0.3-0.6 s inside it. The head
    start at the first pause after CHUNK_MIN_MS of it is kept as a chunk when he goes on (also when
    it is still running then: 0.4 s of decode are 2 s of the stream here); later decodes start
    150 ms before the chunk ends, with its words as context, and the final joins them."""
    decodes, finals = chunked_decodes(np.concatenate([jfk_samples, jfk_samples]), head_start_s)
    assert len(finals) >= 2  # each chunk's decode ended with a full stop
    chunk, rest = finals[0], finals[-1]
    assert chunk.begin_ms < 300 and chunk.end_ms - chunk.begin_ms >= CHUNK_MIN_MS
    assert all(a.end_ms - b.begin_ms == 150 for a, b in itertools.pairwise(finals))
    assert rest.words[0].begin_ms == rest.begin_ms and rest.words[0].end_ms == rest.end_ms
    # The rest was decoded from there, with the chunks' text (less the last full stop) as context.
    words = [f.words[0].text for f in finals]
    rest_decode = decodes[int(words[-1][1:]) - 1]
    assert rest_decode == (False, rest.end_ms - rest.begin_ms, ". ".join(words[:-1]))
    # Interims after the first chunk decode from a chunk's end too, with context.
    after = decodes[int(words[0][1:]) :]
    assert any(draft for draft, _, _ in after)
    assert all(length <= 25_000 - CHUNK_MIN_MS and context for _, length, context in after)
    assert not any(d for d in decodes[: int(words[0][1:])] if d[2] is not None)
    # Off (the default): one final of the whole sentence, every decode from its start.
    decodes, finals = chunked_decodes(np.concatenate([jfk_samples, jfk_samples]), head_start_s, chunked=False)
    assert len(finals) == 1 and finals[0].end_ms - finals[0].begin_ms > 20_000
    assert not any(context for _, _, context in decodes)


def test_chunks_join_in_order_and_only_where_they_meet() -> None:
    def said(text: str, length: int) -> Transcript:
        return Transcript([Sentence(0, ms(length), text, [Word(0, ms(length), text.rstrip("."), ".")])], "en")

    one = CHUNK_MIN_MS * SAMPLE_RATE // 1000
    sentence = Segment(SAMPLE_RATE, SAMPLE_RATE + 3 * one)
    chunks = SentenceChunks()
    assert chunks.decode_from(sentence) == sentence.start and chunks.context(sentence, sentence.start) is None
    first = Segment(sentence.start, sentence.start + one)
    assert chunks.worth_a_chunk(first) and not chunks.worth_a_chunk(Segment(first.start, first.end - 1))
    chunks.add(first, first.start, said("One.", one))
    second_from = chunks.decode_from(sentence)
    assert second_from == first.end - LEAD_IN
    chunks.add(Segment(sentence.start, first.end + one), first.start, said("Stale.", 2 * one))  # not where it ends
    second = Segment(sentence.start, second_from + one)
    assert chunks.worth_a_chunk(second) and not chunks.worth_a_chunk(Segment(second.start, second.end - 1))
    chunks.add(second, second_from, said("Two?", one))
    rest_from = chunks.decode_from(sentence)
    assert rest_from == second.end - LEAD_IN
    assert chunks.context(sentence, rest_from) == "One. Two"
    joined = chunks.joined(sentence, rest_from, said("three.", sentence.end - rest_from))
    assert [(s.text, s.begin_ms, s.words[0].begin_ms) for s in joined.sentences] == [
        ("One.", 0, 0), ("Two?", ms(second_from) - 1000, ms(second_from) - 1000),
        ("three.", ms(rest_from) - 1000, ms(rest_from) - 1000),
    ]
    assert joined.duration_ms == ms(sentence.end - sentence.start)
    other = Segment(sentence.end + SAMPLE_RATE, sentence.end + 2 * SAMPLE_RATE)  # another sentence: no chunks
    assert chunks.decode_from(other) == other.start
    assert chunks.joined(other, other.start, said("x.", SAMPLE_RATE)).text == "x."


def test_an_interim_begins_where_the_speech_does(jfk_samples: np.ndarray) -> None:  # noqa: F811
    """A sentence's audio starts up to LEAD_MS before its speech; a draft (no word times) reports
    the speech's onset as its begin_time, not the start of that audio."""
    def recognize(decode: SentenceDecode) -> Transcript:
        audio, draft = decode.samples, decode.draft
        length = len(audio) * 1000 // SAMPLE_RATE
        return Transcript([Sentence(0, length, "draft" if draft else "final")], "en", length, [])

    interims: list[SentenceEvent] = []
    speech = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), jfk_samples[: 6 * SAMPLE_RATE]])
    finals = play(speech, StreamOptions(), recognize, interims)
    audio_starts = {e.sentence_id: e.begin_ms for e in finals}  # the fake final: its audio's start
    assert interims and audio_starts
    leads = [e.begin_ms - audio_starts[e.sentence_id] for e in interims]
    assert all(0 <= lead <= LEAD_MS for lead in leads)
    assert leads[0] == LEAD_MS  # the first sentence, after a second of silence, has all of its lead


def test_tiny_frames_are_processed_a_vad_window_at_a_time(
    jfk_samples: np.ndarray, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    """A client sending a few samples a message gets the same sentences as one sending 100 ms
    frames, and the session's per-frame work (the VAD above all) runs once a window, not once a
    message."""
    vad_calls: list[int] = []

    class CountingVad(session_module.StreamingVad):
        def __call__(self, samples: np.ndarray) -> np.ndarray:
            vad_calls.append(len(samples))
            return super().__call__(samples)

    monkeypatch.setattr(session_module, "StreamingVad", CountingVad)

    def recognize(decode: SentenceDecode) -> Transcript:
        audio = decode.samples
        length = len(audio) * 1000 // SAMPLE_RATE
        return Transcript([Sentence(0, length, "final")], "en", length, [])

    def sentences(frame: int) -> list[tuple[int, int | None]]:
        finals: list[SentenceEvent] = []

        async def emit(event: SentenceEvent | StreamFailed) -> None:
            if isinstance(event, SentenceEvent) and event.final:
                finals.append(event)

        async def stream() -> None:
            with ThreadPoolExecutor(1) as pool:
                session = RealtimeSession(StreamOptions(first_interim_ms=60_000), recognize, pool, emit)
                for offset in range(0, len(speech), frame):
                    await session.feed(speech[offset : offset + frame])
                await session.finish()

        asyncio.run(stream())
        return [(e.begin_ms, e.end_ms) for e in finals]

    speech = jfk_samples[: 6 * SAMPLE_RATE]
    in_100ms_frames = sentences(FRAME)
    vad_calls.clear()
    in_tiny_frames = sentences(7)
    assert in_tiny_frames == in_100ms_frames and len(in_100ms_frames) >= 2
    assert sum(vad_calls) == len(speech)
    assert all(n >= WINDOW for n in vad_calls[:-1])  # the last: what was left at finish()
    assert len(vad_calls) <= len(speech) // WINDOW + 1


@pytest.mark.parametrize("frames", [[], [np.zeros(0, np.float32)]], ids=["no-feed", "empty-feed"])
def test_a_stream_without_audio_ends_in_no_audio(frames: list[np.ndarray]) -> None:
    async def emit(event: SentenceEvent | StreamFailed) -> None:
        raise AssertionError(f"no event expected, got {event}")

    def recognize(*args: object) -> Transcript:
        raise AssertionError("nothing to decode")

    async def stream() -> None:
        with ThreadPoolExecutor(1) as pool:
            session = RealtimeSession(StreamOptions(), recognize, pool, emit)  # type: ignore[arg-type]
            for samples in frames:
                await session.feed(samples)
            with pytest.raises(NoAudio, match="without any audio"):
                await session.finish()
            session.close()

    asyncio.run(stream())


def test_each_final_decides_its_language_and_one_without_words_says_so(jfk_samples: np.ndarray) -> None:  # noqa: F811
    """No stream-wide language (issue #19): every decode is asked with none, so each sentence is
    detected among the candidates on its own; a final that gives no words is an empty final with a
    warning that names its time, not silence."""
    asked: list[str] = []
    calls = itertools.count()

    heard_before: list[tuple[str, ...]] = []

    def recognize(decode: SentenceDecode) -> Transcript:
        draft = decode.draft
        asked.append(decode.kind)
        if not draft:
            heard_before.append(decode.heard)
        if draft or next(calls) % 2:
            return Transcript([], None, 0, [])
        spoken = "zh" if len(asked) % 3 else "en"
        return Transcript([Sentence(0, 500, "话" if spoken == "zh" else "words", language=spoken)], spoken, 500, [])

    finals = play(jfk_samples[: 6 * SAMPLE_RATE], StreamOptions(settled_prefix=False), recognize)
    assert asked and not hasattr(SentenceDecode, "language")
    # Each final decode is told the languages of the finals before it, in the order first heard.
    assert heard_before[0] == () and heard_before[-1] and set(heard_before[-1]) <= {"zh", "en"}
    assert all(later[: len(earlier)] == earlier for earlier, later in itertools.pairwise(heard_before))
    lost = [e for e in finals if not e.text]
    assert lost and all(len(e.warnings) == 1 and "gave no words" in e.warnings[0] for e in lost)
    assert all(e.end_ms is not None and e.end_ms > e.begin_ms for e in lost)
    assert [e.sentence_id for e in finals] == list(range(1, len(finals) + 1))
