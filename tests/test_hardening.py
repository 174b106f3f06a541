"""The smaller findings of the abuse probe: the connection after a 500, forged log lines, file
modes, server paths in task errors, the SSRF guard's IPv6 forms, 405 `Allow` and the OpenAPI
schema. Each test fails on the code before the fix."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI

from hotasr.api.app import create_app
from hotasr.api.openai_compat import OpenAIRoute
from hotasr.api.wire_errors import dashscope_http
from hotasr.config import Settings
from hotasr.hotwords import HotwordError, validate_prefix
from hotasr.logs import JsonFormatter, PlainFormatter
from hotasr.storage.db import make_engine
from hotasr.tasks.fetch import FetchError, Limits, fetch_to, resolve_checked
from hotasr.tasks.results import ResultStore
from hotasr.tasks.service import TaskService
from hotasr.tasks.uploads import store_upload
from tests.task_fixtures import FileServer


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, preload_models=False, key_requests_per_second=0)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- a 500 ends the keep-alive connection cleanly ----------------------------------------------------


def app_with_failing_routes(data_dir: Path) -> FastAPI:
    app = create_app(settings_for(data_dir))

    @app.get("/test/fail")
    async def fail() -> None:
        raise RuntimeError("a bug, on purpose")

    openai_style = APIRouter(route_class=OpenAIRoute)

    @openai_style.get("/test/v1/fail")
    async def fail_openai() -> None:
        raise RuntimeError("a bug, on purpose")

    app.include_router(openai_style)
    return app


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    """The app under uvicorn on a socket that listens before the server runs: requests queue up
    in the backlog until it serves them, so nothing waits for the server to be ready."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app_with_failing_routes(tmp_path), log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def test_a_500_says_connection_close_and_the_next_request_succeeds(live: str) -> None:
    with httpx.Client(base_url=live, timeout=30) as client:
        for path in ("/test/fail", "/test/v1/fail", "/test/fail"):
            failed = client.get(path)
            assert failed.status_code == 500
            assert failed.headers["connection"] == "close"  # the client opens a new connection next
            assert "Traceback" not in failed.text and "on purpose" not in failed.text
            body = failed.json()
            if path.startswith("/test/v1/"):
                assert body["error"]["type"] == "server_error"
            else:
                assert body["code"] == "InternalError" and body["request_id"] == failed.headers["x-request-id"]
            assert client.get("/health").status_code == 200  # ECONNRESET here before the fix
        assert client.get("/health").headers.get("connection") != "close"  # success keeps the connection


# -- one request, one log line -----------------------------------------------------------------------------


