"""The web console: static HTML/CSS/JS from `hotasr/web`, served by hotasr itself (no CDN).

The console is a plain client of the public APIs (hotword lists, /v1/audio/transcriptions, the
real-time WebSocket, tasks); nothing here knows about recognition. The API key stays in the
browser (localStorage) and is sent like any other client sends it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(str(files("hotasr") / "web"))
# The page holds an API key (localStorage): only its own scripts may run, and nothing may frame it.
# connect-src stays open to http(s)/ws(s) because transcription_url may name a public base URL.
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self' http: https: ws: wss:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _FreshStatic(StaticFiles):
    """Static files that the browser revalidates each time: an upgrade never leaves stale JS behind."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router = APIRouter(include_in_schema=False)


@router.get("/")
async def console() -> FileResponse:
    """The console's page, at `/`."""
    return FileResponse(WEB_DIR / "index.html", headers=HEADERS)


router.mount("/static", _FreshStatic(directory=WEB_DIR), name="console-static")
