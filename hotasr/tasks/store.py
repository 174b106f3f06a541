"""Tasks in the database. Every state change is a compare-and-set UPDATE, so any number of API
servers and workers may share one database: a task is claimed by exactly one of them, and a
worker that lost its claim (its lease lapsed) can no longer write.
"""

from __future__ import annotations

import builtins
import math
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hotasr.errors import InternalError, PoisonFile
from hotasr.storage.db import reading
from hotasr.storage.tables import TranscriptionTask, utcnow
from hotasr.tasks.models import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    Subtask,
    TaskParameters,
    TaskRecord,
)

_INSTANCE = uuid.uuid4().hex[:8]

# A file whose decoding began is marked in its subtask slot until decoding ends. A task claimed
# with such a mark left over had its worker die while that file decoded. The decode runs in a
# child process (hotasr.audio_guard), so that death was most likely a kill (a deploy, the OOM
# killer) and the file is decoded once more; if its worker dies there again (DECODE_TRIES), the
# file fails as a PoisonFile instead, so a poison file cannot crash-loop the workers.
DECODING = "DECODING"
INTERRUPTED = "INTERRUPTED"  # a file whose decode was interrupted before: not done, counted
DECODE_TRIES = 2
CRASHED_CODE = PoisonFile.code
CRASHED_MESSAGE = (
    f"the worker stopped {DECODE_TRIES} times while decoding this file (a crash in the audio decoder, "
    "or kills); it is not retried again, so that it cannot crash-loop the workers"
)


def worker_identity(name: str = "") -> str:
    """`host:pid:instance[:name]`: enough to tell, on the same host, that an owner is dead."""
    ident = f"{socket.gethostname()}:{os.getpid()}:{_INSTANCE}"
    return f"{ident}:{name}" if name else ident


