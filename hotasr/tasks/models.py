"""Task statuses, validated request parameters and the task record the store hands out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELED = "CANCELED"
UNKNOWN = "UNKNOWN"
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELED})

MAX_FILES = 100


class TaskRequestError(Exception):
    """A submit request that cannot be accepted; `code` is a DashScope error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class TaskParameters:
    """What the runner needs from `parameters` of the submit request (the rest is ignored)."""

    vocabulary_id: str | None = None
    language_hints: tuple[str, ...] = ()
    channel_ids: tuple[int, ...] = (0,)
    disfluency_removal: bool = False
    timestamp_alignment: bool = False
    diarization: bool = False
    speaker_count: int | None = None  # with diarization: the number of speakers, else estimated

    def to_dict(self) -> dict[str, Any]:
        return {
            "vocabulary_id": self.vocabulary_id,
            "language_hints": list(self.language_hints),
            "channel_id": list(self.channel_ids),
            "disfluency_removal_enabled": self.disfluency_removal,
            "timestamp_alignment_enabled": self.timestamp_alignment,
            "diarization_enabled": self.diarization,
            "speaker_count": self.speaker_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskParameters:
        return cls(
            vocabulary_id=data.get("vocabulary_id"),
            language_hints=tuple(data.get("language_hints") or ()),
            channel_ids=tuple(data.get("channel_id") or (0,)),
            disfluency_removal=bool(data.get("disfluency_removal_enabled")),
            timestamp_alignment=bool(data.get("timestamp_alignment_enabled")),
            diarization=bool(data.get("diarization_enabled")),
            speaker_count=data.get("speaker_count"),
        )


@dataclass(slots=True)
class Subtask:
    """The outcome of one file. `result_key` names its transcript in the results store."""

    file_url: str
    status: str  # SUCCEEDED or FAILED
    code: str | None = None
    message: str | None = None
    result_key: str | None = None
    billed_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_url": self.file_url,
            "subtask_status": self.status,
            "code": self.code,
            "message": self.message,
            "result_key": self.result_key,
            "billed_seconds": self.billed_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subtask:
        return cls(
            file_url=data["file_url"],
            status=data["subtask_status"],
            code=data.get("code"),
            message=data.get("message"),
            result_key=data.get("result_key"),
            billed_seconds=float(data.get("billed_seconds") or 0),
        )


@dataclass(slots=True)
class TaskRecord:
    task_id: str
    account_id: int
    model: str
    status: str
    file_urls: list[str]
    parameters: TaskParameters
    subtasks: list[Subtask | None]  # one per file; None until that file is done
    warnings: list[str]
    submit_time: datetime
    scheduled_time: datetime | None = None
    end_time: datetime | None = None
    expires_at: datetime | None = None
    usage_seconds: int = 0
    attempts: int = 0
    owner: str | None = None
