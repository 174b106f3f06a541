"""Real-time recognition over WebSocket: DashScope's duplex protocol (spec §4) over RealtimeSession.

One connection runs tasks one after another: `run-task` → `task-started`, binary audio, interim
and final `result-generated`, `finish-task` → `task-finished`. Every failure is a `task-failed`
with `error_code`/`error_message` in the header, then the connection closes.
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
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hotasr.accounts import AccountService
from hotasr.api.auth import bearer_token
from hotasr.api.limits import StreamLimiter
from hotasr.api.responses import JSONResponse
from hotasr.audio import AudioError
from hotasr.catalog import ModelInfo, get_model
from hotasr.config import Settings
from hotasr.engine import load_engine
from hotasr.hotwords import show
from hotasr.metrics import Metrics
from hotasr.recognize import recognize
from hotasr.streaming.audio_stream import StreamDecoder, open_stream, unsupported_reason
from hotasr.streaming.segmenter import SegmenterConfig
from hotasr.streaming.session import RealtimeSession, SentenceEvent, StreamFailed, StreamOptions
from hotasr.transcript import Transcript
from hotasr.vocabularies import VocabularyNotFound, VocabularyRecord, VocabularyService

log = logging.getLogger("hotasr.realtime")
PATHS = ("/api-ws/v1/inference", "/api-ws/v1/inference/")
# DashScope's defaults for the pause that ends a sentence, per family.
DEFAULT_SILENCE_MS = {"fun-asr": 1300, "paraformer": 800}


class RealtimeHub:
    """What all streams of one server share: the decode pool and the stream count."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(max_workers=settings.realtime_workers, thread_name_prefix="realtime")
        self._active = 0
        self._decoding = 0
        self._lock = threading.Lock()

    def has_idle_worker(self) -> bool:
        return self._decoding < self.settings.realtime_workers

    def timed_decode(
        self, recognize_fn: Callable[..., Transcript], samples: np.ndarray, draft: bool, language: str | None,
        prefix: str | None, context: str | None, cancelled: Callable[[], bool],
    ) -> Transcript:
        """Runs on a pool thread: counts busy workers (interims wait for an idle one) and decode time."""
        with self._lock:
            self._decoding += 1
        started = time.perf_counter()
        try:
            return recognize_fn(samples, draft=draft, language=language, prefix=prefix, context=context,
                                cancelled=cancelled)
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


def install(app: FastAPI) -> None:
    hub = RealtimeHub(app.state.settings, app.state.metrics)
    app.state.realtime = hub
    for path in PATHS:
        app.add_api_websocket_route(path, _endpoint)
    app.router.on_shutdown.append(lambda: hub.pool.shutdown(wait=False, cancel_futures=True))


BROWSER_AUTH_PREFIX = "bearer."


def _browser_token(websocket: WebSocket) -> str | None:
    """Browsers cannot set headers on a WebSocket: they offer the key as subprotocol `bearer.<key>`."""
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith(BROWSER_AUTH_PREFIX):
            return protocol
    return None


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
    await websocket.accept(subprotocol=protocol)
    await _Connection(websocket, *found).serve()


@dataclass(slots=True)
class _Task:
    task_id: str
    session: RealtimeSession
    decoder: StreamDecoder