def owner_is_dead(owner: str | None) -> bool:
    """True only when certain: the owner ran on this host and its process is gone (or was an
    earlier process with our pid, as when a container restarts with pid 1)."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid, instance = int(parts[1]), parts[2]
    if pid == os.getpid():
        return instance != _INSTANCE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite hands back naive values (always UTC)
        return moment.replace(tzinfo=UTC)
    return moment


def _record(row: TranscriptionTask) -> TaskRecord:
    return TaskRecord(
        task_id=row.id,
        account_id=row.account_id,
        model=row.model,
        status=row.status,
        file_urls=list(row.file_urls),
        parameters=TaskParameters.from_dict(row.parameters or {}),
        subtasks=[Subtask.from_dict(s) if s and not _marked(s) else None for s in (row.subtasks or [])],
        warnings=list(row.warnings or []),
        submit_time=_aware(row.submit_time) or utcnow(),
        scheduled_time=_aware(row.scheduled_time),
        end_time=_aware(row.end_time),
        expires_at=_aware(row.expires_at),
        usage_seconds=row.usage_seconds or 0,
        attempts=row.attempts or 0,
        owner=row.owner,
    )


def _subtask_dicts(subtasks: Sequence[Subtask | None]) -> list[dict[str, Any] | None]:
    return [s.to_dict() if s else None for s in subtasks]


def _status(subtask: dict[str, Any] | None) -> object:
    return subtask.get("subtask_status") if subtask else None


def _decoding(subtask: dict[str, Any] | None) -> bool:
    return _status(subtask) == DECODING


def _marked(subtask: dict[str, Any] | None) -> bool:
    """A DECODING or INTERRUPTED mark: the file is not done."""
    return _status(subtask) in (DECODING, INTERRUPTED)


def _interruptions(subtask: dict[str, Any] | None) -> int:
    return int(subtask.get("interrupted") or 0) if subtask and _marked(subtask) else 0


def _after_death(subtask: dict[str, Any] | None, url: str) -> dict[str, Any] | None:
    """The slot of a file once its worker died: a DECODING mark counts one more interruption."""
    if not _decoding(subtask):
        return subtask
    count = _interruptions(subtask) + 1
    if count >= DECODE_TRIES:
        return _crashed(url)
    return {"file_url": url, "subtask_status": INTERRUPTED, "interrupted": count}


def _crashed(url: str) -> dict[str, Any]:
    return Subtask.failed(url, PoisonFile(CRASHED_MESSAGE)).to_dict()


@dataclass(frozen=True, slots=True)
class TaskPage:
    records: list[TaskRecord]
    total: int


@dataclass(frozen=True, slots=True)
class Recovery:
    requeued: list[str]  # back to PENDING: dispatch them again
    failed: list[str]  # interrupted too often


class TaskStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- API side ---------------------------------------------------------------------------

    def create(
        self, account_id: int, model: str, file_urls: Sequence[str], parameters: TaskParameters, warnings: list[str]
    ) -> TaskRecord:
        now = utcnow()
        row = TranscriptionTask(
            id=str(uuid.uuid4()),
            account_id=account_id,
            model=model,
            status=PENDING,
            file_urls=list(file_urls),
            parameters=parameters.to_dict(),
            subtasks=[None] * len(file_urls),
            warnings=warnings,
            submit_time=now,
            usage_seconds=0,
            attempts=0,
            dispatched_at=now,
        )
        with self._sessions.begin() as session:
            session.add(row)
        return _record(row)

    def get(self, task_id: str, account_id: int | None = None) -> TaskRecord | None:
        """The task, or None when it does not exist or (with account_id) belongs to another account."""
        with reading(self._sessions) as session:
            row = session.get(TranscriptionTask, task_id)
            if row is None or (account_id is not None and row.account_id != account_id):
                return None
            return _record(row)

    def list(
        self,
        account_id: int,
        *,
        status: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_no: int = 1,
        page_size: int = 10,
    ) -> TaskPage:
        conditions: list[Any] = [TranscriptionTask.account_id == account_id]
        if status:
            conditions.append(TranscriptionTask.status == status)
        if model:
            conditions.append(TranscriptionTask.model == model)
        if since:
            conditions.append(TranscriptionTask.submit_time >= since)
        if until:
            conditions.append(TranscriptionTask.submit_time <= until)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(TranscriptionTask).where(*conditions)) or 0
            rows = session.scalars(
                select(TranscriptionTask)
                .where(*conditions)
                .order_by(TranscriptionTask.submit_time.desc(), TranscriptionTask.id)
                .offset((page_no - 1) * page_size)
                .limit(page_size)
            ).all()
            return TaskPage([_record(r) for r in rows], total)

    def cancel(self, task_id: str, account_id: int, ttl: timedelta) -> bool:
        """PENDING -> CANCELED; False when the task is in any other state (or not this account's)."""
        now = utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(TranscriptionTask)
                .where(
                    TranscriptionTask.id == task_id,
                    TranscriptionTask.account_id == account_id,
                    TranscriptionTask.status == PENDING,
                )
                .values(status=CANCELED, end_time=now, expires_at=now + ttl)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    # -- worker side ------------------------------------------------------------------------

    def claim(self, task_id: str, owner: str, lease: timedelta) -> TaskRecord | None:
        """PENDING -> RUNNING for `owner`, atomically; None when someone else got it first."""
        now = utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(TranscriptionTask)
                .where(TranscriptionTask.id == task_id, TranscriptionTask.status == PENDING)
                .values(
                    status=RUNNING,
                    owner=owner,
                    lease_until=now + lease,
                    attempts=TranscriptionTask.attempts + 1,
                    scheduled_time=func.coalesce(TranscriptionTask.scheduled_time, now),
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(TranscriptionTask, task_id)
            assert row is not None
            if any(_decoding(s) for s in row.subtasks or []):  # the last worker died decoding it
                row.subtasks = [_after_death(s, url) for s, url in zip(row.subtasks, row.file_urls, strict=True)]
                session.flush()
            return _record(row)

    def claim_next(self, owner: str, lease: timedelta) -> TaskRecord | None:
        """The oldest PENDING task, claimed; tries a few in case other workers race us."""
        with self._sessions() as session:
            candidates = session.scalars(
                select(TranscriptionTask.id)
                .where(TranscriptionTask.status == PENDING)
                .order_by(TranscriptionTask.submit_time)
                .limit(8)
            ).all()
        for task_id in candidates:
            record = self.claim(task_id, owner, lease)
            if record is not None:
                return record
        return None

    def _update_running(self, task_id: str, owner: str, /, **values: Any) -> bool:
        """Compare-and-set on a task this owner is running; False when it is no longer ours
        (recovered by the janitor after a lost lease, or finished elsewhere)."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(TranscriptionTask)
                .where(
                    TranscriptionTask.id == task_id,
                    TranscriptionTask.owner == owner,
                    TranscriptionTask.status == RUNNING,
                )
                .values(**values)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    def renew(self, task_id: str, owner: str, lease: timedelta) -> bool:
        """Extend the lease; False when the task is no longer ours (it was recovered)."""
        return self._update_running(task_id, owner, lease_until=utcnow() + lease)

    def save_progress(
        self, task_id: str, owner: str, subtasks: Sequence[Subtask | None], decoding: int | None = None
    ) -> bool:
        """Save the files done; `decoding`: the index of the file whose decoding begins now (see DECODING)."""
        values = _subtask_dicts(subtasks)
        if decoding is not None:
            with reading(self._sessions) as session:
                row = session.get(TranscriptionTask, task_id)
                before = (row.subtasks or [None] * (decoding + 1))[decoding] if row else None
            values[decoding] = {"file_url": "", "subtask_status": DECODING, "interrupted": _interruptions(before)}
        return self._update_running(task_id, owner, subtasks=values)

    def finish(
        self,
        task_id: str,
        owner: str,
        status: str,
        subtasks: Sequence[Subtask | None],
        usage_seconds: int,
        ttl: timedelta,
    ) -> bool:
        now = utcnow()
        return self._update_running(
            task_id,
            owner,
            status=status,
            subtasks=_subtask_dicts(subtasks),
            usage_seconds=usage_seconds,
            end_time=now,
            expires_at=now + ttl,
            lease_until=None,
        )

    def release(self, task_id: str, owner: str) -> bool:
        """Give a RUNNING task back (graceful shutdown): PENDING again, the attempt not counted, and a
        file left mid-decode by the stop is decoded again."""
        with reading(self._sessions) as session:
            row = session.get(TranscriptionTask, task_id)
            subtasks = [  # a stop is no crash: the mark keeps its count, not one more
                {**s, "subtask_status": INTERRUPTED} if s and _decoding(s) else s
                for s in (row.subtasks if row else None) or []
            ]
        return self._update_running(
            task_id,
            owner,
            subtasks=subtasks,
            status=PENDING,
            owner=None,  # a column value: the task is nobody's again
            lease_until=None,
            attempts=TranscriptionTask.attempts - 1,
            dispatched_at=utcnow(),
        )

    # -- janitor ----------------------------------------------------------------------------

    def recover(
        self, max_attempts: int, ttl: timedelta, is_dead: Callable[[str | None], bool] = owner_is_dead
    ) -> Recovery:
        """RUNNING tasks whose worker died (lease lapsed, or its process is gone on this host)
        go back to PENDING, or FAILED after `max_attempts` claims."""
        now = utcnow()
        with self._sessions() as session:
            rows = session.execute(
                select(TranscriptionTask.id, TranscriptionTask.owner, TranscriptionTask.lease_until,
                       TranscriptionTask.attempts)
                .where(TranscriptionTask.status == RUNNING)
            ).all()
        requeued: list[str] = []
        failed: list[str] = []
        for task_id, owner, lease_until, attempts in rows:
            lapsed = lease_until is None or _aware(lease_until) < now  # type: ignore[operator]
            dead = not lapsed and is_dead(owner)
            if not (lapsed or dead):
                continue
            give_up = (attempts or 0) >= max_attempts
            values: dict[str, Any] = {"owner": None, "lease_until": None}
            if give_up:
                values.update(status=FAILED, end_time=now, expires_at=now + ttl)
            else:
                values.update(status=PENDING, dispatched_at=now)
            conditions: list[Any] = [
                TranscriptionTask.id == task_id,
                TranscriptionTask.status == RUNNING,
                TranscriptionTask.attempts == attempts,
                TranscriptionTask.owner == owner if owner is not None else TranscriptionTask.owner.is_(None),
            ]
            if not dead:  # compare-and-set on the lease: a worker that renewed meanwhile keeps its task
                conditions.append(
                    TranscriptionTask.lease_until.is_(None) | (TranscriptionTask.lease_until < now)
                )
            with self._sessions.begin() as session:
                result = session.execute(update(TranscriptionTask).where(*conditions).values(**values))
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    if give_up:
                        self._fail_unfinished(session, task_id, attempts)
                    (failed if give_up else requeued).append(task_id)
        return Recovery(requeued, failed)

    @staticmethod
    def _fail_unfinished(session: Session, task_id: str, attempts: int) -> None:
        row = session.get(TranscriptionTask, task_id)
        if row is None:
            return
        message = (
            f"the task was interrupted {attempts} times (its worker stopped while running it); "
            "giving up on the files not finished"
        )
        subtasks = [
            _crashed(url) if _decoding(s)
            else s if s and not _marked(s) else Subtask.failed(url, InternalError(message)).to_dict()
            for s, url in zip(row.subtasks, row.file_urls, strict=True)
        ]
        row.subtasks = list(subtasks)
        succeeded = [s for s in subtasks if s["subtask_status"] == "SUCCEEDED"]
        if succeeded:  # the files finished before still count, as in any multi-file task
            row.status = "SUCCEEDED"
            row.usage_seconds = math.ceil(sum(float(s.get("billed_seconds") or 0) for s in succeeded))
        row.warnings = [*row.warnings, message]

    def stale_pending(self, older_than: timedelta) -> builtins.list[str]:
        """PENDING tasks last dispatched before now - older_than (queue mode: the message may be lost);
        marks them dispatched now."""
        now = utcnow()
        with self._sessions.begin() as session:
            ids = list(
                session.scalars(
                    select(TranscriptionTask.id).where(
                        TranscriptionTask.status == PENDING,
                        TranscriptionTask.dispatched_at < now - older_than,
                    )
                ).all()
            )
            if ids:
                session.execute(
                    update(TranscriptionTask).where(TranscriptionTask.id.in_(ids)).values(dispatched_at=now)
                )
        return ids

    def expired(self, limit: int = 500) -> builtins.list[TaskRecord]:
        with self._sessions() as session:
            rows = session.scalars(
                select(TranscriptionTask)
                .where(TranscriptionTask.expires_at.is_not(None), TranscriptionTask.expires_at < utcnow())
                .limit(limit)
            ).all()
            return [_record(r) for r in rows]

    def delete(self, task_ids: Sequence[str]) -> None:
        if not task_ids:
            return
        with self._sessions.begin() as session:
            session.execute(delete(TranscriptionTask).where(TranscriptionTask.id.in_(list(task_ids))))
