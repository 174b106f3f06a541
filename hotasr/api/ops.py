"""Operations: request ids, access logs and metrics for every request; /health, /ready, /metrics.

The middleware is plain ASGI (not BaseHTTPMiddleware) so WebSockets pass through untouched and
streaming responses are not buffered. It is also the last line of defence for errors: an
exception no handler took becomes a 500 in DashScope's envelope here, sent with
`Connection: close`, and is not re-raised. (Re-raised, as Starlette's ServerErrorMiddleware does,
uvicorn drops the connection after the response without saying so, and the client's next request
on that keep-alive connection fails with a reset.)
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotasr.api.errors import INTERNAL_ERROR_MESSAGE
from hotasr.api.responses import JSONResponse
from hotasr.config import Settings
from hotasr.engine import load_engine
from hotasr.logs import escape_controls, request_id_var
from hotasr.metrics import Metrics

access_log = logging.getLogger("hotasr.access")
log = logging.getLogger("hotasr.ops")


class RequestContext:
    """Gives each HTTP request its id (in `request.state`, the logs and `X-Request-Id`) and measures it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = _with_ops_headers(list(message.get("headers", [])), rid, status)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # the client left mid-body: nobody to answer, nothing went wrong here
            status = 499
            log.info("client disconnected before the request body was read")
        except Exception:
            if response_started:  # nothing left to tell the client; uvicorn closes the connection
                raise
            log.exception("unhandled error, request_id=%s", rid)
            await _send_internal_error(send_with_id, rid)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # bounded label set
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            # The path is decoded (%0A is a newline): escaped, it cannot forge a line of the log.
            access_log.info("%s %s %d %.1fms", escape_controls(scope["method"]), escape_controls(scope["path"]),
                            status, elapsed * 1000)
            request_id_var.reset(token)


def _with_ops_headers(headers: list[tuple[bytes, bytes]], rid: str, status: int) -> list[tuple[bytes, bytes]]:
    """`X-Request-Id` on every response; `Connection: close` on every 5xx, so that a client whose
    request failed on the server's side starts afresh on a new connection."""
    names = {name.lower() for name, _ in headers}
    if b"x-request-id" not in names:
        headers.append((b"x-request-id", rid.encode()))
    if status >= 500:
        headers = [(name, value) for name, value in headers if name.lower() != b"connection"]
        headers.append((b"connection", b"close"))
    return headers


async def _send_internal_error(send: Send, rid: str) -> None:
    response = JSONResponse(
        {"code": "InternalError", "message": INTERNAL_ERROR_MESSAGE, "request_id": rid}, status_code=500
    )
    await send({"type": "http.response.start", "status": 500, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class ModelWarmup:
    """Loads the served models in the background at start, so /ready can say when they are usable."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.errors: dict[str, str] = {}
        self.done = threading.Event()

    def start(self) -> None:
        if not self.settings.preload_models:
            self._settle()
            return
        threading.Thread(target=self._run, name="model-warmup", daemon=True).start()

    def _settle(self) -> None:
        # What exists now (modules, models, tokenizers) lives as long as the process: freezing it
        # keeps the garbage collector's full passes from walking it all, which otherwise stalled
        # every request in flight for 15-70 ms (measured with bench/vocab_api.py).
        gc.collect()
        gc.freeze()
        self.done.set()

    def _run(self) -> None:
        seen: set[str] = set()
        try:
            for name, route in self.settings.models.items():
                key = route.model_dump_json()
                if key in seen:
                    continue  # many names share one engine (all of them, by default)
                seen.add(key)
                started = time.perf_counter()
                try:
                    engine = load_engine(route, self.settings)
                    warm_up = getattr(engine, "warm_up", None)
                    if warm_up is not None:
                        warm_up()
                except Exception as exc:  # reported by /ready; requests for it fail with their own error
                    self.errors[name] = str(exc)
                    log.error("could not load the model for %s: %s", name, exc)
                    continue
                elapsed = time.perf_counter() - started
                self.metrics.model_load_seconds.labels(route.weights).set(elapsed)
                log.info("model %s loaded in %.1f s: ready for recognition", route.weights, elapsed)
        finally:
            self._settle()


router = APIRouter(include_in_schema=False)


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def _database_answers(engine: Engine) -> None:
    """One round trip to the database (blocking: `/ready` runs it on a worker thread)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers and the models are loaded."""
    state = request.app.state
    warmup: ModelWarmup = state.warmup
    checks: dict[str, Any] = {"database": "ok", "models": "ok"}
    try:
        await run_in_threadpool(_database_answers, state.db_engine)
    except Exception as exc:
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
    if not warmup.done.is_set():
        checks["models"] = "loading"
    elif warmup.errors:
        checks["models"] = {name: f"failed: {error}" for name, error in warmup.errors.items()}
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
