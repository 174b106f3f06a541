"""Operations: readiness, metrics, request ids in responses and JSON logs, per-key limits, shutdown."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from tests.servers import HANG_S, Server

PATH = "/api/v1/services/audio/asr/customization"
LIST = {"model": "speech-biasing", "input": {"action": "list_vocabulary"}}
TINY = {"weights": "whisper-tiny.en"}


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "HOTASR_MODELS": json.dumps({"fun-asr": TINY, "fun-asr-realtime": TINY}),
        "HOTASR_PRELOAD_MODELS": "1",
        "HOTASR_LOG_JSON": "1",
        "HOTASR_KEY_REQUESTS_PER_SECOND": "2",
        "HOTASR_KEY_BURST": "4",
        "HOTASR_KEY_MAX_STREAMS": "1",
    }
    server = Server(tmp_path_factory.mktemp("ops"), env=env).start()
    yield server
    server.stop()


def test_ready_after_models_load(ops: Server) -> None:
    deadline = time.monotonic() + HANG_S
    while True:
        response = httpx.get(ops.url + "/ready")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        assert response.status_code == 503 and response.json()["models"] == "loading"
        time.sleep(0.5)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "database": "ok", "models": "ok"}
    assert httpx.get(ops.url + "/health").json() == {"status": "ok"}
    # The operator reading the log sees when recognition can start.
    assert "whisper-tiny.en loaded in" in ops.wait_for_line(lambda line: "ready for recognition" in line)


def test_request_id_in_body_header_and_json_log(ops: Server) -> None:
    key = ops.create_key("ids")
    ok = httpx.post(ops.url + PATH, json=LIST, headers={"Authorization": f"Bearer {key}"})
    assert ok.headers["x-request-id"] == ok.json()["request_id"]
    bad = httpx.post(ops.url + PATH, json=LIST, headers={"Authorization": "Bearer sk-wrong"})
    assert bad.status_code == 401 and bad.headers["x-request-id"] == bad.json()["request_id"]
    line = ops.wait_for_line(lambda line: bad.json()["request_id"] in line and "hotasr.access" in line)
    assert " 401 " in json.loads(line)["message"]


def test_metrics(ops: Server) -> None:
    key = ops.create_key("metrics")
    httpx.post(ops.url + PATH, json=LIST, headers={"Authorization": f"Bearer {key}"})
    httpx.get(ops.url + "/no/such/route")
    text = httpx.get(ops.url + "/metrics").text
    assert f'hotasr_http_requests_total{{code="200",route="{PATH}"}}' in text
    assert 'hotasr_http_requests_total{code="404",route="unmatched"}' in text
    assert "hotasr_http_request_seconds_bucket" in text
    assert 'hotasr_model_load_seconds{weights="whisper-tiny.en"}' in text
    assert "hotasr_realtime_active_streams 0.0" in text


def test_requests_per_second_per_key(ops: Server) -> None:
    greedy, other = ops.create_key("greedy"), ops.create_key("polite")
    codes = [httpx.post(ops.url + PATH, json=LIST, headers={"Authorization": f"Bearer {greedy}"})
             for _ in range(10)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and codes[0].status_code == 200
    assert limited[0].json()["code"] == "Throttling.RateQuota"
    assert limited[0].json()["message"] == "Requests rate limit exceeded, please try again later."
    # Another key is not affected; the greedy one recovers as its bucket refills.
    assert httpx.post(ops.url + PATH, json=LIST, headers={"Authorization": f"Bearer {other}"}).status_code == 200
    time.sleep(1.1)
    assert httpx.post(ops.url + PATH, json=LIST, headers={"Authorization": f"Bearer {greedy}"}).status_code == 200


def run_task(ws, model: str = "fun-asr-realtime") -> dict:  # type: ignore[no-untyped-def]
    ws.send(json.dumps({"header": {"streaming": "duplex", "task_id": uuid.uuid4().hex, "action": "run-task"},
                        "payload": {"model": model, "input": {},
                                    "parameters": {"format": "pcm", "sample_rate": 16000}}}))
    return json.loads(ws.recv(timeout=60))["header"]


def test_concurrent_streams_per_key(ops: Server) -> None:
    one, two = ops.create_key("streamer"), ops.create_key("streamer2")
    url = ops.url.replace("http://", "ws://") + "/api-ws/v1/inference"
    with connect(url, additional_headers={"Authorization": f"Bearer {one}"}) as first, \
         connect(url, additional_headers={"Authorization": f"Bearer {one}"}) as second, \
         connect(url, additional_headers={"Authorization": f"Bearer {two}"}) as third:
        assert run_task(first)["event"] == "task-started"
        refused = run_task(second)
        assert refused["event"] == "task-failed" and refused["error_code"] == "Throttling.RateQuota"
        assert run_task(third)["event"] == "task-started"


def test_sigterm_shuts_down_cleanly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = Server(tmp_path).start()
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once its graceful shutdown has run, hence -SIGTERM, not 0.
    assert server.process.wait(timeout=40) in (0, -signal.SIGTERM)
    server.wait_for_line(lambda line: "Application shutdown complete" in line)
    assert any("Shutting down" in line for line in server.output)
