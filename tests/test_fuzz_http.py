"""No input takes the server down: Hypothesis sends hostile bodies, parameters and paths to every
HTTP endpoint of the real app on a real database (SQLite and PostgreSQL) and asserts that nothing
answers 5xx, and that every error keeps its API's documented shape.

In process (httpx's ASGI transport on one event loop in a thread), so hundreds of requests take
seconds; the loop persists, as in the server, because PostgreSQL's asyncio connections belong to
the loop that made them. Lifespan is not run: no task worker fetches the URLs submitted here.
The fixed cases of the abuse probe are explicit examples, run every time.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hotasr.api.app import create_app
from hotasr.config import Settings
from tests.conftest import BACKENDS
from tests.servers import create_database

T = TypeVar("T")
CUSTOMIZATION = "/api/v1/services/audio/asr/customization"
TRANSCRIPTION = "/api/v1/services/audio/asr/transcription"
OPENAI = "/v1/audio/transcriptions"
# Modest and deterministic: CI-friendly and reproducible. HOTASR_FUZZ_EXAMPLES=2000 digs deeper.
FUZZ = settings(max_examples=int(os.environ.get("HOTASR_FUZZ_EXAMPLES", "40")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class App:
    """The real app on one event loop in a thread, called synchronously from the tests."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.key = self.app.state.accounts.create_key("fuzz").secret
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://hotasr")

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if auth else {}
        headers.update(kwargs.pop("headers", {}))
        return self.run(self.client.request(method, path, headers=headers, **kwargs))

    def close(self) -> None:
        self.run(self.client.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.app.state.db_engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    url = create_database(request.getfixturevalue("postgres_admin_url")) if request.param == "postgres" else None
    # No rate limit: the fuzz sends far more than 100 requests a second on one key.
    application = App(Settings(data_dir=data_dir, database_url=url, preload_models=False, key_requests_per_second=0))
    yield application
    application.close()


def assert_no_server_error(response: httpx.Response) -> None:
    """Below 500, and an error in the shape its API documents (never a trace)."""
    assert response.status_code < 500, (response.request.method, response.request.url, response.text)
    assert "Traceback" not in response.text
    if response.status_code < 400 or response.request.method == "HEAD":  # HEAD: no body to check
        return
    if response.request.url.path.startswith("/v1/"):
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    elif response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        assert set(body) == {"code", "message", "request_id"} and body["message"], body


# -- what hostile JSON looks like -------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from([
    "\ud800", "a\udfffb", "\x00", "vocab-\x00", "abc\n", "", " ", "\u2028", "..", "/", "%00", "a" * 5000,
    "speech-biasing", "fun-asr", "paraformer-v2", "create_vocabulary", "list_vocabulary", "query_vocabulary",
    "update_vocabulary", "delete_vocabulary", "zh", "en", "http://[::1", "http://a:99999/x", "oss://", "oss://x/y",
    "99991231235959", "00010101000000", "getPolicy", "PENDING",
])
HOSTILE_INT = st.sampled_from([-1, 0, 1, 2**31, 2**62, 2**63, 2**64, 10**20, -(10**20), 10**4000])
SCALAR = st.none() | st.booleans() | HOSTILE_INT | st.integers() | st.floats() | HOSTILE_TEXT | st.text(max_size=20)
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=4), max_leaves=12)


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


HOTWORD = st.fixed_dictionaries({}, optional={"text": JSON | HOSTILE_TEXT, "weight": JSON | HOSTILE_INT,
                                              "lang": JSON | HOSTILE_TEXT})
CUSTOMIZATION_INPUT = st.fixed_dictionaries(
    {"action": st.sampled_from(["create_vocabulary", "list_vocabulary", "query_vocabulary", "update_vocabulary",
                                "delete_vocabulary"]) | JSON},
    optional={"target_model": st.sampled_from(["fun-asr", "paraformer-v2"]) | JSON,
              "prefix": HOSTILE_TEXT | JSON, "vocabulary_id": HOSTILE_TEXT | JSON,
              "page_index": HOSTILE_INT | JSON, "page_size": HOSTILE_INT | JSON,
              "vocabulary": st.lists(HOTWORD, max_size=3) | JSON},
)
CUSTOMIZATION_BODY = st.fixed_dictionaries({"model": st.just("speech-biasing") | JSON},
                                           optional={"input": CUSTOMIZATION_INPUT | JSON})
