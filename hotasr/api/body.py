"""Reading a JSON request body with a size limit and errors that say what is wrong.

`json.loads` alone lets hostile bodies through to code that cannot handle them: nesting deep
enough to raise RecursionError, integers of thousands of digits (ValueError past 4,300 digits,
overflow in the database below that), lone surrogates (`"\\ud800"`, which no UTF-8 encoder
accepts: logs, responses and databases all fail on them) and NUL characters (PostgreSQL refuses
them in text). `load_json_text` refuses all of these with a `JsonTextError` naming where in the
document the problem is; each adapter turns it into its own 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from hotasr.errors import InvalidParameter, MissingInput, RequestTooLarge

MAX_DEPTH = 32  # the deepest real body (a task's parameters) is 3 levels deep
# A lone surrogate or a NUL can only come from a \u escape (raw bytes would not decode or parse):
# bodies without one skip the walk that looks for them.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class JsonTextError(ValueError):
    """A document that is not acceptable JSON text; the message says what is wrong and where
    (a path like `input.vocabulary[0].text`), to follow "... is not valid JSON text: "."""


_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
_CONTAINERS = (dict, list)  # exact types: the decoder makes nothing else


class _OversizedInt:
    """Stands in for an integer literal too long to convert; reported with its place afterwards."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _refuse_constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not a JSON number")


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which no field accepts"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate escape (\\ud800-\\udfff), which is not UTF-8 text"
    return None


def _too_deep(document: Any) -> bool:
    """Whether containers nest past MAX_DEPTH: level by level, without recursion (a third of the
    parse's time for a 500-term list, against three quarters for a depth-first walk)."""
    level = [document] if type(document) in _CONTAINERS else []
    for _ in range(MAX_DEPTH):
        level = [v for c in level for v in (c.values() if type(c) is dict else c) if type(v) in _CONTAINERS]
        if not level:
            return False
    return True


def _find_problem(document: Any) -> str | None:
    """The first oversized integer or bad string (keys included), as `path: problem`.

    Slow (it builds every path), so it runs only when parsing flagged something to find."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                problem = _string_problem(key)
                if problem:
                    return f"a key in {path or 'the document'} {problem}"
                stack.append((item, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, _OversizedInt):
            return f"{path or 'the document'} is an integer of {value.digits} digits, too long to be a number"
        elif isinstance(value, str):
            problem = _string_problem(value)
            if problem:
                return f"{path or 'the document'} {problem}"
    return None


def _parse_int(literal: str) -> int | _OversizedInt:
    try:
        return int(literal)
    except ValueError:  # past sys.get_int_max_str_digits() (4,300)
        return _OversizedInt(len(literal) - literal.startswith("-"))


# Only NaN and Infinity reach the hook: no cost for ordinary bodies.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
# Parses integers in Python (twice as slow): used only to find where an oversized integer is.
_LOCATING_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_constant=_refuse_constant)


def _locate_oversized(text: str) -> str:
    try:
        return _find_problem(_LOCATING_DECODER.decode(text)) or "it holds an oversized integer"
    except (ValueError, RecursionError):
        return "it holds an oversized integer"


def load_json_text(raw: bytes | str) -> Any:
    """The document in `raw`, or JsonTextError saying why it is not acceptable JSON text."""
    try:
        # Strict decoding, unlike json.loads (surrogatepass): UTF-8-encoded surrogates are not UTF-8.
        text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw))
        if isinstance(raw, str):  # a form field: it may hold surrogates already (a utf-7 charset)
            raw = raw.encode("utf-8")
    except UnicodeError:
        raise JsonTextError("it is not UTF-8 text") from None
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonTextError(_TOO_DEEP) from None
    except ValueError:  # an integer too long to convert: parse again to say where it is
        raise JsonTextError(_locate_oversized(text)) from None
    # Cheap tests on the raw text first: most bodies need no walk of the document at all.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _too_deep(document):
        raise JsonTextError(_TOO_DEEP)
    if b"\\u" in raw and _SUSPECT_ESCAPE.search(raw):
        problem = _find_problem(document)
        if problem:
            raise JsonTextError(problem)
    return document


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    return parse_json_object(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"Payload Too Large: the body may be at most {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # counted as it arrives: chunked bodies have no length
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"Payload Too Large: the body may be at most {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise MissingInput("Required input parameter missing from request: empty body.")
    try:
        body = load_json_text(raw)
    except JsonTextError as exc:
        raise InvalidParameter(f"The request body is not valid JSON text: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    return body
