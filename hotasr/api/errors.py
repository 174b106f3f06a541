"""DashScope's HTTP error envelope: every domain error a route raises, as its table row says.

Every non-200 answer is `{"code", "message", "request_id"}` with `Content-Type: application/json`:
the SDK only parses error bodies of that type (docs/dashscope-protocol.md §2). The status and code of each domain error
(hotasr.errors) are in `hotasr.api.wire_errors.DASHSCOPE_HTTP`; the message is the error's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotasr.api.responses import JSONResponse
from hotasr.api.wire_errors import dashscope_http
from hotasr.errors import HotasrError

INTERNAL_ERROR_MESSAGE = "An internal error has occurred, please try again later."


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


def domain_error_response(request: Request, exc: HotasrError) -> JSONResponse:
    """`exc` in DashScope's envelope: its table row's status and code, its own message."""
    status, code = dashscope_http(exc)
    return error_response(request, status, code, exc.message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HotasrError)
    async def _domain_error(request: Request, exc: HotasrError) -> JSONResponse:
        return domain_error_response(request, exc)

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
