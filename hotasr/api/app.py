"""The ASGI application: wires settings, storage and services to the HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI

from hotasr import __version__
from hotasr.accounts import AccountService
from hotasr.api import console, customization, openai_compat, ops, realtime, schema, transcription
from hotasr.api.errors import install_error_handlers
from hotasr.api.limits import RateLimiter, StreamLimiter
from hotasr.config import Settings
from hotasr.metrics import Metrics
from hotasr.storage.db import make_engine, make_sessions, migrate
from hotasr.vocabularies import VocabularyService


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = make_sessions(engine)

    app = FastAPI(title="hotasr", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.db_engine = engine
    app.state.db_sessions = sessions
    app.state.accounts = AccountService(sessions)
    app.state.vocabularies = VocabularyService(sessions, settings)
    app.state.rate_limiter = RateLimiter(settings.key_requests_per_second, settings.key_burst)
    app.state.stream_limiter = StreamLimiter(settings.key_max_streams)
    install_error_handlers(app)
    ops.install(app)
    app.include_router(customization.router)
    realtime.install(app)
    transcription.install(app)
    openai_compat.install(app)
    console.install(app)
    schema.install(app)

    return app
