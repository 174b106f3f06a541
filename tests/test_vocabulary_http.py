"""Raw HTTP against the hotword-list endpoint: the docs' curl bodies verbatim, and malformed requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Server

PATH = "/api/v1/services/audio/asr/customization"

# The docs' curl examples, byte for byte (only the id placeholder is filled in).
DOC_CREATE = ('{ "model": "speech-biasing", "input": { "action": "create_vocabulary", "target_model": "fun-asr", '
              '"prefix": "testpfx", "vocabulary": [ {"text": "Seediq Bale", "weight": 4} ] } }')
DOC_LIST = ('{ "model": "speech-biasing", "input": { "action": "list_vocabulary", "prefix": "testpfx", '
            '"page_index": 0, "page_size": 10 } }')
DOC_LIST_NULL_PREFIX = ('{"model": "speech-biasing", "input": {"action": "list_vocabulary", "prefix": null, '
                        '"page_index": 0, "page_size": 10}}')
DOC_QUERY = '{ "model": "speech-biasing", "input": { "action": "query_vocabulary", "vocabulary_id": "%s" } }'
DOC_UPDATE = ('{ "model": "speech-biasing", "input": { "action": "update_vocabulary", "vocabulary_id": "%s", '
              '"vocabulary": [ {"text": "Seediq Bale", "weight": 4, "lang": "zh"} ] } }')
DOC_DELETE = '{ "model": "speech-biasing", "input": { "action": "delete_vocabulary", "vocabulary_id": "%s" } }'


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    key = server.create_key("curl")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}",
                                                   "Content-Type": "application/json"}) as client:
        yield client


def post(http: httpx.Client, body: str | bytes, **headers: str) -> httpx.Response:
    return http.post(PATH, content=body, headers=headers)


def assert_error(response: httpx.Response, status: int, code: str, needle: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["request_id"]
    assert needle in body["message"]
    assert "Traceback" not in response.text


def test_docs_curl_examples(http: httpx.Client) -> None:
    created = post(http, DOC_CREATE)
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == {"request_id", "output", "usage"} and body["usage"] == {"count": 1}
    vid = body["output"]["vocabulary_id"]

    for listing in (DOC_LIST, DOC_LIST_NULL_PREFIX):
        output = post(http, listing).json()["output"]
        assert [v["vocabulary_id"] for v in output["vocabulary_list"]] == [vid]
        assert set(output["vocabulary_list"][0]) == {"vocabulary_id", "gmt_create", "gmt_modified", "status"}

    queried = post(http, DOC_QUERY % vid).json()["output"]
    assert set(queried) == {"gmt_create", "gmt_modified", "status", "target_model", "vocabulary"}
    assert queried["vocabulary"] == [{"text": "Seediq Bale", "weight": 4}]

    updated = post(http, DOC_UPDATE % vid)
    assert updated.status_code == 200 and updated.json()["output"] == {}
    assert post(http, DOC_QUERY % vid).json()["output"]["vocabulary"] == [
        {"text": "Seediq Bale", "weight": 4, "lang": "zh"}]

    deleted = post(http, DOC_DELETE % vid)
    assert deleted.status_code == 200 and deleted.json()["output"] == {}
    assert_error(post(http, DOC_QUERY % vid), 404, "NotFound", vid)


def test_sdk_1x_style_escaped_unicode_and_extra_parameters(http: httpx.Client) -> None:
    body = {"model": "speech-biasing", "parameters": {},
            "input": {"action": "create_vocabulary", "target_model": "fun-asr-realtime", "prefix": "esc",
                      "vocabulary": [{"text": "赛德克巴莱", "weight": 4, "lang": "zh"}]}}
    created = post(http, json.dumps(body, ensure_ascii=True))  # \uXXXX escapes, as SDK 1.24 sends
    vid = created.json()["output"]["vocabulary_id"]
    assert post(http, DOC_QUERY % vid).json()["output"]["vocabulary"][0]["text"] == "赛德克巴莱"
    post(http, DOC_DELETE % vid)


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [
        ("{not json", 400, "InvalidParameter", "not valid JSON"),
        ("", 400, "BadRequest.EmptyInput", "empty body"),
        ("[1, 2]", 400, "InvalidParameter", "must be a JSON object"),
        (b"\xff\xfe\x00", 400, "InvalidParameter", "not UTF-8"),
        ('{"input": {"action": "list_vocabulary"}}', 400, "BadRequest.EmptyModel", '"model"'),
        ('{"model": "paraformer-v2", "input": {"action": "list_vocabulary"}}', 400, "InvalidParameter",
         'model must be "speech-biasing"'),
        ('{"model": "speech-biasing"}', 400, "BadRequest.EmptyInput", '"input"'),
        ('{"model": "speech-biasing", "input": {"action": "rename_vocabulary"}}', 400, "InvalidParameter",
         "unknown action \"rename_vocabulary\""),
        ('{"model": "speech-biasing", "input": {"action": 7}}', 400, "InvalidParameter", "unknown action"),
        ('{"model": "speech-biasing", "input": {"action": "query_vocabulary"}}', 400, "InvalidParameter",
         "vocabulary_id is required"),
        ('{"model": "speech-biasing", "input": {"action": "list_vocabulary", "page_size": 0}}', 400,
         "InvalidParameter", "page_size must be an integer from 1 to 100, got 0"),
        ('{"model": "speech-biasing", "input": {"action": "list_vocabulary", "page_index": "a"}}', 400,
         "InvalidParameter", 'page_index must be an integer from 0 to 1000000, got "a"'),
        ('{"model": "speech-biasing", "input": {"action": "list_vocabulary", "prefix": "UP"}}', 400,
         "InvalidParameter", "prefix must be"),
    ],
)
def test_malformed_requests(http: httpx.Client, body: str | bytes, status: int, code: str, needle: str) -> None:
    assert_error(post(http, body), status, code, needle)


def test_oversized_body_is_refused(http: httpx.Client) -> None:
    huge = '{"model": "speech-biasing", "input": {"action": "list_vocabulary", "pad": "' + "x" * (3 << 20) + '"}}'
    assert_error(post(http, huge), 413, "BadRequest.TooLarge", "at most")


def test_auth_header_forms(server: Server, http: httpx.Client) -> None:
    key = http.headers["Authorization"].split()[1]
    for header in (f"bearer {key}", f"BEARER {key}", f"Bearer   {key}"):
        response = httpx.post(server.url + PATH, content=DOC_LIST, headers={"Authorization": header})
        assert response.status_code == 200, header
    # A wrong key is reported before anything else about the request (a query checks its key in
    # the same statement that reads the list).
    bodies = (DOC_LIST, DOC_QUERY % ("vocab-testpfx-" + "0" * 32), DOC_QUERY.replace('"%s"', "7"),
              '{"model": "speech-biasing", "input": {"action": "query_vocabulary"}}', "not json")
    for headers in ({}, {"Authorization": key}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer sk-wrong"}):
        for body in bodies:
            assert_error(httpx.post(server.url + PATH, content=body, headers=headers), 401, "InvalidApiKey")


def test_unknown_routes_and_methods_answer_in_the_envelope(server: Server, http: httpx.Client) -> None:
    assert_error(http.get("/api/v1/nothing"), 404, "NotFound", "/api/v1/nothing")
    assert_error(http.get(PATH), 405, "UnsupportedOperation", "GET")


def test_unserved_target_model_is_undeployed(tmp_path: Path) -> None:
    # A deployment that serves only fun-asr: lists for other hotword models exist but cannot be used.
    srv = Server(tmp_path, env={"HOTASR_MODELS": '{"fun-asr": {}}'}).start()
    try:
        key = srv.create_key("ops")
        headers = {"Authorization": f"Bearer {key}"}
        def create(model: str) -> str:
            body = {"model": "speech-biasing", "input": {"action": "create_vocabulary", "target_model": model,
                                                         "prefix": "dep", "vocabulary": [{"text": "x", "weight": 1}]}}
            return httpx.post(srv.url + PATH, json=body, headers=headers).json()["output"]["vocabulary_id"]
        served, unserved = create("fun-asr"), create("paraformer-v2")
        status = {}
        for vid in (served, unserved):
            body = {"model": "speech-biasing", "input": {"action": "query_vocabulary", "vocabulary_id": vid}}
            status[vid] = httpx.post(srv.url + PATH, json=body, headers=headers).json()["output"]["status"]
        assert status == {served: "OK", unserved: "UNDEPLOYED"}
    finally:
        srv.stop()


def test_first_start_prints_a_working_key(tmp_path: Path) -> None:
    srv = Server(tmp_path).start()
    try:
        lines = [line.strip() for line in srv.output]
        key = next(line for line in lines if line.startswith("sk-"))
        assert any("hotasr keys create" in line for line in lines)
        response = httpx.post(srv.url + PATH, content=DOC_LIST, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
        srv.restart()  # the key is printed once: a second start creates nothing new
        assert not any(line.strip().startswith("sk-") for line in srv.output)
    finally:
        srv.stop()
