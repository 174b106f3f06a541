"""OpenAI-compatible speech-to-text: `POST /v1/audio/transcriptions` and `GET /v1/models`.

A thin adapter over `hotasr.recognize`, so tools written for OpenAI's API (the official `openai`
client, `curl -F file=@a.wav`) work against hotasr with hotwords on top:

- `model`: a DashScope model name (`fun-asr`, `paraformer-v2`, ...); `whisper-1` means `fun-asr`.
- `language` becomes the language hint; `temperature` is accepted and ignored.
- `prompt` is a prompt-style hint only: its text goes into Whisper's text prompt (like
  `biasing=prompt`), and only when no hotword list is given; it never biases like a hotword list.
- hotwords: `vocabulary_id` (a stored list) or `hotwords` (an inline JSON list in the docs'
  format `[{"text", "weight", "lang"}]`); hotasr extension `biasing` = hotasr | prompt | none.
- errors use OpenAI's shape `{"error": {"message", "type", "param", "code"}}`: domain errors as the
  OpenAI table of hotasr.api.wire_errors says, the request field at fault as `param`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotasr.api.auth import authenticate
from hotasr.api.body import JsonTextError, load_json_text
from hotasr.api.errors import INTERNAL_ERROR_MESSAGE, request_id
from hotasr.api.responses import JSONResponse
from hotasr.api.schema import OpenAITranscription, OpenAITranscriptionForm, openai_route
from hotasr.api.wire_errors import openai as openai_wire
from hotasr.audio import EMPTY, AudioError, AudioLimits, decode_audio
from hotasr.catalog import HOTWORD_LANGS, MODELS, get_model
from hotasr.config import Settings
from hotasr.engine import BIASING_MODES, BiasingMode, EngineError
from hotasr.errors import (
    EngineFailed,
    HotasrError,
    InvalidParameter,
    MissingInput,
    MissingModel,
    ModelNotServed,
    RequestTooLarge,
)
from hotasr.hotwords import Hotword, HotwordError, parse_hotword_list, show
from hotasr.recognize import check_served, recognize
from hotasr.subtitles import to_srt, to_vtt
from hotasr.transcript import Transcript
from hotasr.vocabularies import VocabularyNotFound, VocabularyService

log = logging.getLogger("hotasr.openai")

WHISPER_ALIAS = "whisper-1"
DEFAULT_MODEL = "fun-asr"  # what `whisper-1` means here
# OpenAI's own upload limit; recognition of one request holds the whole file in memory.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("word", "segment")
# OpenAI's verbose_json names the language in words ("english"); codes it does not know stay codes.
LANGUAGE_NAMES = {
    "en": "english", "zh": "chinese", "ja": "japanese", "ko": "korean", "de": "german", "fr": "french",
    "es": "spanish", "ru": "russian", "it": "italian", "pt": "portuguese", "nl": "dutch", "ar": "arabic",
    "yue": "cantonese", "hi": "hindi", "tr": "turkish", "pl": "polish", "uk": "ukrainian", "vi": "vietnamese",
    "th": "thai", "id": "indonesian", "sv": "swedish",
}


class OpenAIRoute(APIRoute):
    """Every error of these routes leaves in OpenAI's shape, whatever raised it (never a trace): a
    domain error as `hotasr.api.wire_errors.OPENAI` says, with its `field` as `param`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except HotasrError as exc:
                status, kind, code = openai_wire(exc)
                return _error_response(request, status, exc.message, code, param=exc.field, type_=kind)
            except StarletteHTTPException as exc:  # e.g. a malformed multipart body
                return _error_response(request, exc.status_code, str(exc.detail), "invalid_request")
            except Exception:
                log.exception("unhandled error, request_id=%s", request_id(request))
                return _error_response(request, 500, INTERNAL_ERROR_MESSAGE, "internal_error", type_="server_error")

        return guarded