@pytest.mark.parametrize("formatter", [PlainFormatter("%(name)s %(message)s"), JsonFormatter()])
def test_a_newline_in_the_path_cannot_forge_a_log_line(tmp_path: Path, formatter: logging.Formatter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    access = logging.getLogger("hotasr.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        app = create_app(settings_for(tmp_path))
        forged = "/x%0D%0A2026-01-01 00:00:00,000 INFO hotasr.access GET /admin 200 1.0ms%1B[2J"
        transport = httpx.ASGITransport(app=app)

        async def get() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://hotasr") as client:
                return await client.get(forged)

        assert asyncio.run(get()).status_code == 404
    finally:
        access.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines  # the request's own line, and no other
    assert "\\r\\n2026-01-01" in lines[0] or "\\\\r\\\\n2026-01-01" in lines[0]
    assert "\x1b" not in lines[0]


def test_plain_lines_escape_control_characters_of_any_message() -> None:
    record = logging.LogRecord("hotasr.tasks", logging.INFO, __file__, 1, "file %s failed", ("a\nb\rc\x1b",), None)
    assert PlainFormatter("%(message)s").format(record) == "file a\\nb\\rc\\x1b failed"


# -- the users' data is private ---------------------------------------------------------------------------


def test_database_results_and_uploads_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    create_app(settings_for(data_dir))
    assert mode(data_dir / "hotasr.db") == 0o600
    assert mode(data_dir) == 0o700 and mode(data_dir.parent) == 0o700  # the levels hotasr made
    store = ResultStore(data_dir / "results")
    store.put_json("transcripts/task-1/0.json", {"text": "private"})
    assert mode(data_dir / "results") == 0o700 and mode(data_dir / "results" / "transcripts" / "task-1") == 0o700
    assert mode(data_dir / "results" / "transcripts" / "task-1" / "0.json") == 0o600
    store_upload(store, "uploads/1/token/a.wav", io.BytesIO(b"RIFF"), 1 << 20)
    assert mode(data_dir / "results" / "uploads" / "1" / "token") == 0o700
    assert mode(data_dir / "results" / "uploads" / "1" / "token" / "a.wav") == 0o600


def test_data_of_an_older_version_is_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "hotasr.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    (tmp_path / "results").mkdir(mode=0o755)
    (tmp_path / "results").chmod(0o755)
    make_engine(f"sqlite:///{db}").dispose()
    ResultStore(tmp_path / "results")
    assert mode(db) == 0o600 and mode(tmp_path / "results") == 0o700


# -- task errors do not show where the server keeps files --------------------------------------------------


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.stop()


def test_an_empty_download_is_refused_without_a_local_path(files: FileServer, tmp_path: Path) -> None:
    limits = Limits(1 << 20, 30, 2, allow_private=True)
    with pytest.raises(FetchError) as caught:
        fetch_to(files.url("empty.wav"), tmp_path / "audio", account_id=1, limits=limits,
                 results=ResultStore(tmp_path / "results"))
    assert dashscope_http(caught.value)[1] == "InvalidFile.DecodeFailed"
    assert caught.value.message == f"the file at {files.url('empty.wav')} is empty (0 bytes)"


def test_task_messages_lose_server_paths_but_keep_urls(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))
    service: TaskService = app.state.tasks
    message = (f"file is empty (0 bytes): /tmp/hotasr-task-x/audio; not found: {tmp_path}/results/uploads/1/a.wav; "
               "HTTP 404 from http://files.example/tmp/a.wav")
    assert service.without_server_paths(message) == (
        "file is empty (0 bytes): <server file>; not found: <server file>; HTTP 404 from http://files.example/tmp/a.wav"
    )


# -- the SSRF guard and IPv6 forms of refused IPv4 addresses ------------------------------------------------


@pytest.mark.parametrize(("address", "reason"), [
    ("2002:7f00:1::", "loopback (embedded 127.0.0.1)"),  # 6to4 of 127.0.0.1
    ("2002:a00:1::1", "private (embedded 10.0.0.1)"),
    ("2002:808:808::1", "6to4"),  # 6to4 at all: its relays reach what they please
    ("fec0::1", "site-local"),
    ("192.88.99.1", "6to4 relay"),
    ("64:ff9b::7f00:1", "loopback (embedded 127.0.0.1)"),  # NAT64
    ("64:ff9b::a9fe:a9fe", "private (embedded 169.254.169.254)"),  # the metadata service
    ("::ffff:10.0.0.1", "private (embedded 10.0.0.1)"),  # IPv4-mapped
    ("::127.0.0.1", "loopback (embedded 127.0.0.1)"),  # IPv4-compatible
    ("::8.8.8.8", "reserved"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo
])
def test_refused_addresses_include_ipv6_forms_of_internal_ipv4(address: str, reason: str) -> None:
    with pytest.raises(FetchError) as caught:
        resolve_checked(address, 80, allow_private=False)
    assert f"a {reason} address ({address})" in caught.value.message


@pytest.mark.parametrize("address", ["8.8.8.8", "::ffff:8.8.8.8", "64:ff9b::808:808", "2606:4700:4700::1111"])
def test_public_addresses_in_any_form_pass(address: str) -> None:
    assert resolve_checked(address, 80, allow_private=False) == address


# -- small rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["abc\n", "abc\r\n", "\nabc", "ABC", "a" * 11, ""])
def test_prefix_is_matched_whole(prefix: str) -> None:
    with pytest.raises(HotwordError):
        validate_prefix(prefix)


def test_405_names_the_allowed_methods_in_both_shapes(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))

    async def call(method: str, path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hotasr") as client:
            return await client.request(method, path)

    dashscope = asyncio.run(call("GET", "/api/v1/services/audio/asr/customization"))
    assert dashscope.status_code == 405 and dashscope.headers["allow"] == "POST"
    assert dashscope.json()["code"] == "UnsupportedOperation"
    openai = asyncio.run(call("DELETE", "/v1/audio/transcriptions"))
    assert openai.status_code == 405 and openai.headers["allow"] == "POST"
    assert openai.json()["error"]["code"] == "method_not_allowed"
    assert asyncio.run(call("GET", "/v1/audio/translations")).status_code == 404  # no such path at all


# -- the OpenAPI schema says what the routes take and answer ------------------------------------------------


def refs_in(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def test_openapi_describes_bodies_parameters_and_errors(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))

    async def get() -> dict[str, object]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hotasr") as client:
            response = await client.get("/openapi.json")
            assert response.status_code == 200
            return dict(response.json())

    schema = asyncio.run(get())
    paths = schema["paths"]
    assert isinstance(paths, dict)
    body = paths["/api/v1/services/audio/asr/customization"]["post"]
    assert body["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CustomizationRequest"}
    assert body["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DashScopeError"}
    submit = paths["/api/v1/services/audio/asr/transcription"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TaskRequest")
    assert [p["name"] for p in submit["parameters"]] == ["X-DashScope-Async"]
    listing = {p["name"]: p["schema"] for p in paths["/api/v1/tasks"]["get"]["parameters"]}
    assert listing["page_no"]["maximum"] == 1_000_000 and listing["page_size"]["maximum"] == 100
    openai = paths["/v1/audio/transcriptions"]["post"]
    assert "multipart/form-data" in openai["requestBody"]["content"]
    assert openai["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIError")
    assert all("422" not in op["responses"] for operations in paths.values() for op in operations.values())
    components = schema["components"]
    assert isinstance(components, dict)
    for target in set(refs_in(schema)):  # every reference resolves
        assert target.removeprefix("#/components/schemas/") in components["schemas"], target
    form = components["schemas"]["OpenAITranscriptionForm"]["properties"]
    assert {"file", "model", "hotwords", "vocabulary_id", "timestamp_granularities[]"} <= set(form)


def test_a_client_gone_mid_body_is_not_a_server_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(settings_for(tmp_path))
    key = app.state.accounts.create_key("gone").secret
    sent: list[dict[str, object]] = []
    messages = iter([{"type": "http.request", "body": b'{"model": ', "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    path = "/api/v1/services/audio/asr/customization"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("hotasr", 80), "client": ("127.0.0.1", 1),
             "headers": [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]}
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent == []  # nothing sent to nobody
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
