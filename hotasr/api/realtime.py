"""Real-time recognition over WebSocket: DashScope's duplex protocol (docs/dashscope-protocol.md §4)
over RealtimeSession.

One connection runs tasks one after another: `run-task` → `task-started`, binary audio, interim
and final `result-generated`, `finish-task` → `task-finished`. Every failure is a `task-failed`
with `error_code`/`error_message` in the header, then the connection closes with a close frame:
whatever a client sends (malformed JSON, odd types, lone surrogates, audio that cannot be decoded)
and whatever goes wrong inside (an unexpected exception is an `InternalError`), the client is told
why and the server goes on serving.

Fairness: a task fails after `realtime_audio_timeout_s` without audio, counted from the last audio
frame whatever other messages arrive (continue-task cannot keep a silent stream alive); a
connection without a task is closed after `realtime_idle_close_s`, counted from when its last task
ended; and each API key may hold at most `key_max_connections` open connections, whether they run a
task or not, besides its `key_max_streams` concurrent tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hotasr.accounts import AccountService
from hotasr.api.auth import bearer_token
from hotasr.api.dashscope_shapes import realtime_result_json
from hotasr.api.limits import KeyLimiter, StreamLimiter
from hotasr.api.responses import JSONResponse
from hotasr.api.wire_errors import dashscope_ws
from hotasr.audio import AudioError, AudioLimits
from hotasr.catalog import ModelInfo, get_model
from hotasr.config import Settings
from hotasr.engine import load_engine
from hotasr.errors import (
    ClientTimeout,
    HotasrError,
    InternalError,
    InvalidParameter,
    ModelNotServed,
    RateLimited,
    ServerBusy,
)
from hotasr.hotwords import show
from hotasr.metrics import Metrics
from hotasr.recognize import recognize
from hotasr.streaming.audio_stream import StreamDecoder, open_stream, unsupported_reason
from hotasr.streaming.segmenter import SegmenterConfig
from hotasr.streaming.session import RealtimeSession, SentenceDecode, SentenceEvent, StreamOptions
from hotasr.transcript import Transcript
from hotasr.vocabularies import VocabularyRecord, VocabularyService

log = logging.getLogger("hotasr.realtime")
# DashScope's defaults for the pause that ends a sentence, per family.
DEFAULT_SILENCE_MS = {"fun-asr": 1300, "paraformer": 800}


class RealtimeHub:
    """What all streams of one server share: the decode pool, the stream count and the per-key
    connection count."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.connections = KeyLimiter(settings.key_max_connections)
        self.pool = ThreadPoolExecutor(max_workers=settings.realtime_workers, thread_name_prefix="realtime")
        self._active = 0
        self._decoding = 0
        self._lock = threading.Lock()

    def has_idle_worker(self) -> bool:
        return self._decoding < self.settings.realtime_workers

    def timed_decode(self, recognize_fn: Callable[..., Transcript], decode: SentenceDecode) -> Transcript:
        """Runs on a pool thread: counts busy workers (interims wait for an idle one) and decode time."""
        with self._lock:
            self._decoding += 1
        started = time.perf_counter()
        try:
            return recognize_fn(decode.samples, kind=decode.kind, prefix=decode.prefix, context=decode.context,
                                heard=decode.heard, cancel=decode.cancel)
        finally:
            with self._lock:
                self._decoding -= 1
            self.metrics.decode_seconds.labels("realtime").inc(time.perf_counter() - started)

    @property
    def active(self) -> int:
        return self._active

    @active.setter
    def active(self, value: int) -> None:
        self._active = value
        self.metrics.active_streams.set(value)


BROWSER_AUTH_PREFIX = "bearer."


def _browser_token(websocket: WebSocket) -> str | None:
    """Browsers cannot set headers on a WebSocket: they offer the key as subprotocol `bearer.<key>`."""
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith(BROWSER_AUTH_PREFIX):
            return protocol
    return None


router = APIRouter()


