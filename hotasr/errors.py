"""The domain errors: what can go wrong, in hotasr's own words, free of any wire protocol.

The core (audio, recognition, hotword lists, real-time sessions, file tasks) raises these and
nothing else a client is meant to see. An error carries a message written for the end user (it
names the offending item), optionally the request `field` at fault, and a stable `code`: its class
name, or for an `AudioError` the decoder's reason (`EMPTY_FILE`, ...). It carries no HTTP status
and no DashScope or OpenAI code: one table per protocol in the adapters (`hotasr.api.wire_errors`)
maps each class to those, so adding an error means adding a class here and a row to each table
(a test checks that no row is missing).

    HotasrError
    ├── InvalidInput               the request, or the data it names, cannot be used as given
    │   ├── InvalidParameter       a parameter breaks a rule
    │   │   ├── HotwordError       a hotword list breaks DashScope's rules (hotasr.hotwords)
    │   │   └── AccountError       an account or key request that cannot be done
    │   ├── MissingModel           no model named
    │   ├── MissingInput           no input: an empty body, no file, no file URLs
    │   │   └── NoAudio            a real-time stream ended without a single sample
    │   ├── RequestTooLarge        a body or an upload past its size limit
    │   ├── InvalidURL             a file URL that cannot name a file hotasr can fetch
    │   ├── FetchError             a file URL whose file could not be fetched
    │   │   ├── DownloadFailed     the download failed, or was refused (SSRF guard, redirects, ...)
    │   │   ├── FileTooLarge       the download is past max_download_bytes
    │   │   └── EmptyFile          the file is 0 bytes
    │   ├── AudioError             audio that cannot be turned into samples (`code` says why)
    │   ├── PoisonFile             a file whose decoding the worker died in, again and again
    │   ├── ClientTimeout          the client let a time limit pass (no audio, no speech)
    │   └── WrongState             the operation does not apply to the object as it is now
    ├── Unauthenticated            no API key, or not a live one
    ├── AccessDenied               a signed URL or upload policy that is invalid or expired
    ├── NotFound                   no such object (or not this account's)
    │   ├── VocabularyNotFound     no such hotword list
    │   └── ModelNotServed         a model name unknown, or not served here
    ├── AlreadyExists              the object exists already and may not be overwritten
    ├── Throttled                  too much at once: retry later
    │   ├── RateLimited            a key past its request rate or its stream/connection count
    │   ├── QuotaExceeded          an account past an allocation (hotword lists)
    │   └── ServerBusy             the server at its stream limit, or too far behind real time
    ├── NoSpeech                   a file in which no speech was recognized
    └── InternalError              hotasr failed: not the caller's fault
        └── EngineFailed           recognition (or diarization) failed or is not available
"""

from __future__ import annotations

from typing import Any


class HotasrError(Exception):
    """The base of every domain error; `message` is meant for the end user."""

    code: str = "HotasrError"  # stable and protocol-neutral: the class name unless a class says otherwise

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = cls.__name__
        _CLASSES[cls.__name__] = cls

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the request field at fault, where the adapter knows it (OpenAI's `param`)

    def __str__(self) -> str:
        return self.message


_CLASSES: dict[str, type[HotasrError]] = {"HotasrError": HotasrError}  # by name, as stored with failed files


def error_class(name: str) -> type[HotasrError] | None:
    """The domain error class of that name (as stored with a failed file), or None."""
    return _CLASSES.get(name)


def all_error_classes() -> list[type[HotasrError]]:
    """HotasrError and every subclass, the hierarchy above."""
    found: list[type[HotasrError]] = []
    pending: list[type[HotasrError]] = [HotasrError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


# -- bad input ------------------------------------------------------------------------------------


class InvalidInput(HotasrError):
    """The request, or the data it names, cannot be used as given."""


class InvalidParameter(InvalidInput):
    """A parameter breaks a rule; the message names it and the value."""


class HotwordError(InvalidParameter, ValueError):
    """A hotword list breaks a rule; the message names the offending item by index and text."""


class AccountError(InvalidParameter, ValueError):
    """A request about accounts or keys that cannot be done."""


class MissingModel(InvalidInput):
    """The request names no model."""


class MissingInput(InvalidInput):
    """The request carries no input: an empty body, no file, no file URLs."""


class NoAudio(MissingInput):
    """A real-time stream ended without a single sample of audio: nothing to recognize, no result."""

    def __init__(self) -> None:
        super().__init__("the stream ended without any audio: no audio frames arrived, or they held "
                         "no samples (an empty or header-only file)")


class RequestTooLarge(InvalidInput):
    """A request body or an uploaded file past its size limit."""


class InvalidURL(InvalidInput):
    """A file URL that cannot name a file hotasr can fetch (syntax, scheme, another account's upload)."""


class FetchError(InvalidInput):
    """A file that could not be fetched (the file of one sub-task)."""


class DownloadFailed(FetchError):
    """The download failed or was refused: network, HTTP status, redirects, time, the SSRF guard."""


class FileTooLarge(FetchError):
    """The file is larger than the server downloads (max_download_bytes)."""


class EmptyFile(FetchError):
    """The file is empty (0 bytes)."""


class AudioError(InvalidInput):
    """Audio that cannot be turned into samples; `code` is one of hotasr.audio_errors' reasons."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple[type[AudioError], tuple[str, str]]:  # crosses the decoder process boundary
        return (type(self), (self.code, self.message))


class PoisonFile(InvalidInput):
    """A file the worker died in while decoding it, as many times as it is tried: not tried again."""


class ClientTimeout(InvalidInput):
    """The client let a time limit pass: no audio for too long, or no speech without heartbeat."""


class WrongState(InvalidInput):
    """The operation does not apply to the object as it is now (cancel a task that already runs)."""


# -- who may, what exists -------------------------------------------------------------------------


class Unauthenticated(HotasrError):
    """No API key, or not a live one."""


class AccessDenied(HotasrError):
    """A signed URL or an upload policy that is invalid or has expired."""


class NotFound(HotasrError):
    """No such object, or not this account's (which reads the same)."""


class VocabularyNotFound(NotFound, LookupError):
    """No hotword list with this id in this account."""

    def __init__(self, vocabulary_id: str) -> None:
        super().__init__(f"vocabulary {vocabulary_id!r} not found")


class ModelNotServed(NotFound):
    """The model name is unknown to the catalog or not configured on this server."""

    def __init__(self, model: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.model = model


class AlreadyExists(HotasrError):
    """The object exists already and may not be overwritten."""


# -- too busy -------------------------------------------------------------------------------------


class Throttled(HotasrError):
    """Too much at once; the same request may succeed later."""


class RateLimited(Throttled):
    """An API key past its request rate, or its count of streams or connections."""


class QuotaExceeded(Throttled):
    """An account past an allocation: deleting something frees it."""


class ServerBusy(Throttled):
    """The server is at its stream limit, or its results fall too far behind real time."""


# -- outcomes and failures ------------------------------------------------------------------------


class NoSpeech(HotasrError):
    """A file in which no speech was recognized (or detected): nothing to transcribe."""


class InternalError(HotasrError):
    """hotasr itself failed; the caller did nothing wrong and may retry."""


class EngineFailed(InternalError):
    """Recognition (or diarization) failed, or is not available on this server."""
