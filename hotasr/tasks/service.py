"""What the HTTP adapter calls: validate and submit tasks, read and cancel them, and run the
background machinery (worker pool or queue, janitor) for one server process."""

from __future__ import annotations

import builtins
import logging
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hotasr.catalog import MODELS, get_model
from hotasr.config import Settings
from hotasr.diarization.options import MAX_SPEAKERS, MIN_SPEAKERS
from hotasr.errors import InvalidParameter, InvalidURL, MissingInput, MissingModel, ModelNotServed
from hotasr.hotwords import show
from hotasr.tasks.fetch import check_url_syntax, oss_key, upload_owner
from hotasr.tasks.janitor import Janitor
from hotasr.tasks.models import MAX_FILES, STATUSES, TaskParameters, TaskRecord
from hotasr.tasks.pool import WorkerPool
from hotasr.tasks.results import ResultStore, results_root
from hotasr.tasks.runner import TaskRunner
from hotasr.tasks.store import TaskPage, TaskStore
from hotasr.vocabularies import VocabularyNotFound, VocabularyService

log = logging.getLogger("hotasr.tasks")

FILE_MODELS = sorted(n for n, m in MODELS.items() if m.mode == "file")
MAX_PAGE_SIZE = 100
MAX_PAGE_NO = 1_000_000  # far past any account's tasks; keeps the OFFSET inside 64 bits
MAX_TASK_ID_CHARS = 128  # task ids are UUIDs; anything longer (or with a NUL) cannot be one


def plausible_task_id(task_id: str) -> bool:
    """Whether `task_id` could name a task at all: PostgreSQL refuses a NUL in a query parameter."""
    return 0 < len(task_id) <= MAX_TASK_ID_CHARS and "\x00" not in task_id


def _check_text(name: str, value: str | None) -> None:
    if value is not None and "\x00" in value:
        raise InvalidParameter(f"{name} must not contain a NUL character.")


