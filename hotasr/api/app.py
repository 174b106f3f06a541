"""The ASGI application: wires settings, storage and services to the HTTP routes.

Everything about the app's shape is in this file, so that it reads top to bottom: `create_app`
builds the services (the schema is migrated here, so the command line can use them before the
server starts), adds the middleware and includes every module's `router`; `lifespan` starts what
runs in the background and stops it again, in reverse order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from hotasr import __version__
from hotasr.accounts import AccountService
from hotasr.api import console, customization, openai_compat, ops, realtime, schema, transcription
from hotasr.api.errors import install_error_handlers
from hotasr.api.limits import RateLimiter, StreamLimiter
from hotasr.config import Settings
from hotasr.metrics import Metrics
from hotasr.storage.db import loop_reader, make_engine, make_sessions, migrate
from hotasr.tasks.service import TaskService
from hotasr.tasks.signing import load_secret
from hotasr.vocabularies import VocabularyService

# Every route of the app, one router per module, matched in this order.
ROUTERS: tuple[APIRouter, ...] = (
    ops.router,
    customization.router,
    realtime.router,
    transcription.router,
    openai_compat.router,
    console.router,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The server process's background work: started before the first request, stopped after the last.

    Model warm-up runs on its own thread (/ready says when it is done); the file-task workers and
    the janitor are threads of the task service. On shutdown the task service first lets running
    file tasks finish (up to `shutdown_grace_s`, on a worker thread so the loop keeps serving),
    then the real-time decode pool drops what is queued, and the database's pools close last,
    after everything that used them.
    """
    state = app.state
    state.warmup.start()
    state.tasks.start()
    try:
        yield
    finally:
        await run_in_threadpool(state.tasks.stop)
        state.realtime.pool.shutdown(wait=False, cancel_futures=True)
        await loop_reader(state.db_sessions).aclose()
        state.db_engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application, its services built and its routes in place; `lifespan` starts the rest."""
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = make_sessions(engine)
    metrics = Metrics()

    app = FastAPI(title="hotasr", version=__version__, docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.db_engine = engine
    app.state.db_sessions = sessions
    app.state.accounts = AccountService(sessions)
    app.state.vocabularies = VocabularyService(sessions, settings)
    app.state.rate_limiter = RateLimiter(settings.key_requests_per_second, settings.key_burst)
    app.state.stream_limiter = StreamLimiter(settings.key_max_streams)
    app.state.warmup = ops.ModelWarmup(settings, metrics)
    app.state.realtime = realtime.RealtimeHub(settings, metrics)
    app.state.tasks = TaskService(settings, sessions)
    app.state.url_signing_secret = load_secret(settings)

    install_error_handlers(app)
    app.add_middleware(ops.RequestContext, metrics=metrics)
    for router in ROUTERS:
        app.include_router(router)
    schema.install(app)
    return app
