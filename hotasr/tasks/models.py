"""Task statuses, validated request parameters, the task record the store hands out, and what a
task keeps of each file it transcribed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotasr.errors import HotasrError
from hotasr.transcript import Transcript, transcript_from_dict, transcript_to_dict

PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELED = "CANCELED"
UNKNOWN = "UNKNOWN"
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELED})  # a task in one of these never changes again

MAX_FILES = 100


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
    """The outcome of one file. `result_key` names its transcript in the results store.

    A failed file keeps its domain error: `error` is the class name (hotasr.errors), `code` the
    error's code and `message` its words; the adapter maps them onto its wire. Rows written before
    `error` existed hold DashScope's code in `code` and no `error`.
    """

    file_url: str
    status: str  # SUCCEEDED or FAILED
    code: str | None = None
    message: str | None = None
    result_key: str | None = None
    billed_seconds: float = 0.0
    error: str | None = None

    @classmethod
    def failed(cls, file_url: str, error: HotasrError) -> Subtask:
        return cls(file_url, FAILED, error.code, error.message, error=type(error).__name__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_url": self.file_url,
            "subtask_status": self.status,
            "code": self.code,
            "message": self.message,
            "result_key": self.result_key,
            "billed_seconds": self.billed_seconds,
            "error": self.error,
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
            error=data.get("error"),
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


@dataclass(slots=True)
class FileTranscript:
    """What a task keeps for one file it transcribed, in the results store: the audio's properties
    and one Transcript per requested channel, serialised neutrally. The DashScope adapter renders it
    as the transcript JSON of docs/dashscope-protocol.md §5.3 when the file is fetched (hotasr.api.dashscope_shapes)."""

    FORMAT = "hotasr.file-transcript/1"

    file_url: str
    codec: str
    channels: int  # of the source file
    sample_rate: int  # of the source file
    duration_ms: int
    transcripts: list[tuple[int, Transcript]]  # (channel number, its transcript), as requested
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {  # "format" first: a stored file is told from DashScope JSON of earlier versions by its start
            "format": self.FORMAT,
            "file_url": self.file_url,
            "codec": self.codec,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "duration_ms": self.duration_ms,
            "transcripts": [{"channel": c, "transcript": transcript_to_dict(t)} for c, t in self.transcripts],
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileTranscript:
        return cls(
            data["file_url"], data["codec"], data["channels"], data["sample_rate"], data["duration_ms"],
            [(t["channel"], transcript_from_dict(t["transcript"])) for t in data["transcripts"]],
            list(data["warnings"]),
        )