class TaskService:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.store = TaskStore(sessions)
        self.results = ResultStore(results_root(settings))
        self.vocabularies = VocabularyService(sessions, settings)
        self.ttl = timedelta(hours=settings.results_ttl_hours)
        roots = {str(p) for root in (settings.data_dir, self.results.root, Path(tempfile.gettempdir()))
                 for p in (Path(root), Path(root).resolve())}
        # A path stands alone (not inside a URL) and ends at a root or a slash (/tmp, not /tmpfoo).
        self._server_paths = re.compile(
            r"(?<![^\s'\"(=])(?:" + "|".join(re.escape(r) for r in sorted(roots, key=len, reverse=True))
            + r")(?=$|[/\s'\",:;)])(?:/[^\s'\",:;)]*)?"
        )
        self.queue_mode = bool(settings.queue_url)
        self._pool: WorkerPool | None = None
        self._janitor: Janitor | None = None
        self._send: Callable[[str], None] | None = None
        if self.queue_mode:
            from hotasr.tasks.queue import sender

            self._send = sender(settings)
        else:
            self._pool = WorkerPool(TaskRunner(settings, sessions), settings.task_workers)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._pool:
            self._pool.start()
        self._janitor = Janitor(
            self.store,
            self.results,
            self.dispatch,
            lease_seconds=self.settings.task_lease_seconds,
            max_attempts=self.settings.task_max_attempts,
            ttl=self.ttl,
            queue_mode=self.queue_mode,
        )
        self._janitor.start()

    def stop(self) -> None:
        if self._janitor:
            self._janitor.stop()
        if self._pool:
            self._pool.stop(float(getattr(self.settings, "shutdown_grace_s", 10)))

    def dispatch(self, task_id: str) -> None:
        if self._send is not None:
            try:
                self._send(task_id)
            except Exception:  # the janitor sends it again later; the task is safe in the database
                log.exception("could not queue task %s; it will be sent again", task_id)
        elif self._pool is not None:
            self._pool.wake()

    # -- requests ---------------------------------------------------------------------------

    def submit(self, account_id: int, body: dict[str, Any]) -> TaskRecord:
        model = self._check_model(body.get("model"))
        urls = self._check_files(account_id, body.get("input"))
        parameters, warnings = self._check_parameters(account_id, body.get("parameters"))
        if body.get("resources"):
            warnings.append("phrase_id (legacy hotwords) is not supported; use vocabulary_id. It was ignored.")
        record = self.store.create(account_id, model, urls, parameters, warnings)
        self.dispatch(record.task_id)
        return record

    def get(self, account_id: int, task_id: str) -> TaskRecord | None:
        if not plausible_task_id(task_id):
            return None
        record = self.store.get(task_id, account_id)
        if record is not None:
            for subtask in record.subtasks:
                if subtask is not None and subtask.message:
                    subtask.message = self.without_server_paths(subtask.message)
        return record

    def without_server_paths(self, message: str) -> str:
        """`message` with any path under the server's own directories (data, results, temp) cut
        out: a file's error is the user's to read, where the server keeps things is not."""
        return self._server_paths.sub("<server file>", message)

    def cancel(self, account_id: int, task_id: str) -> bool:
        if not plausible_task_id(task_id):
            return False
        return self.store.cancel(task_id, account_id, self.ttl)

    def list(
        self,
        account_id: int,
        *,
        status: str | None,
        model: str | None,
        since: datetime | None,
        until: datetime | None,
        page_no: int,
        page_size: int,
    ) -> TaskPage:
        if status is not None and status not in STATUSES:
            raise InvalidParameter(
                f"status must be one of {', '.join(STATUSES)}, got {show(status)}."
            )
        _check_text("model_name", model)
        for name, value, high in (("page_no", page_no, MAX_PAGE_NO), ("page_size", page_size, MAX_PAGE_SIZE)):
            if not 1 <= value <= high:
                raise InvalidParameter(f"{name} must be an integer from 1 to {high}, got {value}.")
        return self.store.list(
            account_id, status=status, model=model, since=since, until=until, page_no=page_no, page_size=page_size
        )

    # -- validation -------------------------------------------------------------------------

    def _check_model(self, model: Any) -> str:
        if model in (None, ""):
            raise MissingModel('Required parameter "model" missing from request.')
        info = get_model(model) if isinstance(model, str) else None
        if info is None:
            raise ModelNotServed(
                str(model), f"Model can not be found: {show(model)}. Recorded files take: {', '.join(FILE_MODELS)}."
            )
        if info.mode != "file":
            raise InvalidParameter(
                f"model {model!r} is a real-time model (WebSocket API); recorded-file transcription takes: "
                f"{', '.join(FILE_MODELS)}.",
            )
        if not self.settings.is_served(model):
            served = [n for n in FILE_MODELS if self.settings.is_served(n)]
            raise ModelNotServed(
                model, f"model {model!r} is not served by this server (served: {', '.join(served) or 'none'})."
            )
        return model

    def _check_files(self, account_id: int, data: Any) -> builtins.list[str]:
        if not isinstance(data, dict) or "file_urls" not in data:
            raise MissingInput('Required parameter "input.file_urls" missing from request.')
        urls = data["file_urls"]
        if not isinstance(urls, list) or not urls:
            raise InvalidParameter("input.file_urls must be a non-empty list of URLs.")
        if len(urls) > MAX_FILES:
            raise InvalidParameter(
                f"input.file_urls has {len(urls)} URLs; at most {MAX_FILES} per task."
            )
        checked = []
        for url in urls:
            url = check_url_syntax(url)
            if url.startswith("oss://") and upload_owner(oss_key(url)) != account_id:
                raise InvalidURL(f"{url} was not uploaded by this account.")
            checked.append(url)
        return checked

    def _check_parameters(self, account_id: int, data: Any) -> tuple[TaskParameters, builtins.list[str]]:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidParameter("parameters must be a JSON object.")
        warnings: list[str] = []
        vocabulary_id = data.get("vocabulary_id")
        if vocabulary_id is not None:
            if not isinstance(vocabulary_id, str) or not vocabulary_id:
                raise InvalidParameter(
                    f"vocabulary_id must be a string, got {show(vocabulary_id)}."
                )
            try:
                self.vocabularies.get(account_id, vocabulary_id)
            except VocabularyNotFound:
                raise InvalidParameter(
                    f"vocabulary_id {vocabulary_id!r} does not exist in this account."
                ) from None
        hints = data.get("language_hints")
        if hints is None:
            hints = []
        if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
            raise InvalidParameter(f"language_hints must be a list of strings, got {show(hints)}.")
        channels = data.get("channel_id", [0])
        if isinstance(channels, int) and not isinstance(channels, bool):
            channels = [channels]
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in channels)
        ):
            raise InvalidParameter(
                f"channel_id must be a list of channel numbers (from 0), got {show(channels)}."
            )
        flags = {}
        for name in ("disfluency_removal_enabled", "timestamp_alignment_enabled", "diarization_enabled"):
            value = data.get(name, False)
            if not isinstance(value, bool):
                raise InvalidParameter(f"{name} must be true or false, got {show(value)}.")
            flags[name] = value
        speaker_count = _speaker_count(data)
        if speaker_count is not None and not flags["diarization_enabled"]:
            warnings.append("speaker_count only applies with diarization_enabled: true; it was ignored.")
            speaker_count = None
        if data.get("special_word_filter"):
            warnings.append("special_word_filter is not supported by hotasr; no words were filtered.")
        parameters = TaskParameters(
            vocabulary_id=vocabulary_id,
            language_hints=tuple(hints),
            channel_ids=tuple(dict.fromkeys(channels)),
            disfluency_removal=flags["disfluency_removal_enabled"],
            timestamp_alignment=flags["timestamp_alignment_enabled"],
            diarization=flags["diarization_enabled"],
            speaker_count=speaker_count,
        )
        return parameters, warnings


def _speaker_count(data: dict[str, Any]) -> int | None:
    """`speaker_count`: DashScope's hint for diarization, an integer from 2 to 100 (absent: estimated)."""
    value = data.get("speaker_count")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SPEAKERS <= value <= MAX_SPEAKERS:
        raise InvalidParameter(
            f"speaker_count must be an integer from {MIN_SPEAKERS} to {MAX_SPEAKERS}, got {show(value)}.",
        )
    return value
