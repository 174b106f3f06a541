"""Reading a JSON request body with a size limit and errors that say what is wrong."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from hotasr.api.errors import ApiError


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    return parse_json_object(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "BadRequest.TooLarge", f"Payload Too Large: the body may be at most {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # counted as it arrives: chunked bodies have no length
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "BadRequest.TooLarge", f"Payload Too Large: the body may be at most {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ApiError(400, "BadRequest.EmptyInput", "Required input parameter missing from request: empty body.")
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "InvalidParameter", "The request body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ApiError(400, "InvalidParameter", f"The request body is not valid JSON: {exc.msg} at {where}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidParameter", "The request body must be a JSON object.")
    return body
