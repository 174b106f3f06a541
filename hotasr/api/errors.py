"""DashScope's error envelope, and the one place domain errors become HTTP statuses.

Every non-200 answer is `{"code", "message", "request_id"}` with `Content-Type: application/json`:
the SDK only parses error bodies of that type (spec §2).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotasr.accounts import AccountError
from hotasr.api.responses import JSONResponse
from hotasr.hotwords import HotwordError
from hotasr.vocabularies import VocabularyNotFound, VocabularyQuotaExceeded

INTERNAL_ERROR_MESSAGE = "An internal error has occurred, please try again later."


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def request_id(request: Request) -> str:
    """One id per request, created on first use; every response and log line carries it."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = str(uuid.uuid4())
        request.state.request_id = rid
    return rid


def error_response(
    request: Request, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "request_id": request_id(request)},
        status_code=status,
        headers={**(headers or {}), "X-Request-Id": request_id(request)},
    )


_HTTP_CODES = {
    404: ("NotFound", "No such endpoint: {path}"),
    405: ("UnsupportedOperation", "Method {method} is not allowed on {path}"),
}


# Domain errors carry messages written for the user; only the status and code are the adapter's.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    HotwordError: (400, "InvalidParameter"),
    AccountError: (400, "InvalidParameter"),
    VocabularyNotFound: (404, "NotFound"),
    VocabularyQuotaExceeded: (429, "Throttling.AllocationQuota"),
}


def _domain_handler(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, status, code, str(exc))

    return handle


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message)

    for exc_type, (status, code) in DOMAIN_ERRORS.items():
        app.add_exception_handler(exc_type, _domain_handler(status, code))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(request, 400, "InvalidParameter", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, template = _HTTP_CODES.get(exc.status_code, ("InvalidParameter", "{detail}"))
        message = template.format(path=request.url.path, method=request.method, detail=exc.detail)
        # Starlette's own headers stay: `Allow` on a 405 says which methods the path takes.
        return error_response(request, exc.status_code, code, message, exc.headers)
    # Any other exception becomes the 500 of `hotasr.api.ops.RequestContext` (the trace goes to the
    # log with the request id; the client gets the id, never the trace).