def _error_response(request: Request, status: int, message: str, code: str, *, param: str | None = None,
                    type_: str = "invalid_request_error", headers: dict[str, str] | None = None) -> JSONResponse:
    """OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers={**(headers or {}), "X-Request-Id": request_id(request)})


E = TypeVar("E", bound=HotasrError)


def _about(field: str, error: E) -> E:
    """`error`, as the fault of request field `field` (OpenAI's `param`)."""
    error.field = field
    return error


# -- the request ----------------------------------------------------------------------------------


@dataclass(slots=True)
class TranscriptionRequest:
    model: str  # the DashScope name (whisper-1 already resolved)
    response_format: str = "json"
    language: str | None = None
    prompt: str | None = None
    granularities: tuple[str, ...] = ("segment",)
    vocabulary_id: str | None = None
    inline_hotwords: list[Hotword] | None = None
    biasing: BiasingMode = "hotasr"
    warnings: list[str] = field(default_factory=list)
    diarization: Any = None  # hotasr extra (`diarize`, `speaker_count`): DiarizationOptions, or None


def _text_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameter(f"'{name}' must be a text field, not a file.", field=name)
    if "\x00" in value:  # PostgreSQL refuses NUL in text; no field has a use for one
        raise InvalidParameter(f"'{name}' must not contain a NUL character.", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a utf-7 charset on the part
        raise InvalidParameter(f"'{name}' is not valid UTF-8 text.", field=name) from None
    return value.strip() or None


def resolve_model(name: str | None, settings: Settings) -> str:
    """The DashScope model behind an OpenAI `model` value, or a 404 `model_not_found`."""
    if not name:
        raise MissingModel("you must provide a model parameter", field="model")
    model = DEFAULT_MODEL if name == WHISPER_ALIAS else name
    try:
        check_served(model, settings)
    except ModelNotServed as exc:
        alias = f" ({WHISPER_ALIAS} means {DEFAULT_MODEL})" if name == WHISPER_ALIAS else ""
        raise _about("model", ModelNotServed(
            model, f"The model `{name}` does not exist or is not served here{alias}: {exc.message}.")) from None
    return model


def _granularities(form: FormData) -> tuple[str, ...]:
    # The openai client sends `timestamp_granularities[]` once per value; curl users may drop the [].
    values = [*form.getlist("timestamp_granularities[]"), *form.getlist("timestamp_granularities")]
    chosen: list[str] = []
    for value in values:
        if not isinstance(value, str) or value not in GRANULARITIES:
            raise InvalidParameter(f"timestamp_granularities must be word and/or segment, got {show(str(value))}.",
                                   field="timestamp_granularities")
        if value not in chosen:
            chosen.append(value)
    return tuple(chosen) or ("segment",)


def _inline_hotwords(raw: str, model: str, max_terms: int) -> list[Hotword]:
    try:
        items = load_json_text(raw)
    except JsonTextError as exc:
        raise InvalidParameter(f"hotwords must be a JSON list of {{text, weight, lang}} objects; it is not valid "
                               f"JSON text: {exc}.", field="hotwords") from None
    info = MODELS[model]
    # A model without hotword support still gets the list checked; recognize() then warns it is unused.
    langs = info.hotword_langs if info.supports_hotwords else frozenset().union(*HOTWORD_LANGS.values())
    try:
        return parse_hotword_list(items, langs, max_terms=max_terms)
    except HotwordError as exc:
        raise _about("hotwords", exc) from None


def parse_request(form: FormData, settings: Settings) -> TranscriptionRequest:
    model = resolve_model(_text_field(form, "model"), settings)
    fmt = _text_field(form, "response_format") or "json"
    if fmt not in RESPONSE_FORMATS:
        raise InvalidParameter(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, got {show(fmt)}.",
                               field="response_format")
    biasing = _text_field(form, "biasing") or "hotasr"
    if biasing not in BIASING_MODES:
        raise InvalidParameter(f"biasing must be one of {', '.join(BIASING_MODES)}, got {show(biasing)}.",
                               field="biasing")
    request = TranscriptionRequest(
        model=model,
        response_format=fmt,
        language=_text_field(form, "language"),
        prompt=_text_field(form, "prompt"),
        granularities=_granularities(form),
        vocabulary_id=_text_field(form, "vocabulary_id"),
        biasing=biasing,
    )
    raw_hotwords = _text_field(form, "hotwords")
    if raw_hotwords and request.vocabulary_id:
        raise InvalidParameter("give either vocabulary_id or hotwords, not both.", field="hotwords")
    if raw_hotwords:
        request.inline_hotwords = _inline_hotwords(raw_hotwords, model, settings.max_terms_per_vocabulary)
    request.diarization = _diarization(form)
    # `temperature` is accepted and ignored: decoding here is deterministic (beam search).
    return request


def _diarization(form: FormData) -> Any:
    """hotasr extra fields `diarize` (true/false) and `speaker_count` (2-100): speakers per segment."""
    from hotasr.diarization import DiarizationOptions

    diarize = (_text_field(form, "diarize") or "false").lower()
    if diarize not in ("true", "false"):
        raise InvalidParameter(f"diarize must be true or false, got {show(diarize)}.", field="diarize")
    raw = _text_field(form, "speaker_count")
    if raw is None:
        return DiarizationOptions() if diarize == "true" else None
    if diarize != "true":
        raise InvalidParameter("speaker_count needs diarize=true.", field="speaker_count")
    try:
        return DiarizationOptions(int(raw))
    except ValueError:
        raise InvalidParameter(f"speaker_count must be an integer from 2 to 100, got {show(raw)}.",
                               field="speaker_count") from None


# -- recognition ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Hotwords:
    terms: list[Hotword]
    target_model: str | None = None


def _hotwords(req: TranscriptionRequest, account: int, vocabularies: VocabularyService) -> Hotwords:
    if req.vocabulary_id:
        try:
            record = vocabularies.get(account, req.vocabulary_id)
        except VocabularyNotFound as exc:
            raise _about("vocabulary_id", exc) from None
        return Hotwords(record.hotwords, record.target_model)
    if req.inline_hotwords:
        return Hotwords(req.inline_hotwords)
    return Hotwords([])


def transcribe(req: TranscriptionRequest, audio: bytes, account: int, settings: Settings,
               vocabularies: VocabularyService) -> Transcript:
    """Blocking: decode and recognize one upload (run in a worker thread)."""
    hotwords = _hotwords(req, account, vocabularies)
    try:
        # Probed and decoded in a child process under the server's audio limits (hotasr.audio_guard).
        decoded = decode_audio(audio, limits=AudioLimits.from_settings(settings))
    except AudioError as exc:
        raise _about("file", AudioError(exc.code, f"The audio file could not be decoded: {exc.message}")) from None
    biasing = req.biasing
    terms = hotwords.terms
    warnings = list(decoded.warnings)
    if req.prompt:
        if terms:
            warnings.append("prompt was ignored: a hotword list was given (the prompt is only a hint without one)")
        elif biasing == "none":
            warnings.append("prompt was ignored: biasing is none")
        else:
            # Whisper's text prompt is the only place a free-text prompt fits; hotasr biasing is for terms.
            terms, biasing = [Hotword(req.prompt, 1)], "prompt"
    try:
        transcript = recognize(
            decoded.samples,
            model=req.model,
            settings=settings,
            hotwords=terms,
            language_hints=[req.language] if req.language else None,
            vocabulary_target_model=hotwords.target_model,
            biasing=biasing,
            speech_gate=True,
        )
    except ModelNotServed as exc:
        raise _about("model", exc) from None
    except EngineError as exc:
        log.error("recognition failed: %s", exc)
        raise EngineFailed(f"recognition failed: {exc}") from None
    transcript.warnings[:0] = [w for w in warnings if w not in transcript.warnings]
    if req.diarization is not None:
        from hotasr.diarization import diarize_transcript
        from hotasr.engine.weights import WeightsError

        try:
            transcript = diarize_transcript(decoded.samples, transcript, settings.model_cache_dir, req.diarization)
        except WeightsError as exc:
            raise EngineFailed(f"diarization is not available on this server: {exc}", field="diarize") from None
    return transcript


# -- response formats -----------------------------------------------------------------------------


def to_verbose(transcript: Transcript, granularities: tuple[str, ...]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": LANGUAGE_NAMES.get(transcript.language or "", transcript.language or ""),
        "duration": transcript.duration_ms / 1000,
        "text": transcript.text,
    }
    if "segment" in granularities:
        body["segments"] = [
            {"id": n, "seek": 0, "start": s.begin_ms / 1000, "end": s.end_ms / 1000, "text": " " + s.text.strip(),
             "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0,
             **({"speaker": s.speaker_id} if s.speaker_id is not None else {})}  # hotasr extra: diarize=true
            for n, s in enumerate(transcript.spoken)
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": w.text.strip(), "start": w.begin_ms / 1000, "end": w.end_ms / 1000}
            for s in transcript.spoken for w in s.words if w.text.strip()
        ]
    return body


def render(transcript: Transcript, req: TranscriptionRequest, headers: dict[str, str]) -> Response:
    warnings = transcript.warnings
    if req.response_format in ("json", "verbose_json"):
        body: dict[str, Any] = {"text": transcript.text} if req.response_format == "json" else to_verbose(
            transcript, req.granularities)
        if warnings:
            body["warnings"] = warnings  # hotasr extra: what did not apply as asked
        return JSONResponse(body, headers=headers)
    if warnings:  # plain-text formats have no room for them: a header carries them (JSON list)
        headers["X-Hotasr-Warnings"] = json.dumps(warnings)
    if req.response_format == "text":
        return PlainTextResponse(transcript.text + "\n", headers=headers)
    if req.response_format == "srt":
        return PlainTextResponse(to_srt(transcript), headers=headers)
    return PlainTextResponse(to_vtt(transcript), media_type="text/vtt", headers=headers)


# -- routes ---------------------------------------------------------------------------------------

router = APIRouter(route_class=OpenAIRoute)


async def _read_upload(form: FormData) -> bytes:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise MissingInput("you must provide a file parameter (multipart field 'file')", field="file")
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise RequestTooLarge(f"the file may be at most {MAX_UPLOAD_BYTES} bytes", field="file")
    data = await upload.read()
    if not data:
        raise _about("file", AudioError(EMPTY, "the uploaded file is empty"))
    return data


@router.post("/v1/audio/transcriptions", summary="Transcribe a file (OpenAI's API, with hotwords)",
             **openai_route(form=OpenAITranscriptionForm, ok=OpenAITranscription, errors=(400, 401, 404, 413, 429)))
async def transcriptions(request: Request) -> Response:
    account = await authenticate(request)
    settings: Settings = request.app.state.settings
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return _error_response(request, 400, "send the audio as multipart/form-data with a 'file' field",
                               "invalid_content_type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 1024 * 1024:
        raise RequestTooLarge(f"the file may be at most {MAX_UPLOAD_BYTES} bytes", field="file")
    started = time.monotonic()
    async with request.form(max_files=1, max_fields=64) as form:
        audio = await _read_upload(form)
        req = parse_request(form, settings)
    transcript = await run_in_threadpool(transcribe, req, audio, account, settings, request.app.state.vocabularies)
    headers = {"X-Request-Id": request_id(request), "X-Hotasr-Model": req.model,
               "X-Hotasr-Processing-Ms": str(round((time.monotonic() - started) * 1000))}
    return render(transcript, req, headers)


def model_object(name: str) -> dict[str, Any]:
    info = get_model(name)
    served_as = DEFAULT_MODEL if name == WHISPER_ALIAS else name
    target = get_model(served_as)
    known = info or target
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "hotasr",
        # hotasr extras: what the console needs to offer the right models in the right place.
        "mode": known.mode if known else "file",
        "supports_hotwords": bool(target and target.supports_hotwords),
    }


def served_models(settings: Settings) -> list[str]:
    names = [name for name in MODELS if settings.is_served(name)]
    return [WHISPER_ALIAS, *names] if settings.is_served(DEFAULT_MODEL) else names


@router.get("/v1/models", summary="The served models", **openai_route(errors=(401, 429)))
async def list_models(request: Request) -> JSONResponse:
    await authenticate(request)
    settings: Settings = request.app.state.settings
    return JSONResponse({"object": "list", "data": [model_object(n) for n in served_models(settings)]})


@router.get("/v1/models/{model_id}", summary="One served model", **openai_route(errors=(401, 404, 429)))
async def retrieve_model(request: Request, model_id: str) -> JSONResponse:
    await authenticate(request)
    if model_id not in served_models(request.app.state.settings):
        raise ModelNotServed(model_id, f"The model `{model_id}` does not exist or is not served here.", field="model")
    return JSONResponse(model_object(model_id))


def _allowed_methods(path: str) -> list[str]:
    """The methods the /v1 routes take at `path` (none: the path is unknown)."""
    methods = {m for route in router.routes if isinstance(route, APIRoute) and route.name != "unknown"
               and route.path_regex.match(path) for m in route.methods or ()}
    return sorted(methods)


class _AnyPath(PathConvertor):
    """Like `path`, newlines included (a `%0A` in the path must not fall out of the /v1 shape)."""

    regex = "(?s:.*)"


register_url_convertor("any_path", _AnyPath())


@router.api_route("/v1/{rest:any_path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                  include_in_schema=False)
async def unknown(request: Request, rest: str) -> JSONResponse:
    # Unknown /v1 paths and methods answer in OpenAI's shape too (clients parse only that one).
    allowed = _allowed_methods(request.url.path)
    if allowed:
        return _error_response(request, 405, f"Method {request.method} is not allowed on /v1/{rest}; use "
                               f"{', '.join(allowed)}", "method_not_allowed", headers={"Allow": ", ".join(allowed)})
    return _error_response(request, 404, f"Invalid URL ({request.method} /v1/{rest})", "unknown_url")

