"""The ASGI application: wires settings, storage and services to the HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI

from hotasr import __version__
from hotasr.accounts import AccountService
from hotasr.api import customization
from hotasr.api.errors import install_error_handlers
from hotasr.config import Settings
from hotasr.storage.db import make_engine, make_sessions, migrate
from hotasr.vocabularies import VocabularyService


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = make_sessions(engine)

    app = FastAPI(title="hotasr", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.db_engine = engine
    app.state.accounts = AccountService(sessions)
    app.state.vocabularies = VocabularyService(sessions, settings)
    install_error_handlers(app)
    app.include_router(customization.router)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
