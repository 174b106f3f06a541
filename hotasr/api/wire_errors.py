"""The one place domain errors become wire codes: one table per protocol.

The core raises `hotasr.errors` classes, which carry a message and nothing of any protocol. Each
table below gives, for every one of those classes, what its protocol says: DashScope's HTTP API
an HTTP status and a code (`{"code", "message", "request_id"}`, and a failed file's `code` in a
task), DashScope's WebSocket a `task-failed` error_code, OpenAI's API a status, an error type and
a code. A new domain error is a new row in each (tests/test_wire_errors.py checks none is missing).

An `AudioError` carries the decoder's reason in its `code` (`EMPTY_FILE`, ...): DashScope tells a
few reasons apart (`AUDIO_*` below); OpenAI shows the reason itself, lower-cased.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

from hotasr import errors as e
from hotasr.audio_errors import (
    DECODE_ERROR,
    EMPTY,
    INVALID_CHANNEL,
    NO_AUDIO_STREAM,
    NOT_FOUND,
    TOO_LONG,
    UNSUPPORTED,
)

Row = TypeVar("Row")

# -- DashScope HTTP: (status, code) ---------------------------------------------------------------

DASHSCOPE_HTTP: dict[type[e.HotasrError], tuple[int, str]] = {
    e.HotasrError: (500, "InternalError"),
    e.InvalidInput: (400, "InvalidParameter"),
    e.InvalidParameter: (400, "InvalidParameter"),
    e.HotwordError: (400, "InvalidParameter"),
    e.AccountError: (400, "InvalidParameter"),
    e.MissingModel: (400, "BadRequest.EmptyModel"),
    e.MissingInput: (400, "BadRequest.EmptyInput"),
    e.NoAudio: (400, "BadRequest.EmptyInput"),
    e.RequestTooLarge: (413, "BadRequest.TooLarge"),
    e.InvalidURL: (400, "InvalidURL"),
    e.FetchError: (400, "InvalidFile.DownloadFailed"),
    e.DownloadFailed: (400, "InvalidFile.DownloadFailed"),
    e.FileTooLarge: (400, "InvalidFile.TooLarge"),
    e.EmptyFile: (400, "InvalidFile.DecodeFailed"),  # what the decoder's "empty" becomes
    e.AudioError: (400, "InvalidFile.DecodeFailed"),  # and AUDIO_HTTP by reason
    e.PoisonFile: (400, "InvalidFile.DecodeCrashed"),
    e.ClientTimeout: (408, "RequestTimeOut"),
    e.WrongState: (400, "UnsupportedOperation"),
    e.Unauthenticated: (401, "InvalidApiKey"),
    e.AccessDenied: (403, "AccessDenied"),
    e.NotFound: (404, "NotFound"),
    e.VocabularyNotFound: (404, "NotFound"),
    e.ModelNotServed: (404, "ModelNotFound"),
    e.AlreadyExists: (409, "FileAlreadyExists"),
    e.Throttled: (429, "Throttling"),
    e.RateLimited: (429, "Throttling.RateQuota"),
    e.QuotaExceeded: (429, "Throttling.AllocationQuota"),
    e.ServerBusy: (429, "Throttling"),
    e.NoSpeech: (400, "SUCCESS_WITH_NO_VALID_FRAGMENT"),
    e.InternalError: (500, "InternalError"),
    e.EngineFailed: (500, "InternalError"),
}

# A file's audio, by reason; anything else (DECODE_CRASHED, TOO_MANY_CHANNELS, INVALID_HEADER, ...)
# is InvalidFile.DecodeFailed, the AudioError's message saying which limit or what went wrong.
AUDIO_HTTP: dict[str, str] = {
    UNSUPPORTED: "BadRequest.UnsupportedFileFormat",
    NO_AUDIO_STREAM: "InvalidFile.DecodeFailed",
    EMPTY: "InvalidFile.DecodeFailed",
    DECODE_ERROR: "InvalidFile.DecodeFailed",
    NOT_FOUND: "InvalidFile.DownloadFailed",
    TOO_LONG: "InvalidFile.TooLong",
    INVALID_CHANNEL: "InvalidParameter",
}


def dashscope_http(error: e.HotasrError) -> tuple[int, str]:
    """The HTTP status and DashScope code of `error`."""
    return _http(type(error), error.code)


def _http(cls: type[e.HotasrError], domain_code: str) -> tuple[int, str]:
    status, code = _row(DASHSCOPE_HTTP, cls)
    if issubclass(cls, e.AudioError):
        code = AUDIO_HTTP.get(domain_code, code)
    return status, code


def dashscope_stored_code(error: str | None, code: str | None) -> str | None:
    """The DashScope code of a failed file as a task stored it: its domain error class and code,
    or (files failed before tasks kept domain errors) the DashScope code itself."""
    cls = e.error_class(error) if error else None
    return code if cls is None else _http(cls, code or "")[1]


# -- DashScope WebSocket: task-failed error_code --------------------------------------------------

DASHSCOPE_WS: dict[type[e.HotasrError], str] = {
    e.HotasrError: "InternalError",
    e.InvalidInput: "InvalidParameter",
    e.InvalidParameter: "InvalidParameter",
    e.HotwordError: "InvalidParameter",
    e.AccountError: "InvalidParameter",
    e.MissingModel: "BadRequest.EmptyModel",
    # Spec §6 lists no code for an empty stream (its WS codes: "CLIENT_ERROR (documented), others
    # unspecified"); the closest documented one is HTTP 400 `BadRequest.EmptyInput`, "Required
    # input parameter missing from request": the audio is the task's input.
    e.MissingInput: "BadRequest.EmptyInput",
    e.NoAudio: "BadRequest.EmptyInput",
    e.RequestTooLarge: "BadRequest.TooLarge",
    e.InvalidURL: "InvalidURL",
    e.FetchError: "InvalidFile.DownloadFailed",
    e.DownloadFailed: "InvalidFile.DownloadFailed",
    e.FileTooLarge: "InvalidFile.TooLarge",
    e.EmptyFile: "BadRequest.EmptyInput",
    e.AudioError: "InvalidAudio",  # and AUDIO_WS by reason
    e.PoisonFile: "InvalidFile.DecodeCrashed",
    e.ClientTimeout: "CLIENT_ERROR",  # DashScope's one documented WebSocket code (docs/dashscope-protocol.md §4.1)
    e.WrongState: "UnsupportedOperation",
    e.Unauthenticated: "InvalidApiKey",
    e.AccessDenied: "AccessDenied",
    e.NotFound: "NotFound",
    e.VocabularyNotFound: "InvalidParameter",  # a run-task parameter that names no list
    e.ModelNotServed: "ModelNotFound",
    e.AlreadyExists: "FileAlreadyExists",
    e.Throttled: "Throttling",
    e.RateLimited: "Throttling.RateQuota",
    e.QuotaExceeded: "Throttling.AllocationQuota",
    e.ServerBusy: "Throttling",
    e.NoSpeech: "SUCCESS_WITH_NO_VALID_FRAGMENT",
    e.InternalError: "InternalError",
    e.EngineFailed: "InternalError",
}

AUDIO_WS: dict[str, str] = {EMPTY: "BadRequest.EmptyInput"}  # an empty stream, as NoAudio


def dashscope_ws(error: e.HotasrError) -> str:
    """The task-failed error_code of `error`."""
    code = _row(DASHSCOPE_WS, type(error))
    if isinstance(error, e.AudioError):
        code = AUDIO_WS.get(error.code, code)
    return code


# -- OpenAI: (status, type, code) -----------------------------------------------------------------


class OpenAIWire(NamedTuple):
    status: int
    type: str
    code: str | None  # None: the error's own code, lower-cased (AudioError: `empty_file`, ...)


_INVALID = "invalid_request_error"
_SERVER = "server_error"

OPENAI: dict[type[e.HotasrError], OpenAIWire] = {
    e.HotasrError: OpenAIWire(500, _SERVER, "internal_error"),
    e.InvalidInput: OpenAIWire(400, _INVALID, "invalid_value"),
    e.InvalidParameter: OpenAIWire(400, _INVALID, "invalid_value"),
    e.HotwordError: OpenAIWire(400, _INVALID, "invalid_value"),
    e.AccountError: OpenAIWire(400, _INVALID, "invalid_value"),
    e.MissingModel: OpenAIWire(400, _INVALID, "missing_required_parameter"),
    e.MissingInput: OpenAIWire(400, _INVALID, "missing_required_parameter"),
    e.NoAudio: OpenAIWire(400, _INVALID, "empty_file"),
    e.RequestTooLarge: OpenAIWire(413, _INVALID, "file_too_large"),
    e.InvalidURL: OpenAIWire(400, _INVALID, "invalid_url"),
    e.FetchError: OpenAIWire(400, _INVALID, "download_failed"),
    e.DownloadFailed: OpenAIWire(400, _INVALID, "download_failed"),
    e.FileTooLarge: OpenAIWire(413, _INVALID, "file_too_large"),
    e.EmptyFile: OpenAIWire(400, _INVALID, "empty_file"),
    e.AudioError: OpenAIWire(400, _INVALID, None),
    e.PoisonFile: OpenAIWire(400, _INVALID, "decode_crashed"),
    e.ClientTimeout: OpenAIWire(408, _INVALID, "timeout"),
    e.WrongState: OpenAIWire(400, _INVALID, "unsupported_operation"),
    e.Unauthenticated: OpenAIWire(401, _INVALID, "invalid_api_key"),
    e.AccessDenied: OpenAIWire(403, _INVALID, "access_denied"),
    e.NotFound: OpenAIWire(404, _INVALID, "not_found"),
    e.VocabularyNotFound: OpenAIWire(404, _INVALID, "vocabulary_not_found"),
    e.ModelNotServed: OpenAIWire(404, _INVALID, "model_not_found"),
    e.AlreadyExists: OpenAIWire(409, _INVALID, "already_exists"),
    e.Throttled: OpenAIWire(429, "requests", "rate_limit_exceeded"),
    e.RateLimited: OpenAIWire(429, "requests", "rate_limit_exceeded"),
    e.QuotaExceeded: OpenAIWire(429, "requests", "quota_exceeded"),
    e.ServerBusy: OpenAIWire(429, "requests", "rate_limit_exceeded"),
    e.NoSpeech: OpenAIWire(400, _INVALID, "no_speech"),
    e.InternalError: OpenAIWire(500, _SERVER, "internal_error"),
    e.EngineFailed: OpenAIWire(500, _SERVER, "engine_error"),
}


def openai(error: e.HotasrError) -> tuple[int, str, str]:
    """The HTTP status, error type and error code of `error` in OpenAI's shape."""
    wire = _row(OPENAI, type(error))
    return wire.status, wire.type, wire.code or error.code.lower()


def _row(table: dict[type[e.HotasrError], Row], cls: type[e.HotasrError]) -> Row:
    """The row of `cls`, else of its nearest ancestor (a class defined outside hotasr.errors)."""
    for ancestor in cls.__mro__:
        if ancestor in table:
            return table[ancestor]
    return table[e.HotasrError]
