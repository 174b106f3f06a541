"""Recorded-file transcription as async tasks (docs/dashscope-protocol.md §5) and temporary uploads
(§8).

Routes: submit (`POST /api/v1/services/audio/asr/transcription`, async header required), query
(`GET /api/v1/tasks/{id}`), cancel, list, the signed result files behind `transcription_url`, and
the upload policy + upload target (and a one-step upload for curl). The work itself is
hotasr.tasks; this module only speaks HTTP.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hotasr.api.auth import authenticate
from hotasr.api.body import read_json_object
from hotasr.api.dashscope_shapes import result_file_bytes, task_list_item, task_output
from hotasr.api.errors import request_id
from hotasr.api.responses import JSONResponse
from hotasr.api.schema import TaskRequest, TaskResponse, dashscope_route, header_parameter, query_parameter
from hotasr.config import Settings
from hotasr.errors import AccessDenied, InvalidParameter, NotFound, RequestTooLarge, WrongState
from hotasr.hotwords import show
from hotasr.tasks.models import STATUSES, UNKNOWN
from hotasr.tasks.service import MAX_PAGE_NO, MAX_PAGE_SIZE, TaskService
from hotasr.tasks.signing import sign_path, verify_path
from hotasr.tasks.uploads import check_policy, issue_policy, new_upload_key, store_upload

# The task service behind these routes is built and started by hotasr.api.app.
router = APIRouter()
RESULTS_PREFIX = "/api/v1/results/"
UPLOAD_PATH = "/api/v1/uploads/oss"


def _base_url(request: Request) -> str:
    configured = request.app.state.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def _ok(request: Request, output: dict[str, Any] | None, usage: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"request_id": request_id(request), "output": output, "usage": usage})


def _unknown(request: Request, task_id: str) -> JSONResponse:
    # Unknown, expired and other accounts' ids look the same (docs/dashscope-protocol.md §5.2): ids
    # are not secrets to probe.
    return _ok(request, {"task_id": task_id, "task_status": UNKNOWN})


def _service(request: Request) -> TaskService:
    return request.app.state.tasks


def _parse_list_time(value: str | None, name: str) -> datetime | None:
    """The SDK's `20230420000000` (server local time); `2023-04-20 00:00:00` also accepted."""
    if not value:
        return None
    for layout in ("%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, layout).astimezone()
        except (ValueError, OverflowError, OSError):  # astimezone: year 1 or 9999 past the local offset
            continue
    raise InvalidParameter(
        f"{name} must look like 20230420000000 (YYYYMMDDhhmmss), got {show(value)}."
    )


_INTEGER = re.compile(r"-?[0-9]{1,18}")  # fits in 64 bits; the service checks the range


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw):
        raise InvalidParameter(f"{name} must be an integer of at most 18 digits, got {show(raw)}.")
    return int(raw)


_ASYNC_HEADER = header_parameter("X-DashScope-Async", "recorded files are async tasks",
                                 {"type": "string", "enum": ["enable"]})
_BINARY = {"type": "string", "format": "binary"}
_TEXT = {"type": "string"}