TASK_BODY = st.fixed_dictionaries(
    {"model": st.sampled_from(["fun-asr", "paraformer-v2", "paraformer-realtime-v2"]) | JSON},
    optional={
        "input": st.fixed_dictionaries({}, optional={"file_urls": st.lists(HOSTILE_TEXT | JSON, max_size=3) | JSON})
        | JSON,
        "parameters": st.fixed_dictionaries({}, optional={
            "vocabulary_id": HOSTILE_TEXT | JSON, "language_hints": st.lists(HOSTILE_TEXT) | JSON,
            "channel_id": st.lists(HOSTILE_INT) | JSON, "diarization_enabled": JSON, "speaker_count": JSON,
        }) | JSON,
        "resources": JSON,
    },
)


def encoded(document: Any) -> bytes:
    """JSON text as a client could send it; \\u escapes carry lone surrogates and NUL."""
    return json.dumps(document, ensure_ascii=True).encode()


RAW_BODY = st.binary(max_size=64) | st.sampled_from([
    b"[" * 100_000, b'{"a":' + b"9" * 5000 + b"}", b'{"a": NaN}', b"\xed\xa0\x80", b"\xff\xfe{\x00}\x00",
    '{"a":1}'.encode("utf-16"), b"{}", b"null", b'"\\ud800"',
])


# -- the fixed cases of the abuse probe ------------------------------------------------------------------

def customization(data: dict[str, Any]) -> bytes:
    return encoded({"model": "speech-biasing", "input": data})


PROBE = [  # (path, body, needle in the 400's message, with its code first where not InvalidParameter)
    (CUSTOMIZATION, b'{"model": "speech-biasing", "input": ' + b"[" * 100_000, "nested more than"),
    (CUSTOMIZATION, b'{"model": "speech-biasing", "input": ' + json.dumps(deep(40)).encode() + b"}",
     "nested more than"),
    (CUSTOMIZATION, b'{"model": "speech-biasing", "input": {"action": "list_vocabulary", "page_index": '
     + b"1" * 4301 + b"}}", "input.page_index is an integer of 4301 digits"),
    (CUSTOMIZATION, customization({"action": "create_vocabulary", "target_model": "fun-asr", "prefix": "\ud800",
                                   "vocabulary": [{"text": "a", "weight": 1}]}), "input.prefix holds a lone surrogate"),
    (CUSTOMIZATION, customization({"action": "list_vocabulary", "page_index": 2**62}), "page_index must be"),
    (CUSTOMIZATION, customization({"action": "list_vocabulary", "page_index": 2**63}), "page_index must be"),
    (CUSTOMIZATION, customization({"action": "query_vocabulary", "vocabulary_id": "vocab-a-\x00"}),
     "input.vocabulary_id contains a NUL"),
    (CUSTOMIZATION, customization({"action": "delete_vocabulary", "vocabulary_id": "\x00"}), "NUL"),
    (CUSTOMIZATION, customization({"action": "create_vocabulary", "target_model": "fun-asr", "prefix": "abc\n",
                                   "vocabulary": [{"text": "a", "weight": 1}]}), "prefix must be"),
    (CUSTOMIZATION, customization({"action": "create_vocabulary", "target_model": "fun-asr", "prefix": "abc",
                                   "vocabulary": [{"text": "\ud83d", "weight": 1}]}),
     "input.vocabulary[0].text holds a lone surrogate"),
    (CUSTOMIZATION, b"\xed\xa0\x80", "not UTF-8"),
    (TRANSCRIPTION, encoded({"model": "\udc00", "input": {"file_urls": ["http://example.com/a.wav"]}}),
     "model holds a lone surrogate"),
    (TRANSCRIPTION, encoded({"model": "fun-asr", "input": {"file_urls": ["http://example.com/a.wav"]},
                             "parameters": {"vocabulary_id": "vocab-\x00"}}),
     "parameters.vocabulary_id contains a NUL"),
    (TRANSCRIPTION, encoded({"model": "fun-asr", "input": {"file_urls": ["http://[::1/a.wav"]}}),
     "InvalidURL: file URL \"http://[::1/a.wav\" cannot be parsed"),
    (TRANSCRIPTION, encoded({"model": "fun-asr", "input": {"file_urls": ["http://a:99999/a.wav"]}}),
     "InvalidURL: file URL \"http://a:99999/a.wav\" cannot be parsed"),
    (TRANSCRIPTION, b'{"model": "fun-asr", "parameters": {"channel_id": [' + b"7" * 5000 + b"]}}",
     "parameters.channel_id[0] is an integer of 5000 digits"),
]


