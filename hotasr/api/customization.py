"""`POST /api/v1/services/audio/asr/customization`: hotword lists on the DashScope wire
(docs/dashscope-protocol.md §3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from hotasr.api.auth import admit, authenticate, required_token
from hotasr.api.body import parse_json_object, read_body
from hotasr.api.dashscope_shapes import wire_time
from hotasr.api.errors import request_id
from hotasr.api.responses import JSONResponse
from hotasr.api.schema import CustomizationRequest, CustomizationResponse, dashscope_route
from hotasr.errors import HotasrError, InvalidParameter, MissingInput, MissingModel
from hotasr.hotwords import show
from hotasr.vocabularies import VocabularyRecord, VocabularyService

router = APIRouter()
MODEL = "speech-biasing"


def _summary(service: VocabularyService, record: VocabularyRecord) -> dict[str, Any]:
    return {
        "vocabulary_id": record.vocabulary_id,
        "gmt_create": wire_time(record.created_at),
        "gmt_modified": wire_time(record.modified_at),
        "status": service.status(record),
    }


def _create(service: VocabularyService, account: int, data: dict[str, Any]) -> dict[str, Any]:
    vocabulary_id = service.create(
        account,
        target_model=data.get("target_model"),
        prefix=data.get("prefix"),
        items=data.get("vocabulary"),
    )
    return {"vocabulary_id": vocabulary_id}


def _list(service: VocabularyService, account: int, data: dict[str, Any]) -> dict[str, Any]:
    records = service.list(
        account,
        prefix=data.get("prefix"),  # null or absent: no filter (the docs' curl sends null)
        page_index=data.get("page_index", 0),
        page_size=data.get("page_size", 10),
    )
    return {"vocabulary_list": [_summary(service, r) for r in records]}


async def _query(request: Request, service: VocabularyService, data: dict[str, Any]) -> dict[str, Any]:
    # The hot read (every client polls its lists): the key check and the read in one statement,
    # awaited on the event loop (see LoopReader).
    read = await service.get_by_key_on_loop(required_token(request), data.get("vocabulary_id"))
    admit(request, read.key)
    record = read.record()
    summary = _summary(service, record)
    return {
        "gmt_create": summary["gmt_create"],
        "gmt_modified": summary["gmt_modified"],
        "status": summary["status"],
        "target_model": record.target_model,
        "vocabulary": record.items,
    }


def _update(service: VocabularyService, account: int, data: dict[str, Any]) -> dict[str, Any]:
    service.update(account, data.get("vocabulary_id"), items=data.get("vocabulary"))
    return {}


def _delete(service: VocabularyService, account: int, data: dict[str, Any]) -> dict[str, Any]:
    service.delete(account, data.get("vocabulary_id"))
    return {}


ACTIONS: dict[str, Callable[[VocabularyService, int, dict[str, Any]], dict[str, Any]]] = {
    "create_vocabulary": _create,
    "list_vocabulary": _list,
    "update_vocabulary": _update,
    "delete_vocabulary": _delete,
}
QUERY = "query_vocabulary"
ACTION_NAMES = ("create_vocabulary", "list_vocabulary", QUERY, "update_vocabulary", "delete_vocabulary")


@router.post("/api/v1/services/audio/asr/customization", summary="Hotword lists: create, list, query, update, delete",
             **dashscope_route(body=CustomizationRequest, ok=CustomizationResponse, errors=(400, 401, 404, 413, 429)))
async def customization(request: Request) -> JSONResponse:
    raw = await read_body(request, request.app.state.settings.max_request_bytes)
    try:
        action, data = _parse(raw)
    except HotasrError:
        await authenticate(request)  # a wrong key is reported before a wrong body
        raise
    service: VocabularyService = request.app.state.vocabularies
    if action == QUERY:
        output = await _query(request, service, data)
    else:
        account = await authenticate(request)
        output = await run_in_threadpool(ACTIONS[action], service, account, data)
    return JSONResponse({"request_id": request_id(request), "output": output, "usage": {"count": 1}})


def _parse(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The action and the request's `input`, or the 400 that says what is wrong with the body."""
    body = parse_json_object(raw)
    model = body.get("model")
    if model in (None, ""):
        raise MissingModel('Required parameter "model" missing from request.')
    if model != MODEL:
        raise InvalidParameter(f'model must be "{MODEL}" for hotword lists, got {show(model)}.')
    data = body.get("input")
    if not isinstance(data, dict) or not data:
        raise MissingInput('Required parameter "input" missing from request.')
    action = data.get("action")
    if not isinstance(action, str) or action not in ACTION_NAMES:
        raise InvalidParameter(
            f"unknown action {show(action)}; use one of: {', '.join(ACTION_NAMES)}."
        )
    return action, data