class _TaskRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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

    async def serve(self) -> None:
        try:
            while not self._closed:
                timeout = self.settings.realtime_audio_timeout_s if self.task else self.settings.realtime_idle_close_s
                try:
                    message = await asyncio.wait_for(self.ws.receive(), timeout)
                except TimeoutError:
                    if self.task:
                        await self._fail(self.task.task_id, "CLIENT_ERROR",
                                         f"request timeout after {timeout:g} seconds.")
                    await self._close()
                    return
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await self._on_audio(message["bytes"])
                elif message.get("text") is not None:
                    await self._on_text(message["text"])
        except WebSocketDisconnect:
            pass
        finally:
            self._end_task()

    # -- messages --------------------------------------------------------------------------------

    async def _on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
            header = message["header"]
            action, task_id = header.get("action"), header.get("task_id")
        except (ValueError, KeyError, TypeError, AttributeError):
            await self._fail("", "InvalidParameter", "messages must be JSON with a header holding action and task_id")
            return await self._close()
        if action == "run-task":
            await self._run_task(task_id, message.get("payload") or {})
        elif action == "finish-task":
            await self._finish_task(task_id)
        elif action == "continue-task":
            pass  # context updates (SDK 2.x update_context) have no effect on this engine
        else:
            await self._fail(task_id or "", "InvalidParameter", f"unknown action {show(action)}")
            await self._close()

    async def _on_audio(self, data: bytes) -> None:
        if self.task is None:
            await self._fail("", "InvalidParameter", "audio arrived before run-task / task-started")
            return await self._close()
        task = self.task
        try:
            samples = task.decoder.feed(data)
            await task.session.feed(samples)
        except AudioError as exc:
            await self._fail(task.task_id, "InvalidAudio", exc.message)
            await self._close()
        except StreamFailed as exc:
            await self._fail(task.task_id, exc.code, exc.message)
            await self._close()

    async def _run_task(self, task_id: Any, payload: dict[str, Any]) -> None:
        if not isinstance(task_id, str) or not task_id:
            await self._fail("", "InvalidParameter", "run-task needs a header.task_id")
            return await self._close()
        if self.task is not None:
            await self._fail(task_id, "InvalidParameter",
                             f"task {self.task.task_id} is still running; finish it before starting another")
            return await self._close()
        if self.hub.active >= self.settings.realtime_max_streams:
            await self._fail(task_id, "Throttling", f"the server is at its limit of "
                             f"{self.settings.realtime_max_streams} concurrent streams; retry later")
            return await self._close()
        if not self.streams.acquire(self.key_id):
            await self._fail(task_id, "Throttling.RateQuota", f"this API key already has "
                             f"{self.streams.per_key} concurrent streams, its limit; retry later")
            return await self._close()
        self.hub.active += 1  # counted before any await, so concurrent run-tasks cannot overshoot
        try:
            self.task = await self._start(task_id, payload)
        except BaseException as exc:
            self.hub.active -= 1
            self.streams.release(self.key_id)
            if not isinstance(exc, _TaskRejected):
                raise
            await self._fail(task_id, exc.code, exc.message)
            return await self._close()
        await self._send({"header": _header(task_id, "task-started"), "payload": {}})

    async def _finish_task(self, task_id: Any) -> None:
        task = self.task
        if task is None or task_id != task.task_id:
            await self._fail(task_id if isinstance(task_id, str) else "", "InvalidParameter",
                             f"finish-task for {show(task_id)}, but that task is not running")
            return await self._close()
        try:
            await task.session.feed(task.decoder.finish())
            await task.session.finish()
        except (AudioError, StreamFailed) as exc:
            code = exc.code if isinstance(exc, StreamFailed) else "InvalidAudio"
            await self._fail(task.task_id, code, exc.message)
            return await self._close()
        self._end_task()
        await self._send({"header": _header(task_id, "task-finished"), "payload": {"output": {}, "usage": None}})

    # -- task set-up -----------------------------------------------------------------------------

    async def _start(self, task_id: str, payload: dict[str, Any]) -> _Task:
        params = payload.get("parameters") or {}
        if not isinstance(params, dict):
            raise _TaskRejected("InvalidParameter", "payload.parameters must be an object")
        model = self._model(payload.get("model"))
        fmt = params.get("format")
        reason = unsupported_reason(fmt) if isinstance(fmt, str) else "parameters.format is required"
        if reason:
            raise _TaskRejected("InvalidParameter", reason)
        rate = params.get("sample_rate")
        if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 48000:
            raise _TaskRejected("InvalidParameter", f"sample_rate must be an integer in Hz (8000..48000), "
                                f"got {show(rate)}")
        if model.sample_rate and rate != model.sample_rate:
            raise _TaskRejected("InvalidParameter", f"sample_rate {rate} does not match model {model.name}, "
                                f"which takes {model.sample_rate} Hz audio")
        hints = params.get("language_hints")
        if hints is not None and (not isinstance(hints, list) or not all(isinstance(h, str) for h in hints)):
            raise _TaskRejected("InvalidParameter", "language_hints must be a list of language codes")
        silence = params.get("max_sentence_silence", DEFAULT_SILENCE_MS.get(model.family, 800))
        if isinstance(silence, bool) or not isinstance(silence, int) or not 200 <= silence <= 6000:
            raise _TaskRejected("InvalidParameter", f"max_sentence_silence must be 200..6000 ms, got {show(silence)}")
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
            hotwords_key=vocabulary.cache_key if vocabulary else None,
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
        return _Task(task_id, session, open_stream(fmt, rate))  # type: ignore[arg-type]

    def _model(self, name: Any) -> ModelInfo:
        info = get_model(name) if isinstance(name, str) else None
        if info is None:
            raise _TaskRejected("ModelNotFound", f"model {show(name)} is not a known model")
        if info.mode != "realtime":
            raise _TaskRejected("InvalidParameter", f"model {name} is for recorded files; real-time recognition "
                                "takes fun-asr-realtime or paraformer-realtime-* models")
        if not self.settings.is_served(info.name):
            raise _TaskRejected("ModelNotFound", f"model {name} is not served by this server")
        return info

    async def _vocabulary(self, vocabulary_id: Any) -> VocabularyRecord | None:
        if vocabulary_id is None:
            return None
        service: VocabularyService = self.ws.app.state.vocabularies
        try:
            return await service.get_on_loop(self.account, vocabulary_id)
        except VocabularyNotFound as exc:
            raise _TaskRejected("InvalidParameter", str(exc)) from None
        except ValueError as exc:
            raise _TaskRejected("InvalidParameter", str(exc)) from None

    # -- output ----------------------------------------------------------------------------------

    async def _on_event(self, task_id: str, event: SentenceEvent | StreamFailed) -> None:
        if isinstance(event, StreamFailed):
            await self._fail(task_id, event.code, event.message)
            await self._close()
            return
        await self._send({"header": _header(task_id, "result-generated"), "payload": _result(event)})

    async def _fail(self, task_id: str, code: str, message: str) -> None:
        log.info("task %s failed: %s %s", task_id, code, message)
        header = {**_header(task_id, "task-failed"), "error_code": code, "error_message": message}
        await self._send({"header": header, "payload": {}})
        self._end_task()

    async def _send(self, message: dict[str, Any]) -> None:
        if self._closed or self.ws.application_state != WebSocketState.CONNECTED:
            return
        async with self._send_lock:  # results come from the decode worker and the receive loop
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.ws.send_text(json.dumps(message, ensure_ascii=False))

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


def _header(task_id: str, event: str) -> dict[str, Any]:
    return {"task_id": task_id, "event": event, "attributes": {}}


def _result(event: SentenceEvent) -> dict[str, Any]:
    sentence = {
        "begin_time": event.begin_ms,
        "end_time": event.end_ms,  # null while interim: the SDK tells finals by a non-null end_time
        "text": event.text,
        "heartbeat": event.heartbeat,
        "sentence_end": event.final,
        "sentence_id": event.sentence_id,
        "words": [{"begin_time": w.begin_ms, "end_time": w.end_ms, "text": w.text, "punctuation": w.punctuation}
                  for w in event.words],
    }
    if event.warnings:
        # Hotwords that could not apply are never silent. Inside the sentence, because SDK call()
        # keeps only the sentence dicts of a result.
        sentence["warnings"] = event.warnings
    return {"output": {"sentence": sentence}, "usage": {"duration": event.audio_seconds} if event.final else None}
