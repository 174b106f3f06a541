"""Runs one claimed task: every file is fetched, decoded, recognized per requested channel and
written to the results store as a `FileTranscript` (the DashScope adapter renders it as the
transcript JSON of docs/dashscope-protocol.md §5.3 when it is fetched).

A file that cannot be fetched or decoded fails only its sub-task, which keeps the domain error;
the task SUCCEEDS when at least one file did. Progress is saved after each file, so a task resumed
after a crash skips the files already done. A lease is renewed in the background; when it is lost (the janitor gave the
task to another worker) this runner stops writing.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from hotasr.audio import INVALID_CHANNEL, AudioError, AudioLimits, DecodedChannels, decode_channels, is_silent
from hotasr.config import Settings
from hotasr.engine import EngineError
from hotasr.errors import EngineFailed, HotasrError, InternalError, NoSpeech
from hotasr.logs import request_id_var
from hotasr.postprocess import apply_to_transcript
from hotasr.recognize import recognize
from hotasr.speech_gate import NO_SPEECH_WARNING
from hotasr.tasks.fetch import Limits, fetch_to
from hotasr.tasks.models import FAILED, SUCCEEDED, FileTranscript, Subtask, TaskParameters, TaskRecord
from hotasr.tasks.results import ResultStore, results_root
from hotasr.tasks.scratch import scratch_dir
from hotasr.tasks.store import TaskStore
from hotasr.transcript import Transcript
from hotasr.vocabularies import VocabularyNotFound, VocabularyRecord, VocabularyService

log = logging.getLogger("hotasr.tasks")



@dataclass(slots=True)
class FileResult:
    transcript: FileTranscript
    billed_seconds: float


class TaskRunner:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.store = TaskStore(sessions)
        self.vocabularies = VocabularyService(sessions, settings)
        self.results = ResultStore(results_root(settings))
        self.lease = timedelta(seconds=settings.task_lease_seconds)
        self.ttl = timedelta(hours=settings.results_ttl_hours)

    def run(self, record: TaskRecord, owner: str, stopping: threading.Event | None = None) -> None:
        """Run a task `owner` has claimed, to the end, until the claim is lost, or until `stopping`
        is set (checked between files; the caller then releases the task)."""
        lost = threading.Event()
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(record.task_id, owner, stop, lost), daemon=True, name="hotasr-lease"
        )
        beat.start()
        token = request_id_var.set(record.task_id)  # log lines of this task carry its id
        try:
            self._run(record, owner, lost, stopping or threading.Event())
        finally:
            request_id_var.reset(token)
            stop.set()
            beat.join()

    def _heartbeat(self, task_id: str, owner: str, stop: threading.Event, lost: threading.Event) -> None:
        interval = max(self.settings.task_lease_seconds / 3, 0.2)
        while not stop.wait(interval):
            try:
                if not self.store.renew(task_id, owner, self.lease):
                    log.warning("task %s: lease lost, another worker may run it now", task_id)
                    lost.set()
                    return
            except Exception:  # a database hiccup: try again next beat, the lease has slack
                log.exception("task %s: lease renewal failed", task_id)

    def _run(self, record: TaskRecord, owner: str, lost: threading.Event, stopping: threading.Event) -> None:
        vocabulary, vocabulary_warning = self._vocabulary(record)
        subtasks = list(record.subtasks)
        for index, url in enumerate(record.file_urls):
            if subtasks[index] is not None:
                continue  # done before an interruption
            if lost.is_set() or stopping.is_set():
                return
            decoding = functools.partial(self._mark_decoding, record.task_id, owner, subtasks, index)
            subtasks[index] = self._subtask(record, index, url, vocabulary, vocabulary_warning, decoding)
            if not self.store.save_progress(record.task_id, owner, subtasks):
                return
        done = [s for s in subtasks if s is not None]
        status = SUCCEEDED if any(s.status == SUCCEEDED for s in done) else FAILED
        usage = math.ceil(sum(s.billed_seconds for s in done if s.status == SUCCEEDED))
        if not lost.is_set():
            self.store.finish(record.task_id, owner, status, subtasks, usage, self.ttl)
            log.info("task %s %s (%d files)", record.task_id, status, len(subtasks))

    def _mark_decoding(
        self, task_id: str, owner: str, subtasks: list[Subtask | None], index: int, begins: bool
    ) -> None:
        """Mark file `index` as decoding in the database (or clear the mark): if this worker dies
        while it decodes, the next claim fails that file instead of decoding it again."""
        self.store.save_progress(task_id, owner, subtasks, decoding=index if begins else None)

    def _vocabulary(self, record: TaskRecord) -> tuple[VocabularyRecord | None, str | None]:
        vocabulary_id = record.parameters.vocabulary_id
        if not vocabulary_id:
            return None, None
        try:
            return self.vocabularies.get(record.account_id, vocabulary_id), None
        except VocabularyNotFound:
            return None, f"vocabulary {vocabulary_id!r} was deleted before the task ran; no hotwords were applied"

    def _subtask(
        self, record: TaskRecord, index: int, url: str, vocabulary: VocabularyRecord | None, warning: str | None,
        decoding: Callable[[bool], None],
    ) -> Subtask:
        try:
            with scratch_dir() as tmp:
                result = self._transcribe_file(record, url, Path(tmp) / "audio", vocabulary, decoding)
        except HotasrError as exc:
            log.info("task %s file %d failed: %s %s", record.task_id, index, exc.code, exc.message)
            return Subtask.failed(url, exc)
        except Exception:
            log.exception("task %s file %d: unexpected error", record.task_id, index)
            return Subtask.failed(url, InternalError("An internal error occurred while transcribing this file."))
        file = result.transcript
        file.warnings = [*record.warnings, *([warning] if warning else []), *file.warnings]
        key = ResultStore.transcript_key(record.task_id, index)
        self.results.put_json(key, file.to_dict())
        return Subtask(url, SUCCEEDED, result_key=key, billed_seconds=result.billed_seconds)

    def _transcribe_file(
        self, record: TaskRecord, url: str, scratch: Path, vocabulary: VocabularyRecord | None,
        decoding: Callable[[bool], None],
    ) -> FileResult:
        path = fetch_to(
            url, scratch, account_id=record.account_id, limits=Limits.from_settings(self.settings),
            results=self.results,
        )
        params = record.parameters
        decoded = self._decode(path, params.channel_ids, decoding)
        info = decoded.info
        warnings = list(decoded.warnings)
        transcripts: list[tuple[int, Transcript]] = []
        for channel in params.channel_ids:
            samples = decoded.channels[channel]
            if is_silent(samples):
                # Whisper "hears" words in digital silence; a silent track has no speech to find.
                transcripts.append((channel, Transcript([], None, info.duration_ms)))
                continue
            transcript = self._recognize(record, samples, vocabulary)
            for message in transcript.warnings:
                if message not in warnings:
                    warnings.append(message)
            transcripts.append((channel, self._postprocessed(samples, transcript, params)))
        if not any(t.spoken for _, t in transcripts):
            gated = NO_SPEECH_WARNING in warnings
            raise NoSpeech(NO_SPEECH_WARNING if gated else "no speech was recognized in the audio file")
        file = FileTranscript(url, info.codec, info.channels, info.sample_rate, info.duration_ms, transcripts, warnings)
        billed = info.duration_ms / 1000 * len(params.channel_ids)  # each requested track is billed
        return FileResult(file, billed)

    def _decode(self, path: Path, channel_ids: tuple[int, ...], decoding: Callable[[bool], None]) -> DecodedChannels:
        """The channels asked for, decoded; `decoding` is told while it runs."""
        decoding(True)
        try:
            # Probed, checked against the limits and decoded in a child process: a file that
            # crashes FFmpeg fails here, as this file's DECODE_CRASHED, and never takes the worker.
            return decode_channels(path, channels=channel_ids, limits=AudioLimits.from_settings(self.settings))
        except AudioError as exc:
            if exc.code != INVALID_CHANNEL:
                raise
            # Named as the request names it: the task's parameter is channel_id.
            raise AudioError(exc.code, exc.message.replace("channel ", "channel_id ", 1)) from None
        finally:
            decoding(False)

    def _recognize(self, record: TaskRecord, samples: np.ndarray, vocabulary: VocabularyRecord | None) -> Transcript:
        params = record.parameters
        try:
            return recognize(
                samples,
                model=record.model,
                settings=self.settings,
                hotwords=vocabulary.hotwords if vocabulary else (),
                language_hints=list(params.language_hints) or None,
                vocabulary_target_model=vocabulary.target_model if vocabulary else None,
                speech_gate=True,
            )
        except EngineError as exc:
            raise EngineFailed(f"recognition failed: {exc}") from None

    def _postprocessed(self, samples: np.ndarray, transcript: Transcript, params: TaskParameters) -> Transcript:
        """The transcript with the task's disfluency removal and diarization applied."""
        if params.disfluency_removal:
            transcript = apply_to_transcript(transcript, disfluency_removal=True)
        if params.diarization:
            transcript = _diarized(samples, transcript, params.speaker_count, self.settings)
        return transcript


def _diarized(samples: Any, transcript: Transcript, speaker_count: int | None, settings: Settings) -> Transcript:
    """The transcript with a speaker_id on every sentence (diarization_enabled)."""
    from hotasr.diarization import DiarizationOptions, diarize_transcript
    from hotasr.engine.weights import WeightsError

    try:
        return diarize_transcript(samples, transcript, settings.model_cache_dir, DiarizationOptions(speaker_count))
    except WeightsError as exc:
        raise EngineFailed(f"diarization is not available on this server: {exc}") from None
