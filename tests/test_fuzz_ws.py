"""Whatever a client sends on the real-time WebSocket, a rejected message gets `task-failed` and a
proper close frame (never a dropped connection, 1006), and the server goes on serving.

A real server process and the `websockets` client; no model is loaded: none of these messages
gets as far as a task (the one model served is named by no generated message). Hypothesis
generates the messages (bounded, derandomized: the same examples on every run); the cases from
the reliability issue are fixed examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.servers import Server

ACTIONS = ["run-task", "continue-task", "finish-task"]
SERVED = "paraformer-realtime-8k-v2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"HOTASR_MODELS": json.dumps({SERVED: {"weights": "whisper-tiny.en"}})}
    served = Server(tmp_path_factory.mktemp("fuzz"), env=env).start()
    served.key = served.create_key("fuzz")  # type: ignore[attr-defined]
    yield served
    served.stop()


def send_and_expect_rejection(server: Server, frame: str | bytes) -> dict[str, Any]:
    """Send one frame on a fresh connection: the reply must be task-failed, then a close frame
    with code 1000. Returns the task-failed header."""
    url = server.url.replace("http://", "ws://") + "/api-ws/v1/inference"
    with connect(url, additional_headers={"Authorization": f"bearer {server.key}"},  # type: ignore[attr-defined]
                 open_timeout=10, max_size=None) as ws:
        ws.send(frame)
        reply = json.loads(ws.recv(timeout=10))
        header = reply["header"]
        assert header["event"] == "task-failed", reply
        assert header["error_code"] and header["error_message"], reply
        assert reply["payload"] == {}
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None, "no close frame: the connection was dropped"
    assert closed.value.rcvd.code == 1000
    return header  # type: ignore[no-any-return]


def assert_still_serving(server: Server) -> None:
    assert server.process is not None and server.process.poll() is None, "".join(server.output[-30:])
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    header = send_and_expect_rejection(server, "{}")
    assert header["error_code"] == "InvalidParameter"


def message(header: Any, payload: Any = None) -> str:
    return json.dumps({"header": header, "payload": {} if payload is None else payload})


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


FIXED = [
    pytest.param("this is not json", "not valid JSON", id="not-json"),
    pytest.param("", "not valid JSON", id="empty-text"),
    pytest.param("[1, 2]", "must be a JSON object", id="array"),
    pytest.param("null", "must be a JSON object", id="null"),
    pytest.param(json.dumps({"payload": {}}), "header must be an object", id="no-header"),
    pytest.param(json.dumps({"header": "run-task"}), "header must be an object", id="header-string"),
    pytest.param(message({"action": "run-task", "task_id": "t1"}, ["model"]), "payload must be an object",
                 id="payload-array"),
    pytest.param(message({"action": "run-task", "task_id": "t1"}, "x"), "payload must be an object",
                 id="payload-string"),
    pytest.param(message({"action": "run-task", "task_id": "t1"}, {"parameters": [1]}), "parameters",
                 id="parameters-array"),
    pytest.param(message({"action": "run-task", "task_id": "t1"}, {"model": {"a": 1}}), "not a known model",
                 id="model-object"),
    pytest.param(message({"action": "run-task", "task_id": "t1"}, {"model": SERVED, "parameters": {"format": 7}}),
                 "format is required", id="format-number"),
    pytest.param(message({"action": "run-task", "task_id": "t1"},
                         {"model": SERVED, "parameters": {"format": "pcm", "sample_rate": 8000,
                                                          "vocabulary_id": ["v"]}}),
                 "vocabulary_id must be a string", id="vocabulary-id-array"),
    pytest.param(message({"action": "run-task", "task_id": "t1"},
                         {"model": "fun-asr-realtime", "parameters": {"format": "pcm"}}),
                 "not served", id="model-not-served"),
    pytest.param(deep(100_000), "nested too deeply", id="deep-100k"),
    pytest.param(message({"action": "continue-task", "task_id": "t1"}, {"input": json.loads(deep(200))}),
                 "payload.input[0][0]", id="deep-200-in-payload"),
    pytest.param('{"header": {"action": "run-task", "task_id": "t"}, "payload": {"x": ' + "9" * 5000 + "}}",
                 "4300 digits", id="huge-integer"),
    pytest.param(message({"action": "run-task", "task_id": "t1"},
                         {"model": SERVED, "parameters": {"format": "pcm", "sample_rate": 10**40}}),
                 "out of range", id="integer-beyond-64-bits"),
    pytest.param(message({"action": "run-task", "task_id": "t1"},
                         {"model": SERVED, "parameters": {"format": "pcm", "sample_rate": 1e400}}),
                 "sample_rate", id="infinite-sample-rate"),
    pytest.param(message({"action": "\ud800", "task_id": "t1"}), "lone surrogate", id="surrogate-action"),
    pytest.param(message({"action": "run-task", "task_id": "a\udc00b"}), "lone surrogate", id="surrogate-task-id"),
    pytest.param(message({"action": "run-task", "task_id": "t1"}, {"model": "\udbff"}), "lone surrogate",
                 id="surrogate-model"),
    pytest.param(message({"action": "run-task", "task_id": "t1"}, {"parameters": {"\ud800": 1}}),
                 "lone surrogate", id="surrogate-key"),
    pytest.param(message({"action": "dance", "task_id": "t1"}), "unknown action", id="unknown-action"),
    pytest.param(message({"action": None, "task_id": "t1"}), "unknown action", id="null-action"),
    pytest.param(message({"action": "run-task"}), "task_id", id="no-task-id"),
    pytest.param(message({"action": "run-task", "task_id": 12}), "task_id", id="task-id-number"),
    pytest.param(message({"action": "run-task", "task_id": "x" * 10_000}), "task_id", id="task-id-huge"),
    pytest.param(message({"action": "finish-task", "task_id": "t1"}), "not running", id="finish-without-task"),
    pytest.param(message({"action": "continue-task", "task_id": "t1"}), "not running", id="continue-without-task"),
    pytest.param(b"\0" * 3200, "before run-task", id="binary-before-run-task"),
    pytest.param(b"", "before run-task", id="empty-binary-before-run-task"),
]


@pytest.mark.parametrize(("frame", "needle"), FIXED)
def test_known_bad_messages_fail_the_task_and_close(server: Server, frame: str | bytes, needle: str) -> None:
    header = send_and_expect_rejection(server, frame)
    assert needle in header["error_message"], header
    assert len(header["error_message"]) <= 500  # a client's huge value is not echoed back whole
    header["error_message"].encode()  # text UTF-8 can carry, surrogates or not


# -- generated --------------------------------------------------------------------------------------

# Any character, lone surrogates often (json.dumps writes them as \u escapes, as a client could).
ANY_TEXT = st.text(st.characters() | st.characters(codec=None, categories=["Cs"]), max_size=20)
SCALARS = st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2, max_value=2**80) \
    | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                    max_leaves=12)
ACTION = st.sampled_from(ACTIONS) | JSON
TASK_ID = st.just("t-1") | JSON
# Payloads never name the served model, so no generated run-task can start a task.
PAYLOAD = JSON | st.fixed_dictionaries({}, optional={
    "model": st.sampled_from(["fun-asr-realtime", "fun-asr", "nope"]) | JSON.filter(lambda v: v != SERVED),
    "parameters": JSON | st.fixed_dictionaries({}, optional={
        "format": st.sampled_from(["pcm", "wav", "flac"]) | JSON, "sample_rate": JSON}),
})
HEADER = JSON | st.fixed_dictionaries({"action": ACTION}, optional={"task_id": TASK_ID, "streaming": JSON})
STRUCTURED = st.builds(lambda h, p: {"header": h, "payload": p}, HEADER, PAYLOAD) | JSON
TEXT_FRAMES = STRUCTURED.map(json.dumps) | st.text(max_size=40) \
    | st.integers(min_value=33, max_value=3000).map(deep)
FRAMES = TEXT_FRAMES | st.binary(max_size=64)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(frame=FRAMES)
def test_any_malformed_message_fails_the_task_and_closes(server: Server, frame: str | bytes) -> None:
    send_and_expect_rejection(server, frame)


def test_the_server_still_serves_after_all_that(server: Server) -> None:
    assert_still_serving(server)
