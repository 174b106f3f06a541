"""One real-time recognition task: audio in, interim and final sentences out.

Voice activity cuts the stream into sentences. While one is spoken, the growing sentence is
decoded for interim text (first after `first_interim_ms`, then every `interim_interval_ms`); when
it ends it is decoded once more for the final text. That final decode starts early, as soon as
the speaker pauses (a speculative final): if the pause lasts until the sentence ends, its result
is the final, out a pause-length sooner; if the speaker goes on, it is dropped. A final reads the
words its sentence's last two interims agree on as a prefix and generates only the rest
(agreement.py). Optionally (`chunked`), a long sentence is decoded in chunks cut at its pauses
(chunks.py): what follows a chunk is decoded on its own, with the chunks' text as context, so that
a final or an interim costs about as much as a short sentence's. Decodes of one
stream run in order, one at a time, on a pool shared by all streams; interims and speculative
finals are skipped rather than queued when the stream already has work waiting or the pool has
no idle worker, so a busy server drops refreshes and head starts, not finals. A decode made moot
is stopped between decoding steps: the interim running when its sentence's end is in sight (a
final is queued), the head start of a pause the speaker talks through. When finals fall
further behind real time than `max_lag_s`, the task fails with a throttling error instead of
falling behind silently.

Audio is taken in as clients send it, in frames of any size, but processed (voice activity,
scheduling) a VAD window at a time at least: samples are held until a whole window has arrived,
because nothing can be decided on less, and per-frame work on tiny frames (a client sending a few
bytes a message) would otherwise cost many times the CPU of the same audio in 100 ms frames.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from hotasr.audio import SAMPLE_RATE
from hotasr.engine import CancelToken, DecodeCancelled, DecodeKind
from hotasr.errors import ClientTimeout, EngineFailed, HotasrError, ServerBusy
from hotasr.errors import NoAudio as NoAudio  # re-exported: raised here
from hotasr.postprocess import apply_text_options
from hotasr.streaming.agreement import SentenceDrafts
from hotasr.streaming.chunks import SentenceChunks
from hotasr.streaming.segmenter import Segment, Segmenter, SegmenterConfig, ms, to_samples
from hotasr.streaming.vad import WINDOW, StreamingVad
from hotasr.transcript import Transcript, Word, word_joiner

HEARTBEAT_EVERY_S = 10
REFRESH_QUIET_MS = 96  # three VAD windows of silence: the speaker may be ending the sentence

log = logging.getLogger(__name__)


# What ends a task: a domain error (hotasr.errors), reported to the adapter through `emit`.
StreamFailed = HotasrError


@dataclass(frozen=True, slots=True)
class StreamOptions:
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    interim_interval_ms: int = 800
    first_interim_ms: int = 200  # of speech before a sentence's first interim
    max_lag_s: float = 30.0
    heartbeat: bool = False
    silence_limit_s: float = 60.0  # without heartbeat, this much silence ends the task
    disfluency_removal: bool = False
    punctuation: bool = True
    # Finals read the words their sentence's last two interims agree on as a prefix (agreement.py).
    settled_prefix: bool = True
    # A long sentence is decoded in chunks cut at its pauses (chunks.py); off: it costs accuracy.
    chunked: bool = False


@dataclass(slots=True)
class SentenceEvent:
    sentence_id: int
    begin_ms: int
    end_ms: int | None  # None while the sentence is still being spoken (interim)
    text: str
    words: list[Word]
    audio_seconds: int  # received so far: the task's billed duration
    heartbeat: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.end_ms is not None


@dataclass(slots=True)
class _Job:
    final: bool
    segment: Segment
    due: float  # monotonic time by which a final must be out to keep pace with real time
    speculative: bool = False  # a final decoded during a pause, kept until the sentence ends
    chunkable: bool = False  # speculative, and long enough to be kept as a chunk if the speaker goes on
    cancel: CancelToken = field(default_factory=CancelToken)  # cancelled: the decode is moot, stop it
    onset: int = 0  # interims: where the sentence's speech began


Emit = Callable[["SentenceEvent | StreamFailed"], Awaitable[None]]


@dataclass(frozen=True, slots=True, eq=False)
class SentenceDecode:
    """What a stream asks recognition to decode: a sentence (or its tail), as a final or a draft.

    No language: each sentence's is decided among the stream's candidates on its own, `heard` being
    the languages of the stream's finals so far (a language not heard yet needs stronger evidence).
    `prefix`: the settled opening words of the audio; `context`: what the speaker said just before
    it (Whisper's previous-text prompt); `cancel`: cancelled once the result is moot (the decode
    raises DecodeCancelled)."""

    samples: np.ndarray
    kind: DecodeKind  # "final" or "draft"
    prefix: str | None
    context: str | None
    cancel: CancelToken
    heard: tuple[str, ...] = ()

    @property
    def draft(self) -> bool:
        return self.kind == "draft"


Recognize = Callable[[SentenceDecode], Transcript]


@dataclass(frozen=True, slots=True)
class _Decoded:
    """A head start's result: `tail` decoded from `start` (after its sentence's chunks)."""

    start: int
    tail: Transcript
    chunkable: bool


class RealtimeSession:
    def __init__(
        self, options: StreamOptions, recognize: Recognize, pool: Executor, emit: Emit,
        pool_has_idle_worker: Callable[[], bool] = lambda: True,
    ) -> None:
        self.options = options
        self._pool_idle = pool_has_idle_worker
        self._recognize = recognize
        self._pool = pool
        self._emit = emit
        self._vad = StreamingVad()
        self._segmenter = Segmenter(options.segmenter)
        self._audio = np.zeros(0, np.float32)
        self._base = 0  # stream position of self._audio[0]
        self._received = 0
        self._inbox: list[np.ndarray] = []  # samples received but not processed yet: less than a window
        self._inbox_samples = 0
        self._started: float | None = None
        self._pending: deque[_Job] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._running: _Job | None = None  # the job being decoded, if any
        self._interim_at = 0
        self._speculated: Segment | None = None  # the ending last decoded (or queued) speculatively
        self._speculation: _Decoded | None = None  # its result, once decoded
        self._interim_cost_s = 0.0  # how long the last interim took: the next waits at least twice that
        self._drafts = SentenceDrafts()  # interim texts of the sentence being spoken
        self._chunks = SentenceChunks()  # its decoded opening, when it is long
        self._heartbeat_at = 0
        self._next_id = 1
        self._heard: dict[str, None] = {}  # the languages of the finals so far, in order
        self._warned_final: set[str] = set()
        self._warned_interim: set[str] = set()
        self.failure: StreamFailed | None = None
        self._worker = asyncio.get_running_loop().create_task(self._run_jobs())

    @property
    def audio_seconds(self) -> int:
        """Billed duration: whole seconds received, rounded up."""
        return math.ceil(self._received / SAMPLE_RATE)

    @property
    def received_seconds(self) -> float:
        return self._received / SAMPLE_RATE

    async def feed(self, samples: np.ndarray) -> None:
        self._raise_failure()
        if not len(samples):
            return
        if self._started is None:
            self._started = time.monotonic()
        self._received += len(samples)
        self._inbox.append(samples)
        self._inbox_samples += len(samples)
        if self._inbox_samples >= WINDOW:
            await self._process(self._take_inbox())

    def _take_inbox(self) -> np.ndarray:
        samples = self._inbox[0] if len(self._inbox) == 1 else np.concatenate(self._inbox)
        self._inbox, self._inbox_samples = [], 0
        return samples

    async def _process(self, samples: np.ndarray) -> None:
        self._audio = np.concatenate([self._audio, samples])
        probabilities = await asyncio.to_thread(self._vad, samples)
        for segment in self._segmenter.push(probabilities):
            self._enqueue(True, segment)
        await self._after_audio()
        self._trim()

    async def finish(self) -> None:
        """End of audio: finalize the sentence in progress and wait for every pending result.

        Raises NoAudio when not one sample arrived: an empty stream is a client error, not an
        empty success."""
        self._raise_failure()
        if self._received == 0:
            raise NoAudio()
        if self._inbox:
            await self._process(self._take_inbox())
        segment = self._segmenter.flush()
        if segment:
            self._enqueue(True, segment)
        self._closing = True
        self._wake.set()
        await self._worker
        self._raise_failure()

    def close(self) -> None:
        """Stop, dropping whatever is pending and stopping a running decode where it can be."""
        self._pending.clear()
        if self._running is not None:
            self._running.cancel.cancel()
        self._closing = True
        self._wake.set()
        if asyncio.current_task() is not self._worker:  # the worker itself may report a failure
            self._worker.cancel()
        self._audio = np.zeros(0, np.float32)

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _enqueue(self, final: bool, segment: Segment, speculative: bool = False, onset: int = 0) -> None:
        assert self._started is not None
        due = self._started + segment.end / SAMPLE_RATE + self.options.max_lag_s
        chunkable = speculative and self.options.chunked and self._chunks.worth_a_chunk(segment)
        self._pending.append(_Job(final, segment, due, speculative, chunkable, onset=onset))
        running = self._running
        if final and running is not None and not running.final:
            # The sentence is ending: its interim would only delay the final queued behind it.
            running.cancel.cancel()
        self._wake.set()

    async def _after_audio(self) -> None:
        seg = self._segmenter
        idle = not self._pending and self._running is None and self._pool_idle()
        if seg.start is not None:
            ending = seg.ending
            if ending is None and self._speculated is not None and self._speculated.start == seg.start:
                # The speaker went on: the head start is void (an earlier sentence's is not), unless
                # it covers enough of the sentence to be kept as a chunk.
                def void(job: _Job) -> bool:
                    return job.speculative and not job.chunkable and job.segment.start == seg.start

                self._pending = deque(j for j in self._pending if not void(j))
                if self._running is not None and void(self._running):
                    self._running.cancel.cancel()
                if self._speculation is not None and self._speculation.chunkable:
                    self._chunks.add(self._speculated, self._speculation.start, self._speculation.tail)
                self._speculated = self._speculation = None
            # Queued behind this stream's own decode if one runs (an interim of the speech before
            # the pause); whether the pool can spare a worker is judged when its turn comes.
            if ending is not None and ending != self._speculated and not self._pending:
                self._speculated, self._speculation = ending, None
                self._enqueue(True, ending, speculative=True)
            # The first refresh of a sentence comes soon (the caller wants to see they are heard);
            # later ones follow the interval, spaced by twice their cost too, so that interims
            # leave the pool room for finals.
            assert seg.onset is not None  # set with seg.start
            interval_s = self.options.first_interim_ms / 1000
            if self._interim_at > seg.onset:
                interval_s = max(self.options.interim_interval_ms / 1000, 2 * self._interim_cost_s)
            # No refresh once the speaker has gone quiet: nothing new was said, and a decode started
            # now would hold up the final that the pause may be about to trigger (a refresh of a
            # long sentence costs as much as its final, and its encoder pass cannot be stopped).
            heard = seg.position - max(self._interim_at, seg.onset)
            if idle and seg.quiet_ms < REFRESH_QUIET_MS and heard >= interval_s * SAMPLE_RATE:
                self._interim_at = seg.position
                self._enqueue(False, Segment(seg.start, seg.position), onset=seg.onset)
            return
        silent_s = seg.silent_for / SAMPLE_RATE
        if self.options.heartbeat:
            if silent_s - self._heartbeat_at >= HEARTBEAT_EVERY_S:
                self._heartbeat_at = int(silent_s)
                await self._emit(SentenceEvent(self._next_id, ms(seg.position), None, "", [],
                                               self.audio_seconds, heartbeat=True))
        else:
            self._heartbeat_at = 0
            if silent_s >= self.options.silence_limit_s:
                raise ClientTimeout(
                    f"no speech for {int(self.options.silence_limit_s)} seconds; "
                    "set heartbeat to keep a silent stream open",
                )

    def _trim(self) -> None:
        """Drop audio no pending or future decode can need."""
        keep_from = self._segmenter.position - to_samples(self.options.segmenter.lead_ms)
        if self._segmenter.start is not None:
            keep_from = min(keep_from, self._segmenter.start)
        for job in self._pending:
            keep_from = min(keep_from, job.segment.start)
        if self._running is not None:
            keep_from = min(keep_from, self._running.segment.start)
        cut = keep_from - self._base
        if cut > SAMPLE_RATE:  # in whole seconds, not per frame
            self._audio = self._audio[cut:]
            self._base = keep_from

    async def _run_jobs(self) -> None:
        """This stream's decodes, one at a time in the order queued, until the session closes."""
        while (job := await self._next_job()) is not None:
            if self._skipped(job):
                continue
            if job.final and not job.speculative and self._speculation is not None and self._speculated == job.segment:
                decoded = self._speculation  # decoded during the pause that ended the sentence
                self._speculation = None
                await self._emit_final(job, self._chunks.joined(job.segment, decoded.start, decoded.tail))
                continue
            if job.final and time.monotonic() > job.due:
                await self._report(ServerBusy(
                    f"the server is saturated: results are more than {self.options.max_lag_s:.0f} s behind "
                    "real time; retry later or lower the number of concurrent streams",
                ))
                continue
            await self._decode(job)

    async def _next_job(self) -> _Job | None:
        """The next queued job, waited for; None once the session is closing and nothing is queued."""
        while not self._pending:
            if self._closing:
                return None
            self._wake.clear()
            await self._wake.wait()
        return self._pending.popleft()

    def _skipped(self, job: _Job) -> bool:
        """Whether `job` is dropped unrun: the task has failed, or it is work a busy server does without."""
        if self.failure is not None:
            return True
        if not job.final and (self._pending or not self._pool_idle()):
            return True  # stale (newer work waits) or the server is busy: finals first, skip the refresh
        # A head start only: on a busy server the final decodes when it is due.
        return job.speculative and not self._pool_idle()

    async def _decode(self, job: _Job) -> None:
        """Decodes `job`'s audio (what follows its sentence's chunks) on the pool and takes the result."""
        seg = job.segment
        start = self._chunks.decode_from(seg)
        samples = self._audio[start - self._base : seg.end - self._base]
        context = self._chunks.context(seg, start)
        # Finals only: interims that read settled words agree with them too readily, and what
        # they settle stays (real-time WER +1.2 to +1.5 points against +0.4 for finals only).
        prefix = self._drafts.prefix_for(start) if job.final and self.options.settled_prefix else None
        self._running = job
        started = time.monotonic()
        kind = "speculative final" if job.speculative else "final" if job.final else "interim"
        try:
            decode = SentenceDecode(samples, "final" if job.final else "draft", prefix, context, job.cancel,
                                    tuple(self._heard))
            tail = await asyncio.get_running_loop().run_in_executor(self._pool, self._recognize, decode)
        except DecodeCancelled:
            log.debug("stopped %s of %.2f-%.2f s after %.2f s", kind, seg.start / SAMPLE_RATE,
                      seg.end / SAMPLE_RATE, time.monotonic() - started)
            return
        except Exception as exc:  # a decode error ends this task, not the server
            await self._report(EngineFailed(f"recognition failed: {exc}"))
            return
        finally:
            self._running = None
        cost = time.monotonic() - started
        if not job.final:
            self._interim_cost_s = cost
        log.debug("decoded %s of %.2f-%.2f s from %.2f s in %.2f s (stream at %.2f s, prefix of %d words)",
                  kind, seg.start / SAMPLE_RATE, seg.end / SAMPLE_RATE, start / SAMPLE_RATE, cost,
                  self._segmenter.position / SAMPLE_RATE, len(prefix.split()) if prefix else 0)
        await self._take(job, start, tail)

    async def _take(self, job: _Job, start: int, tail: Transcript) -> None:
        """A decode's result (`tail`, decoded from `start`): a head start is kept for its sentence's end
        (or as a chunk if the speaker went on), a final is emitted, an interim emitted as a draft."""
        seg = job.segment
        if job.speculative:
            if self._speculated == seg:  # still the pause it was started for
                self._speculation = _Decoded(start, tail, job.chunkable)
            elif job.chunkable:  # the speaker went on while it ran
                self._chunks.add(seg, start, tail)
            return
        transcript = self._chunks.joined(seg, start, tail)
        if job.final:
            await self._emit_final(job, transcript)
            return
        self._drafts.add(start, ms(seg.end - start), " ".join(s.text for s in tail.sentences))
        for event in self._events(job, transcript):
            await self._emit(event)

    async def _emit_final(self, job: _Job, transcript: Transcript) -> None:
        for sentence in transcript.spoken:
            language = sentence.language or transcript.language
            if language:
                self._heard[language] = None
        for event in self._events(job, transcript):
            await self._emit(event)

    async def _report(self, failure: StreamFailed) -> None:
        self.failure = failure
        await self._emit(failure)

    def _events(self, job: _Job, transcript: Transcript) -> list[SentenceEvent]:
        offset = ms(job.segment.start)
        # Finals and interims dedupe separately: clients that keep only finals (SDK call()) still see each.
        seen = self._warned_final if job.final else self._warned_interim
        warnings = [w for w in transcript.warnings if w not in seen]
        seen.update(warnings)
        cleaned = (  # the protocol's times are from the stream's start, the transcript's from the segment's
            apply_text_options(s.shifted(offset), transcript.language,
                               disfluency_removal=self.options.disfluency_removal,
                               punctuation=self.options.punctuation)
            for s in transcript.sentences
        )
        sentences = [s for s in cleaned if s is not None and s.text.strip()]
        if not job.final:
            if not sentences:
                return []
            text = word_joiner(transcript.language).join(s.text for s in sentences)
            words = [w for s in sentences for w in s.words]
            # A draft has no word times: it "begins" where its audio does, up to the segmenter's
            # lead before the speech. Its sentence begins where the speech did.
            begin_ms = max(sentences[0].begin_ms, ms(job.onset))
            return [SentenceEvent(self._next_id, begin_ms, None, text, words, self.audio_seconds,
                                  warnings=warnings)]
        if not transcript.spoken:
            # Speech the VAD heard that gave no words is said, never dropped quietly: an empty final.
            seg = job.segment
            lost = f"speech at {seg.start / SAMPLE_RATE:.1f}-{seg.end / SAMPLE_RATE:.1f} s gave no words"
            self._next_id += 1
            return [SentenceEvent(self._next_id - 1, ms(seg.start), ms(seg.end), "", [], self.audio_seconds,
                                  warnings=[*warnings, lost])]
        events = []
        for sentence in sentences:
            events.append(SentenceEvent(self._next_id, sentence.begin_ms, sentence.end_ms, sentence.text,
                                        sentence.words, self.audio_seconds, warnings=warnings))
            self._next_id += 1
            warnings = []
        return events
