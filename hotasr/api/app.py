"""The ASGI application: wires settings, storage and services to the HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from hotasr import __version__
from hotasr.accounts import AccountService
from hotasr.api import customization, realtime, transcription
from hotasr.api.errors import install_error_handlers
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
    install_error_handlers(app)
    app.include_router(customization.router)
    realtime.install(app)
    transcription.install(app)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