@pytest.mark.parametrize(("path", "body", "needle"), PROBE, ids=range(len(PROBE)))
def test_abuse_probe_bodies_get_a_400_naming_the_problem(app: App, path: str, body: bytes, needle: str) -> None:
    response = app.request("POST", path, content=body, headers={"X-DashScope-Async": "enable"})
    assert response.status_code == 400, response.text
    error = response.json()
    code, _, message = needle.rpartition(": ") if needle.startswith("InvalidURL") else ("InvalidParameter", "", needle)
    assert error["code"] == code and message in error["message"], error


@pytest.mark.parametrize(("query", "needle"), [
    ({"page_no": str(10**20)}, "page_no must be an integer of at most 18 digits"),
    ({"page_no": str(2**62)}, "page_no must be an integer of at most 18 digits"),
    ({"page_no": str(2**59)}, "page_no must be an integer from 1 to 1000000"),
    ({"page_size": "1" * 5000}, "page_size must be"),
    ({"page_no": "１"}, "page_no must be"),  # int() takes full-width digits; the API does not
    ({"model_name": "fun-asr\x00"}, "model_name must not contain a NUL"),
    ({"status": "\x00"}, "status must be one of"),
])
def test_task_paging_refuses_what_the_database_cannot_hold(app: App, query: dict[str, str], needle: str) -> None:
    response = app.request("GET", "/api/v1/tasks", params=query)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameter" and needle in response.json()["message"]


def test_a_nul_in_a_task_id_is_an_unknown_task(app: App) -> None:
    queried = app.request("GET", "/api/v1/tasks/" + quote("abc\x00def"))
    assert queried.status_code == 200 and queried.json()["output"]["task_status"] == "UNKNOWN"
    canceled = app.request("POST", "/api/v1/tasks/" + quote("\x00") + "/cancel")
    assert canceled.status_code == 404 and canceled.json()["code"] == "NotFound"


@pytest.mark.parametrize(("hotwords", "needle"), [
    ("[" * 100_000, "nested more than"),
    ('[{"text": "a", "weight": ' + "1" * 5000 + "}]", "[0].weight is an integer of 5000 digits"),
    ('[{"text": "\\ud800", "weight": 1}]', "[0].text holds a lone surrogate"),
    ('[{"text": "a\\u0000", "weight": 1}]', "[0].text contains a NUL"),
])
def test_openai_hotwords_field_refuses_hostile_json(app: App, hotwords: str, needle: str) -> None:
    response = app.request("POST", OPENAI, data={"model": "whisper-1", "hotwords": hotwords},
                           files={"file": ("a.wav", b"RIFF....WAVEfmt ")})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "hotwords" and needle in error["message"], error


def test_openai_text_fields_refuse_nul_and_surrogates(app: App) -> None:
    nul = app.request("POST", OPENAI, data={"model": "whisper-1", "vocabulary_id": "vocab-\x00"},
                      files={"file": ("a.wav", b"RIFF")})
    assert nul.status_code == 400 and nul.json()["error"]["param"] == "vocabulary_id", nul.text
    # A part in utf-7 decodes to a lone surrogate: "+2AA-" is \ud800.
    body = (b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\n+2AA-\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--b--\r\n')
    surrogate = app.request("POST", OPENAI, content=body,
                            headers={"Content-Type": "multipart/form-data; boundary=b; charset=utf-7"})
    assert surrogate.status_code == 400 and surrogate.json()["error"]["param"] == "model", surrogate.text


# -- the fuzz --------------------------------------------------------------------------------------------


@FUZZ
@given(body=CUSTOMIZATION_BODY.map(encoded) | RAW_BODY)
@example(body=b'{"model": "speech-biasing", "input": {"action": "list_vocabulary", "page_index": 4611686018427387904}}')
def test_fuzz_customization(app: App, body: bytes) -> None:
    assert_no_server_error(app.request("POST", CUSTOMIZATION, content=body))


@FUZZ
@given(body=TASK_BODY.map(encoded) | RAW_BODY, async_header=st.sampled_from(["enable", "", "\x7f"]))
def test_fuzz_task_submission(app: App, body: bytes, async_header: str) -> None:
    response = app.request("POST", TRANSCRIPTION, content=body, headers={"X-DashScope-Async": async_header})
    assert_no_server_error(response)


# What a URL can carry: no lone surrogates (httpx cannot encode them), NUL and the rest as %-escapes.
QUERY_VALUE = (HOSTILE_TEXT.filter(lambda s: s.isprintable() or "\x00" in s) | st.text(max_size=12)
               | HOSTILE_INT.map(str))


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["page_no", "page_size", "status", "model_name", "start_time",
                                              "end_time", "other"]), QUERY_VALUE, max_size=4),
       task_id=st.text(min_size=1, max_size=40))