@router.websocket("/api-ws/v1/inference/")
@router.websocket("/api-ws/v1/inference")
async def _endpoint(websocket: WebSocket) -> None:
    accounts: AccountService = websocket.app.state.accounts
    protocol = None if websocket.headers.get("authorization") else _browser_token(websocket)
    token = protocol[len(BROWSER_AUTH_PREFIX):] if protocol else bearer_token(websocket)
    found = await accounts.identify_on_loop(token) if token else None
    if found is None:
        # The SDK reports a failed handshake with 401/403 as "Unauthorized, your api-key is invalid!".
        body = {"code": "InvalidApiKey", "message": "Invalid API-key provided."}
        try:
            await websocket.send_denial_response(JSONResponse(body, status_code=401))
        except RuntimeError:  # server without the denial-response extension: a plain 403
            await websocket.close(code=1008)
        return
    account, key_id = found
    hub: RealtimeHub = websocket.app.state.realtime
    if not hub.connections.acquire(key_id):
        # Accepted, then refused in the protocol: the SDK shows a task-failed's code and message,
        # while a refused handshake reads as "your api-key is invalid".
        await websocket.accept(subprotocol=protocol)
        await _refuse(websocket, RateLimited(
            f"this API key already has {hub.connections.per_key} open real-time connections, its limit "
            "(key_max_connections); close idle ones or retry later"))
        return
    try:
        await websocket.accept(subprotocol=protocol)
        await _Connection(websocket, account, key_id).serve()
    finally:
        hub.connections.release(key_id)


async def _refuse(websocket: WebSocket, error: HotasrError) -> None:
    header = {**_header("", "task-failed"), "error_code": dashscope_ws(error), "error_message": error.message}
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.send_text(json.dumps({"header": header, "payload": {}}))
        await websocket.close(code=1000)


@dataclass(slots=True)
class _Task:
    task_id: str
    fmt: str
    session: RealtimeSession
    decoder: StreamDecoder
    messages: int = 0  # received while it runs, audio or not


ACTIONS = ("run-task", "continue-task", "finish-task")
MAX_TEXT_CHARS = 1 << 20  # a control message is a few hundred bytes; audio goes in binary frames
MAX_DEPTH = 32  # run-task needs 3 levels (payload.parameters.language_hints); a context a few more
MAX_TASK_ID_CHARS = 128  # the SDK's are 32 hex digits, the docs' hyphenated UUIDs 36
INT64 = 1 << 63
# A task's messages must carry MIN_FRAME_MS of audio on average (after FRAME_GRACE messages: a WAV
# header, a compressed stream's first bytes, a few continue-tasks). Each message costs the server
# ~20 us of CPU whatever it holds (WebSocket and ASGI layers), and 100 ms of audio ~1 ms: 1-byte
# frames, 32 000 a second of audio, cost 50-100x the CPU of 100 ms frames even though the session
# processes audio a VAD window at a time; at 10 ms a frame the overhead is a few tenths at most.
# DashScope recommends 100 ms, 1-16 KB a frame (docs/dashscope-protocol.md §4.2). Measured in BENCHMARKS §6.1.
MIN_FRAME_MS = 10
FRAME_GRACE = 200
SHOWN_CHARS = 80  # of a client's value quoted in an error message
MAX_ERROR_CHARS = 500  # of an error message
@dataclass(frozen=True, slots=True)
class _Message:
    action: str
    task_id: str | None  # None: missing or not a usable id (the action's handler says so)
    payload: dict[str, Any]