def _form(fields: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {"type": "object", "required": list(fields), "properties": fields}


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _refuse_declared_oversize(request: Request, max_file_bytes: int) -> None:
    """Refuses an upload whose declared length is past the file limit before its form is read (1 MiB
    of slack for the multipart envelope); the store still counts the bytes that arrive."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_file_bytes + 1024 * 1024:
        raise RequestTooLarge(f"The file is larger than {max_file_bytes} bytes.")


@router.post("/api/v1/services/audio/asr/transcription", summary="Submit a transcription task", **dashscope_route(
    body=TaskRequest, ok=TaskResponse, errors=(400, 401, 404, 413, 429), parameters=[_ASYNC_HEADER]))
async def submit(request: Request) -> JSONResponse:
    account = await authenticate(request)
    if request.headers.get("x-dashscope-async", "").lower() != "enable":
        raise InvalidParameter(
            "current user api does not support synchronous calls: recorded-file transcription is an "
            "async task; send the header 'X-DashScope-Async: enable'.",
        )
    body = await read_json_object(request, _settings(request).max_request_bytes)
    record = await run_in_threadpool(_service(request).submit, account, body)
    output: dict[str, Any] = {"task_id": record.task_id, "task_status": record.status}
    if record.warnings:
        output["warnings"] = record.warnings
    return _ok(request, output)


@router.get("/api/v1/tasks/{task_id}", summary="A task's status and results (UNKNOWN for ids not found)",
            **dashscope_route(ok=TaskResponse, errors=(401, 429)))
async def query(request: Request, task_id: str) -> JSONResponse:
    account = await authenticate(request)
    record = await run_in_threadpool(_service(request).get, account, task_id)
    if record is None:
        return _unknown(request, task_id)
    secret: bytes = request.app.state.url_signing_secret
    expires = int(record.expires_at.timestamp()) if record.expires_at else int(time.time()) + 3600
    base = _base_url(request)
    output, usage = task_output(record, lambda key: base + sign_path(secret, RESULTS_PREFIX + key, expires))
    return _ok(request, output, usage)


@router.post("/api/v1/tasks/{task_id}/cancel", summary="Cancel a PENDING task",
             **dashscope_route(ok=TaskResponse, errors=(400, 401, 404, 429)))
async def cancel(request: Request, task_id: str) -> JSONResponse:
    account = await authenticate(request)
    service = _service(request)
    if await run_in_threadpool(service.cancel, account, task_id):
        return _ok(request, {"task_id": task_id, "task_status": "CANCELED"})
    record = await run_in_threadpool(service.get, account, task_id)
    if record is None:
        raise NotFound(f"task {task_id!r} not found.")
    raise WrongState(
        f"The operation is unsupported on the referee object: only PENDING tasks can be canceled, "
        f"this one is {record.status}.",
    )


@router.get("/api/v1/tasks", summary="This account's tasks, newest first", **dashscope_route(parameters=[
    query_parameter("page_no", "1-based", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NO, "default": 1}),
    query_parameter("page_size", "tasks per page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                          "default": 10}),
    query_parameter("status", "only tasks in this status", {"type": "string", "enum": list(STATUSES)}),
    query_parameter("model_name", "only tasks of this model", {"type": "string"}),
    query_parameter("start_time", "submitted at or after, YYYYMMDDhhmmss (server local time)", {"type": "string"}),
    query_parameter("end_time", "submitted at or before, YYYYMMDDhhmmss", {"type": "string"}),
]))
async def list_tasks(request: Request) -> JSONResponse:
    account = await authenticate(request)
    params = request.query_params
    page_no = _int_param(request, "page_no", 1)
    page_size = _int_param(request, "page_size", 10)
    page = await run_in_threadpool(
        lambda: _service(request).list(
            account,
            status=params.get("status") or None,
            model=params.get("model_name") or None,
            since=_parse_list_time(params.get("start_time"), "start_time"),
            until=_parse_list_time(params.get("end_time"), "end_time"),
            page_no=page_no,
            page_size=page_size,
        )
    )
    data = [task_list_item(r) for r in page.records]
    return JSONResponse(
        {
            "request_id": request_id(request),
            "data": data,
            "total": page.total,
            "total_page": math.ceil(page.total / page_size),
            "page_no": page_no,
            "page_size": page_size,
        }
    )


@router.get(RESULTS_PREFIX + "{key:path}", include_in_schema=False)
async def result_file(request: Request, key: str) -> Response:
    # No API key: the signature in the URL is the permission (users fetch it with urllib).
    path = RESULTS_PREFIX + key
    query = request.query_params
    if not verify_path(request.app.state.url_signing_secret, path, query.get("Expires"),
                       query.get("Signature"), time.time()):
        raise AccessDenied("The URL signature is invalid or has expired.")
    data = await run_in_threadpool(_service(request).results.read, key)
    if data is None:
        raise NotFound("The result no longer exists (results are kept for a limited time).")
    return Response(result_file_bytes(data), media_type="application/json; charset=utf-8")


@router.get("/api/v1/uploads", summary="An upload policy (as DashScope's OSS upload)", **dashscope_route(
    parameters=[query_parameter("action", "", {"type": "string", "enum": ["getPolicy"]}, required=True)],
    errors=(400, 401, 429)))
async def upload_policy(request: Request) -> JSONResponse:
    account = await authenticate(request)
    action = request.query_params.get("action")
    if action != "getPolicy":
        raise InvalidParameter(f"action must be getPolicy, got {action!r}.")
    data = issue_policy(request.app.state.url_signing_secret, account, _settings(request).max_download_bytes,
                        _base_url(request) + UPLOAD_PATH)
    return JSONResponse({"request_id": request_id(request), "data": data})


@router.post("/api/v1/uploads", summary="Upload a file in one step; answers its oss:// URL", **dashscope_route(
    multipart=_form({"file": _BINARY}), errors=(400, 401, 413, 429)))
async def upload_direct(request: Request) -> JSONResponse:
    """One step for curl users: `curl -H "Authorization: Bearer $KEY" -F file=@a.wav …/api/v1/uploads`
    answers `data.url` = `oss://…`, usable in file_urls by the same account for 48 hours."""
    account = await authenticate(request)
    settings = _settings(request)
    _refuse_declared_oversize(request, settings.max_download_bytes)
    async with request.form(max_files=1, max_fields=8) as form:
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise InvalidParameter('Send the file as the multipart field "file".')
        key = new_upload_key(account, file.filename or "audio")
        size = await run_in_threadpool(
            store_upload, _service(request).results, key, file.file, settings.max_download_bytes
        )
    return JSONResponse({"request_id": request_id(request), "data": {"url": f"oss://{key}", "size": size}})


@router.post(UPLOAD_PATH, summary="Upload a file under a signed policy (no API key)", **dashscope_route(
    multipart=_form({"file": _BINARY, "key": _TEXT, "policy": _TEXT, "Signature": _TEXT}),
    errors=(400, 403, 409, 413), keyed=False))
async def upload(request: Request) -> JSONResponse:
    # Authorised by the signed policy in the form, like an OSS POST upload (no API key).
    settings = _settings(request)
    _refuse_declared_oversize(request, settings.max_download_bytes)
    async with request.form(max_files=1, max_fields=32) as form:
        file = form.get("file")
        key = str(form.get("key") or "")
        if file is None or isinstance(file, str):
            raise InvalidParameter('The multipart field "file" is missing.')
        policy = check_policy(request.app.state.url_signing_secret, str(form.get("policy") or ""),
                              str(form.get("Signature") or ""), key, time.time())
        size = await run_in_threadpool(store_upload, _service(request).results, key, file.file, policy.max_bytes)
    return JSONResponse({"request_id": request_id(request), "key": key, "url": f"oss://{key}", "size": size})

