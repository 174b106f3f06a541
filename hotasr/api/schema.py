"""The OpenAPI description of the DashScope and OpenAI routes: bodies, parameters and errors.

The handlers read their bodies themselves (`hotasr.api.body`: hostile JSON gets a 400 that names
the field, in the API's own error shape), so FastAPI cannot infer what they take. The models here
only describe the wire for `/openapi.json` and `/docs`; they validate nothing. Route decorators
take `**dashscope_route(...)` / `**openai_route(...)`; `install` adds the models to the schema's
components.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"


# -- DashScope ---------------------------------------------------------------------------------------


class DashScopeError(BaseModel):
    """Every non-200 answer of the DashScope routes (the SDK parses this shape only)."""

    code: str = Field(examples=["InvalidParameter"])
    message: str = Field(examples=["input.page_index must be an integer from 0 to 1000000, got -1"])
    request_id: str


class HotwordItem(BaseModel):
    text: str = Field(description="15 characters at most with any non-ASCII one, else 7 space-separated words")
    weight: int = Field(ge=1, le=5)
    lang: str | None = Field(None, description="the term's language; with language_hints only matching terms apply")


class CustomizationInput(BaseModel):
    action: Literal["create_vocabulary", "list_vocabulary", "query_vocabulary", "update_vocabulary",
                    "delete_vocabulary"]
    target_model: str | None = Field(None, description="create: the model the list is for")
    prefix: str | None = Field(None, pattern=r"^[a-z0-9]{1,10}$", description="create; list: a filter (null: none)")
    vocabulary: list[HotwordItem] | None = Field(None, max_length=500, description="create, update (replaces all)")
    vocabulary_id: str | None = Field(None, description="query, update, delete")
    page_index: int | None = Field(0, ge=0, le=1_000_000, description="list: 0-based")
    page_size: int | None = Field(10, ge=1, le=100, description="list")


class CustomizationRequest(BaseModel):
    model: Literal["speech-biasing"]
    input: CustomizationInput
    parameters: dict[str, Any] | None = Field(None, description="sent by the SDK; ignored")


class CustomizationResponse(BaseModel):
    request_id: str
    output: dict[str, Any] = Field(description="per action: vocabulary_id; vocabulary_list; the list; {}")
    usage: dict[str, int] = Field(examples=[{"count": 1}])


class TaskInput(BaseModel):
    file_urls: list[str] = Field(min_length=1, max_length=100, description="http(s):// or oss:// (uploads)")


class TaskParameters(BaseModel):
    vocabulary_id: str | None = None
    language_hints: list[str] | None = None
    channel_id: list[int] | None = Field(None, description="default [0]; each track is transcribed and billed")
    disfluency_removal_enabled: bool = False
    timestamp_alignment_enabled: bool = False
    diarization_enabled: bool = Field(False, description="accepted; not supported (a warning says so)")


class TaskRequest(BaseModel):
    model: str = Field(examples=["fun-asr", "paraformer-v2"])
    input: TaskInput
    parameters: TaskParameters | None = None


class TaskResponse(BaseModel):
    request_id: str
    output: dict[str, Any] = Field(description="task_id, task_status and, when finished, results")
    usage: dict[str, Any] | None = None


# -- OpenAI --------------------------------------------------------------------------------------------


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = Field(None, description="the offending form field")
    code: str | None = None


class OpenAIError(BaseModel):
    """Every error of the /v1 routes."""

    error: OpenAIErrorDetail


class OpenAITranscriptionForm(BaseModel):
    file: bytes = Field(json_schema_extra={"format": "binary"}, description="the audio, 25 MB at most")
    model: str = Field(examples=["whisper-1", "fun-asr"], description="whisper-1 means fun-asr")
    response_format: Literal["json", "text", "srt", "vtt", "verbose_json"] = "json"
    language: str | None = None
    prompt: str | None = Field(None, description="a hint for the decoder when no hotwords are given")
    temperature: float | None = Field(None, description="accepted and ignored")
    timestamp_granularities: list[Literal["word", "segment"]] | None = Field(
        None, alias="timestamp_granularities[]")
    hotwords: str | None = Field(None, description='a JSON list: [{"text": "...", "weight": 4, "lang": "en"}]')
    vocabulary_id: str | None = Field(None, description="a stored hotword list (not with hotwords)")
    biasing: Literal["hotasr", "prompt", "none"] = "hotasr"


class OpenAITranscription(BaseModel):
    text: str
    warnings: list[str] | None = Field(None, description="hotasr extra: what did not apply as asked")


MODELS: tuple[type[BaseModel], ...] = (
    DashScopeError, CustomizationRequest, CustomizationResponse, TaskRequest, TaskResponse, OpenAIError,
    OpenAITranscriptionForm, OpenAITranscription,
)


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


_DASHSCOPE_ERRORS = {
    400: "InvalidParameter and other request errors; the message names the offending field",
    401: "InvalidApiKey",
    404: "NotFound / ModelNotFound",
    403: "AccessDenied: the signature or policy is invalid or has expired",
    409: "FileAlreadyExists",
    413: "BadRequest.TooLarge",
    429: "Throttling.RateQuota / Throttling.AllocationQuota",
}
_OPENAI_ERRORS = {400: "invalid_value and other request errors (`param` names the field)", 401: "invalid_api_key",
                  404: "model_not_found / vocabulary_not_found", 413: "file_too_large", 429: "rate_limit_exceeded"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(descriptions: dict[int, str], model: type[BaseModel], statuses: tuple[int, ...]) -> dict[int | str, Any]:
    return {status: {"description": descriptions[status], **_json(ref(model))} for status in statuses}


def dashscope_route(
    *,
    body: type[BaseModel] | None = None,
    ok: type[BaseModel] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    multipart: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (400, 401, 429),
    keyed: bool = True,
) -> dict[str, Any]:
    """Decorator arguments that describe a DashScope route whose handler reads the request itself."""
    extra: dict[str, Any] = {"security": [{"bearer": []}] if keyed else []}
    if body is not None:
        extra["requestBody"] = {"required": True, **_json(ref(body))}
    if multipart is not None:
        extra["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": multipart}}}
    if parameters:
        extra["parameters"] = parameters
    responses = _errors(_DASHSCOPE_ERRORS, DashScopeError, errors)
    if ok is not None:
        responses[200] = {"description": "OK", **_json(ref(ok))}
    return {"openapi_extra": extra, "responses": responses}


def openai_route(*, form: type[BaseModel] | None = None, ok: type[BaseModel] | None = None,
                 errors: tuple[int, ...] = (400, 401, 404, 429)) -> dict[str, Any]:
    """Decorator arguments that describe an OpenAI-compatible route."""
    extra: dict[str, Any] = {"security": [{"bearer": []}]}
    if form is not None:
        extra["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": ref(form)}}}
    responses = _errors(_OPENAI_ERRORS, OpenAIError, errors)
    if ok is not None:
        responses[200] = {"description": "json and verbose_json; text, srt and vtt answer text/plain",
                          **_json(ref(ok))}
    return {"openapi_extra": extra, "responses": responses}


def query_parameter(name: str, description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def header_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "description": description, "schema": schema}


def install(app: FastAPI) -> None:
    """Serve the models above in the schema's components, and the bearer-key security scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    # FastAPI's 422 for path parameters: hotasr answers 400 (hotasr.api.errors).
                    operation.get("responses", {}).pop("422", None)
            _, definitions = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            schemas.update(definitions.get("$defs", {}))
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                        "description": "Authorization: Bearer <API key>"}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