def _quote(value: Any) -> str:
    """A client's value for an error message: JSON as they wrote it, ASCII-escaped where it holds
    what UTF-8 cannot carry (lone surrogates), cut to SHOWN_CHARS."""
    try:
        text = show(value)
        text.encode()
    except (UnicodeEncodeError, RecursionError, ValueError):
        text = json.dumps(value, default=repr) if not isinstance(value, str) else ascii(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _invalid(message: str) -> InvalidParameter:
    return InvalidParameter(message)


def _check_values(root: Any) -> None:
    """Reject what no field of the protocol holds and what later code could trip on: nesting
    deeper than MAX_DEPTH, integers beyond 64 bits, strings (keys included) that UTF-8 cannot
    carry. Iterative: a deep document must not exhaust the stack here either."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), root)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict | list):
            if len(where) >= MAX_DEPTH:
                raise _invalid(f"{_path(where)} is nested more than {MAX_DEPTH} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(where, key, "a key in ")
                stack.append(((*where, key), item))
        elif isinstance(value, str):
            _check_text(where, value)
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
            raise _invalid(f"{_path(where)} is an integer of {len(str(abs(value)))} digits, out of range")


def _path(where: tuple[str | int, ...]) -> str:
    """Where a value sits in the message, e.g. `payload.parameters.language_hints[0]`."""
    text = "message" if not where else ""
    for key in where:
        text += f"[{key}]" if isinstance(key, int) else f"{'.' if text else ''}{_quote(key)[1:-1]}"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _check_text(where: tuple[str | int, ...], text: str, what: str = "") -> None:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise _invalid(f"{what}{_path(where)} holds {bad!a}, a lone surrogate that is not text "
                       "(a \\u escape of half a UTF-16 pair)") from None


def _parse(text: str) -> _Message:
    """A text frame as a protocol message, or InvalidParameter naming what is wrong with it."""
    if len(text) > MAX_TEXT_CHARS:
        raise _invalid(f"a text message of {len(text)} characters is over the limit of {MAX_TEXT_CHARS}")
    try:
        message = json.loads(text)
    except RecursionError:
        raise _invalid("the message is nested too deeply to parse") from None
    except ValueError as exc:  # JSONDecodeError, and integers of more than 4300 digits
        raise _invalid(f"the message is not valid JSON: {str(exc)[:SHOWN_CHARS]}") from None
    if not isinstance(message, dict):
        raise _invalid(f"the message must be a JSON object with header and payload, not {_kind(message)}")
    _check_values(message)
    header = message.get("header")
    if not isinstance(header, dict):
        raise _invalid(f"the message's header must be an object holding action and task_id, not {_kind(header)}")
    payload = message.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise _invalid(f"the message's payload must be an object, not {_kind(payload)}")
    action = header.get("action")
    if action not in ACTIONS:
        raise _invalid(f"unknown action {_quote(action)} in header.action; expected one of {', '.join(ACTIONS)}")
    task_id = header.get("task_id")
    usable = isinstance(task_id, str) and 0 < len(task_id) <= MAX_TASK_ID_CHARS
    return _Message(action, task_id if usable else None, payload)


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _kind(value: Any) -> str:
    """A JSON value's type in JSON's words, for messages about a value of the wrong type."""
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string"),
                       (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


class _Connection:
    def __init__(self, websocket: WebSocket, account: int, key_id: str) -> None:
        self.ws = websocket
        self.account = account
        self.key_id = key_id
        self.streams: StreamLimiter = websocket.app.state.stream_limiter
        self.hub: RealtimeHub = websocket.app.state.realtime
        self.settings: Settings = websocket.app.state.settings
        self.task: _Task | None = None
        self._send_lock = asyncio.Lock()
        self._closed = False
        self._waiting = asyncio.Event()  # set while the connection waits for the client's next message
        self._rearm = asyncio.Event()  # set when a task starts or ends: the watchdog's deadline changes
        # The clocks of the two timeouts: the last audio frame of the running task, and the end of
        # the last task (or the connection's start). Other messages reset neither.
        self._audio_at = self._idle_since = time.monotonic()

    async def serve(self) -> None:
        watchdog = asyncio.get_running_loop().create_task(self._watch())
        try:
            await self._receive_loop()
        except WebSocketDisconnect:
            pass
        except Exception:  # a bug must still end in task-failed and a close frame, never a dropped socket
            log.exception("real-time connection failed")
            await self._fail(self._current_id(), InternalError("an internal error ended the task; retry later"))
            await self._close()
        finally:
            watchdog.cancel()
            self._end_task()

    async def _receive_loop(self) -> None:
        while not self._closed:
            self._waiting.set()
            message = await self.ws.receive()
            self._waiting.clear()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await self._on_audio(message["bytes"])
            elif message.get("text") is not None:
                await self._on_text(message["text"])

    def _timeout(self) -> tuple[float, float]:
        """(seconds, since when): the running task's audio timeout, else the idle connection's."""
        if self.task:
            return self.settings.realtime_audio_timeout_s, self._audio_at
        return self.settings.realtime_idle_close_s, self._idle_since

    async def _watch(self) -> None:
        """Fail the task, or close the idle connection, once its timeout has passed. One timer for
        the connection rather than one per received message: a timeout around each receive cost
        more CPU than the rest of a small audio frame's handling."""
        while not self._closed:
            limit, since = self._timeout()
            left = since + limit - time.monotonic()
            if left > 0:
                self._rearm.clear()
                with contextlib.suppress(TimeoutError):  # a task starting or ending changes the deadline
                    await asyncio.wait_for(self._rearm.wait(), left)
                continue
            # Only while the connection waits for the client: a message being handled (finish-task
            # waiting for the last final) is not the client's silence.
            await self._waiting.wait()
            limit, since = self._timeout()
            if since + limit > time.monotonic():
                continue
            if self.task:
                # DashScope's words (docs/dashscope-protocol.md §4.1), whatever else the client sent meanwhile.
                await self._fail(self.task.task_id, ClientTimeout(f"request timeout after {limit:g} seconds."))
            await self._close()

    def _current_id(self, task_id: str | None = None) -> str:
        """The task_id a task-failed names: the running task's, else the message's if usable."""
        return self.task.task_id if self.task else task_id or ""

    async def _reject(self, error: HotasrError, task_id: str | None = None) -> None:
        await self._fail(self._current_id(task_id), error)
        await self._close()

    # -- messages --------------------------------------------------------------------------------

    async def _on_text(self, text: str) -> None:
        try:
            message = _parse(text)
        except InvalidParameter as exc:
            return await self._reject(exc)
        if message.action == "run-task":
            await self._run_task(message.task_id, message.payload)
        elif message.action == "finish-task":
            await self._finish_task(message.task_id)
        else:  # continue-task: context updates (SDK 2.x update_context) have no effect on this engine
            await self._continue_task(message.task_id)

    async def _continue_task(self, task_id: str | None) -> None:
        if self.task is None or task_id != self.task.task_id:
            return await self._reject(_invalid(f"continue-task for {_quote(task_id)}, "
                                               "but that task is not running"), task_id)
        await self._count_message(self.task)

    async def _on_audio(self, data: bytes) -> None:
        task = self.task
        if task is None:
            return await self._reject(_invalid("audio arrived before run-task / task-started"))
        if data:  # an empty frame carries no audio: it does not count as audio for the timeout
            self._audio_at = time.monotonic()
            try:
                await task.session.feed(self._decode(task, data))
            except HotasrError as exc:  # the audio, or the session's failure
                return await self._reject(exc)
        await self._count_message(task)

    async def _count_message(self, task: _Task) -> None:
        """Fail a task whose messages carry less than MIN_FRAME_MS of audio each on average."""
        task.messages += 1
        if task.messages > FRAME_GRACE + task.session.received_seconds * 1000 / MIN_FRAME_MS:
            await self._reject(_invalid(f"audio frames too small: {task.messages} messages carried "
                                        f"{task.session.received_seconds:.3f} s of audio; send at least "
                                        f"{MIN_FRAME_MS} ms of audio a frame on average (100 ms recommended)"))

    @staticmethod
    def _decode(task: _Task, data: bytes | None) -> np.ndarray:
        """Samples of the next audio bytes (None: the end of the stream). The decoders parse what
        clients send, so anything they raise is the audio's fault: an AudioError."""
        try:
            return task.decoder.feed(data) if data is not None else task.decoder.finish()
        except AudioError:
            raise
        except Exception as exc:
            log.warning("task %s: %s audio failed to decode", task.task_id, task.fmt, exc_info=True)
            raise AudioError("DECODE_ERROR", f"could not decode the {task.fmt} audio: {exc}") from exc

    async def _run_task(self, task_id: str | None, payload: dict[str, Any]) -> None:
        if task_id is None:
            return await self._reject(_invalid("run-task needs a header.task_id: a string "
                                               f"of 1 to {MAX_TASK_ID_CHARS} characters"))
        if self.task is not None:
            return await self._reject(_invalid(f"task {self.task.task_id} is still running; "
                                               "finish it before starting another"))
        if self.hub.active >= self.settings.realtime_max_streams:
            return await self._reject(ServerBusy(f"the server is at its limit of {self.settings.realtime_max_streams} "
                                                 "concurrent streams; retry later"), task_id)
        if not self.streams.acquire(self.key_id):
            return await self._reject(RateLimited(f"this API key already has {self.streams.per_key} "
                                                  "concurrent streams, its limit; retry later"), task_id)
        self.hub.active += 1  # counted before any await, so concurrent run-tasks cannot overshoot
        try:
            self.task = await self._start(task_id, payload)
        except BaseException as exc:
            self.hub.active -= 1
            self.streams.release(self.key_id)
            if not isinstance(exc, HotasrError):
                raise
            return await self._reject(exc, task_id)
        self._audio_at = time.monotonic()
        self._rearm.set()
        await self._send({"header": _header(task_id, "task-started"), "payload": {}})

    async def _finish_task(self, task_id: str | None) -> None:
        task = self.task
        if task is None or task_id != task.task_id:
            return await self._reject(_invalid(f"finish-task for {_quote(task_id)}, "
                                               "but that task is not running"), task_id)
        try:
            await task.session.feed(self._decode(task, None))
            await task.session.finish()
        except HotasrError as exc:  # the audio, no audio at all, or the session's failure
            return await self._reject(exc)
        self._end_task()
        await self._send({"header": _header(task.task_id, "task-finished"), "payload": {"output": {}, "usage": None}})

    # -- task set-up -----------------------------------------------------------------------------

    async def _start(self, task_id: str, payload: dict[str, Any]) -> _Task:
        params = payload.get("parameters") or {}
        if not isinstance(params, dict):
            raise _invalid("payload.parameters must be an object")
        model = self._model(payload.get("model"))
        fmt = params.get("format")
        reason = unsupported_reason(fmt) if isinstance(fmt, str) else "parameters.format is required"
        if reason:
            raise _invalid(reason)
        rate = params.get("sample_rate")
        if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 48000:
            raise _invalid(f"sample_rate must be an integer in Hz (8000..48000), got {_quote(rate)}")
        if model.sample_rate and rate != model.sample_rate:
            raise _invalid(f"sample_rate {rate} does not match model {model.name}, "
                           f"which takes {model.sample_rate} Hz audio")
        hints = params.get("language_hints")
        if hints is not None and (not isinstance(hints, list) or not all(isinstance(h, str) for h in hints)):
            raise _invalid("language_hints must be a list of language codes")
        silence = params.get("max_sentence_silence", DEFAULT_SILENCE_MS.get(model.family, 800))
        if isinstance(silence, bool) or not isinstance(silence, int) or not 200 <= silence <= 6000:
            raise _invalid(f"max_sentence_silence must be 200..6000 ms, got {_quote(silence)}")
        vocabulary = await self._vocabulary(params.get("vocabulary_id"))

        route = self.settings.models[model.name]
        loop = asyncio.get_running_loop()
        # Load (or reuse) the model before task-started: clients may send audio right after it.
        await loop.run_in_executor(self.hub.pool, load_engine, route, self.settings)
        bound = functools.partial(
            recognize,
            model=model.name,
            settings=self.settings,
            hotwords=vocabulary.hotwords if vocabulary else (),
            language_hints=hints,
            vocabulary_target_model=vocabulary.target_model if vocabulary else None,
            beam_size=None if vocabulary else self.settings.realtime_final_beam,
        )
        options = StreamOptions(
            segmenter=SegmenterConfig(max_sentence_silence_ms=silence),
            interim_interval_ms=self.settings.realtime_interim_interval_ms,
            first_interim_ms=self.settings.realtime_first_interim_ms,
            max_lag_s=self.settings.realtime_max_lag_s,
            heartbeat=params.get("heartbeat") is True,
            disfluency_removal=params.get("disfluency_removal_enabled") is True,
            punctuation=params.get("punctuation_prediction_enabled", True) is not False,
            settled_prefix=self.settings.realtime_settled_prefix,
            chunked=self.settings.realtime_chunks,
        )
        session = RealtimeSession(options, functools.partial(self.hub.timed_decode, bound), self.hub.pool,
                                  functools.partial(self._on_event, task_id), self.hub.has_idle_worker)
        stream = open_stream(str(fmt), rate, AudioLimits.from_settings(self.settings))
        return _Task(task_id, str(fmt), session, stream)

    def _model(self, name: Any) -> ModelInfo:
        info = get_model(name) if isinstance(name, str) else None
        if info is None:
            raise ModelNotServed(str(name), f"model {_quote(name)} is not a known model")
        if info.mode != "realtime":
            raise _invalid(f"model {name} is for recorded files; real-time recognition "
                           "takes fun-asr-realtime or paraformer-realtime-* models")
        if not self.settings.is_served(info.name):
            raise ModelNotServed(str(name), f"model {name} is not served by this server")
        return info

    async def _vocabulary(self, vocabulary_id: Any) -> VocabularyRecord | None:
        if vocabulary_id is None:
            return None
        if not isinstance(vocabulary_id, str):
            raise _invalid(f"vocabulary_id must be a string, not {_kind(vocabulary_id)}")
        service: VocabularyService = self.ws.app.state.vocabularies
        try:
            return await service.get_on_loop(self.account, vocabulary_id)
        except HotasrError:  # VocabularyNotFound: an InvalidParameter of run-task on this wire
            raise
        except ValueError as exc:
            raise _invalid(str(exc)) from None

    # -- output ----------------------------------------------------------------------------------

    async def _on_event(self, task_id: str, event: SentenceEvent | HotasrError) -> None:
        if isinstance(event, HotasrError):
            await self._fail(task_id, event)
            await self._close()
            return
        await self._send({"header": _header(task_id, "result-generated"), "payload": _result(event)})

    async def _fail(self, task_id: str, error: HotasrError) -> None:
        code, message = dashscope_ws(error), error.message
        if len(message) > MAX_ERROR_CHARS:
            message = message[: MAX_ERROR_CHARS - 1] + "…"
        log.info("task %s failed: %s %s", task_id, code, message)
        header = {**_header(task_id, "task-failed"), "error_code": code, "error_message": message}
        await self._send({"header": header, "payload": {}})
        self._end_task()

    async def _send(self, message: dict[str, Any]) -> None:
        if self._closed or self.ws.application_state != WebSocketState.CONNECTED:
            return
        async with self._send_lock:  # results come from the decode worker and the receive loop
            text = json.dumps(message, ensure_ascii=False)
            if not text.isascii() and not _utf8(text):
                text = json.dumps(message)  # \u escapes: what UTF-8 cannot carry must not end the connection
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.ws.send_text(text)

    async def _close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.ws.close(code=1000)

    def _end_task(self) -> None:
        if self.task is not None:
            self.hub.metrics.audio_seconds.labels("realtime").inc(self.task.session.received_seconds)
            self.task.session.close()
            close = getattr(self.task.decoder, "close", None)
            if close:
                close()
            self.task = None
            self.hub.active -= 1
            self.streams.release(self.key_id)
            self._idle_since = time.monotonic()
            self._rearm.set()


def _header(task_id: str, event: str) -> dict[str, Any]:
    return {"task_id": task_id, "event": event, "attributes": {}}


def _result(event: SentenceEvent) -> dict[str, Any]:
    return realtime_result_json(event.sentence_id, event.begin_ms, event.end_ms, event.text, event.words,
                                heartbeat=event.heartbeat, warnings=event.warnings, audio_seconds=event.audio_seconds)