def test_fuzz_task_paging_and_ids(app: App, query: dict[str, str], task_id: str) -> None:
    assert_no_server_error(app.request("GET", "/api/v1/tasks", params=query))
    assert_no_server_error(app.request("GET", "/api/v1/tasks/" + quote(task_id, safe="")))
    assert_no_server_error(app.request("POST", "/api/v1/tasks/" + quote(task_id, safe="") + "/cancel"))


FORM_FIELD = st.sampled_from(["model", "response_format", "language", "prompt", "hotwords", "vocabulary_id",
                              "biasing", "timestamp_granularities[]", "temperature"])


@FUZZ
@given(fields=st.dictionaries(FORM_FIELD, HOSTILE_TEXT | JSON.map(json.dumps) | st.text(max_size=12), max_size=5),
       hotwords=st.lists(HOTWORD, max_size=3).map(json.dumps) | RAW_BODY.map(lambda b: b.decode("latin-1")),
       audio=st.binary(max_size=64))
def test_fuzz_openai_form(app: App, fields: dict[str, str], hotwords: str, audio: bytes) -> None:
    # Never a model-free pass to recognition: random bytes do not decode as audio.
    text = {"model": "whisper-1", **fields, "hotwords": fields.get("hotwords", hotwords)}
    if "vocabulary_id" in fields:
        text.pop("hotwords")
    # As bytes: a lone surrogate goes out as the (invalid) UTF-8 a careless client would send.
    data = {name: value.encode("utf-8", "surrogatepass") for name, value in text.items()}
    response = app.request("POST", OPENAI, data=data, files={"file": ("a.wav", audio)})
    assert_no_server_error(response)


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
       path=st.sampled_from(["/", "/health", "/metrics", "/docs", "/openapi.json", CUSTOMIZATION, TRANSCRIPTION,
                             "/api/v1/tasks", "/api/v1/tasks/x", "/api/v1/tasks/x/cancel", "/api/v1/uploads",
                             "/api/v1/uploads/oss", "/api/v1/results/transcripts/x/0.json", OPENAI, "/v1/models",
                             "/v1/models/whisper-1", "/v1/nothing", "/static/index.html", "/nothing"]),
       suffix=st.text(max_size=10) | st.sampled_from(["\n0", "%0A", "\x00", "/../../etc"]),
       query=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
       body=RAW_BODY, auth=st.booleans(),
       content_type=st.sampled_from(["application/json", "multipart/form-data; boundary=x",
                                     "multipart/form-data", "application/x-www-form-urlencoded", "text/plain"]))
def test_fuzz_every_route(app: App, method: str, path: str, suffix: str, query: dict[str, str], body: bytes,
                          auth: bool, content_type: str) -> None:
    url = path + quote(suffix) if suffix and method != "HEAD" else path
    response = app.request(method, url, params=query, content=body, auth=auth,
                           headers={"Content-Type": content_type})
    assert_no_server_error(response)


def test_ready_is_the_only_5xx_by_design(app: App) -> None:
    # /ready answers 503 until the models are loaded (lifespan is not run here): a status, not a failure.
    assert app.request("GET", "/ready").status_code in (200, 503)


def test_uploads_refuse_names_no_file_system_takes(app: App, tmp_path: Path) -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="+2AA-.wav"\r\n\r\nRIFF\r\n--b--\r\n')
    response = app.request("POST", "/api/v1/uploads", content=body,
                           headers={"Content-Type": "multipart/form-data; boundary=b; charset=utf-7"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["url"].endswith("/audio")  # the unstorable name is replaced


@pytest.fixture
def west_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time behind UTC: the last second of year 9999 is past datetime's range in UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("name", ["start_time", "end_time"])
def test_task_list_times_at_the_ends_of_the_calendar(app: App, west_of_utc: None, name: str) -> None:
    for value in ("99991231235959", "00010101000000"):
        response = app.request("GET", "/api/v1/tasks", params={name: value})
        assert response.status_code == 400, response.text  # OverflowError, a 500, before
        assert response.json()["message"].startswith(f"{name} must look like")
