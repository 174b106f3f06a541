"""Recorded-file transcription through the official SDK (`dashscope.audio.asr.Transcription`),
against a real server on SQLite and PostgreSQL, with real speech served over loopback HTTP."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import dashscope
import httpx
import pytest
from dashscope.audio.asr import Transcription, VocabularyService

from hotasr.tasks.client import transcribe_remote
from tests.conftest import BACKENDS
from tests.readings import heard
from tests.servers import Server, create_database
from tests.task_fixtures import ONE_TWO_THREE, FileServer, fetch, submit, task_server, wait_until

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = None
    if request.param == "postgres":
        url = create_database(request.getfixturevalue("postgres_admin_url"))
    srv = task_server(tmp_path_factory.mktemp("data"), url).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    return server.create_key("alice")


@pytest.fixture(scope="module")
def other_key(server: Server) -> str:
    return server.create_key("mallory")


@pytest.fixture(autouse=True)
def sdk(server: Server, key: str) -> None:
    dashscope.base_http_api_url = server.url + "/api/v1"
    dashscope.api_key = key


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:  # as the docs fetch transcription_url
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.read())


def _check_document_shape(doc: dict[str, Any], file_url: str) -> None:
    assert doc["file_url"] == file_url
    assert set(doc["properties"]) == {"audio_format", "channels", "original_sampling_rate",
                                      "original_duration_in_milliseconds"}
    assert doc["transcripts"] and doc["transcripts"][0]["channel_id"] == 0
    for transcript in doc["transcripts"]:
        assert set(transcript) == {"channel_id", "content_duration_in_milliseconds", "text", "sentences"}
        assert 0 < transcript["content_duration_in_milliseconds"] <= doc["properties"][
            "original_duration_in_milliseconds"]
        for number, sentence in enumerate(transcript["sentences"], start=1):
            assert set(sentence) == {"begin_time", "end_time", "text", "sentence_id", "words"}
            assert sentence["sentence_id"] == number and sentence["begin_time"] <= sentence["end_time"]
            for word in sentence["words"]:
                assert set(word) == {"begin_time", "end_time", "text", "punctuation"}


def test_call_with_vocabulary(files: FileServer) -> None:
    vocabulary_id = VocabularyService().create_vocabulary(
        target_model="fun-asr", prefix="task", vocabulary=[{"text": "Americans", "weight": 4, "lang": "en"}]
    )
    urls = [files.url("jfk.flac"), files.url("english.wav")]
    response = Transcription.call(model="fun-asr", file_urls=urls, vocabulary_id=vocabulary_id,
                                  language_hints=["en"], channel_id=[0, 1])
    assert response.status_code == 200, response
    output = response.output
    assert output.task_status == "SUCCEEDED"
    for name in ("submit_time", "scheduled_time", "end_time"):
        assert TIME.match(output[name]), output[name]
    assert output["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 1, "FAILED": 1}
    jfk, one_two_three = output["results"]
    # english.wav is mono: asking for channel 1 fails that file only, with a message that says why.
    assert one_two_three["subtask_status"] == "FAILED" and one_two_three["code"] == "InvalidParameter"
    assert "channel_id 1" in one_two_three["message"] and "1 channel" in one_two_three["message"]
    assert jfk["subtask_status"] == "SUCCEEDED" and "Expires=" in jfk["transcription_url"]
    assert response.usage["duration"] == 22  # 11 s x 2 channels

    doc = _get_json(jfk["transcription_url"])
    _check_document_shape(doc, urls[0])
    assert doc["properties"]["channels"] == [0, 1] and doc["properties"]["original_sampling_rate"] == 44100
    assert [t["channel_id"] for t in doc["transcripts"]] == [0, 1]
    assert heard(doc["transcripts"][0]["text"], "ask not what your country can do for you")


def test_async_call_wait_fetch_list_and_warnings(files: FileServer) -> None:
    word_filter = json.dumps({"filter_with_empty": {"word_list": ["hello"]}})
    submitted = Transcription.async_call(model="paraformer-v2", file_urls=[files.url("english.wav")],
                                         special_word_filter=word_filter)
    assert submitted.status_code == 200 and submitted.output.task_status == "PENDING"
    task_id = submitted.output.task_id
    early = Transcription.fetch(task=task_id)
    assert early.output.task_id == task_id and early.output.task_status in ("PENDING", "RUNNING", "SUCCEEDED")
    assert early.output["task_metrics"]["TOTAL"] == 1

    done = Transcription.wait(task=submitted)
    assert done.output.task_status == "SUCCEEDED"
    # Not supported is said, never silently dropped: on the task and in the result file.
    assert any("special_word_filter" in w for w in done.output["warnings"])
    doc = _get_json(done.output["results"][0]["transcription_url"])
    _check_document_shape(doc, files.url("english.wav"))
    assert any("special_word_filter" in w for w in doc["warnings"])
    assert "three" in doc["transcripts"][0]["text"].lower()

    listed = Transcription.list(model_name="paraformer-v2", page_size=100)
    assert listed.status_code == 200
    assert task_id in [t["task_id"] for t in listed.output["data"]]
    assert listed.output["page_no"] == 1 and listed.output["total"] >= 1
    assert Transcription.list(status="FAILED", model_name="paraformer-v2").output["data"] == []
    first_page = Transcription.list(page_no=1, page_size=1)
    assert len(first_page.output["data"]) == 1 and first_page.output["total_page"] == first_page.output["total"]
    assert Transcription.list(start_time="20000101000000", end_time="20000102000000").output["total"] == 0


def test_failed_files_fail_their_subtask_only(files: FileServer) -> None:
    urls = [
        "http://127.0.0.1:9/unreachable.wav",  # nothing listens on the discard port
        files.url("missing.wav"),
        files.url("corrupt.wav"),
        files.url("empty.wav"),
        files.url("silence.wav"),
        files.base + "/redirect-loop",
    ]
    response = Transcription.call(model="fun-asr", file_urls=urls)
    output = response.output
    assert output.task_status == "FAILED", output
    assert output["task_metrics"] == {"TOTAL": 6, "SUCCEEDED": 0, "FAILED": 6}
    codes = [(r["file_url"], r["code"]) for r in output["results"]]
    assert codes == [
        (urls[0], "InvalidFile.DownloadFailed"),
        (urls[1], "InvalidFile.DownloadFailed"),
        (urls[2], "BadRequest.UnsupportedFileFormat"),
        (urls[3], "InvalidFile.DecodeFailed"),
        (urls[4], "SUCCESS_WITH_NO_VALID_FRAGMENT"),
        (urls[5], "InvalidFile.DownloadFailed"),
    ], output["results"]
    assert all(r["message"] and r["subtask_status"] == "FAILED" for r in output["results"])
    assert "HTTP 404" in output["results"][1]["message"]
    assert "redirects" in output["results"][5]["message"]
    assert output["results"][3]["message"] == f"the file at {urls[3]} is empty (0 bytes)"
    # Where the server keeps files (its temp and data directories) is never in a message.
    assert not any(re.search(r"(^|[\s:'\"(])/(tmp|var|home|root)/", r["message"]) for r in output["results"])
    assert output["code"] == "InvalidFile.DownloadFailed"  # the task says why, too

    # A redirect to a good file is followed; one good file among bad ones: the task SUCCEEDS.
    mixed = Transcription.call(model="fun-asr", file_urls=[urls[1], files.base + "/redirect?to=/english.wav"])
    assert mixed.output.task_status == "SUCCEEDED"
    assert [r["subtask_status"] for r in mixed.output["results"]] == ["FAILED", "SUCCEEDED"]


def test_unknown_foreign_and_wrong_key(server: Server, files: FileServer, key: str, other_key: str) -> None:
    unknown = Transcription.fetch(task="no-such-task")
    assert unknown.status_code == 200 and unknown.output.task_status == "UNKNOWN"
    assert Transcription.wait(task="no-such-task").output.task_status == "UNKNOWN"

    mine = Transcription.async_call(model="fun-asr", file_urls=[files.url("cards_001.wav")]).output.task_id
    theirs = Transcription.fetch(task=mine, api_key=other_key)
    assert theirs.output.task_status == "UNKNOWN" and "results" not in theirs.output
    assert mine not in [t["task_id"] for t in Transcription.list(api_key=other_key).output["data"]]
    foreign_cancel = Transcription.cancel(mine, api_key=other_key)
    assert foreign_cancel.status_code == 404

    bad = Transcription.async_call(model="fun-asr", file_urls=[files.url("cards_001.wav")], api_key="sk-wrong")
    assert bad.status_code == 401 and bad.code == "InvalidApiKey"
    assert Transcription.fetch(task=mine, api_key="sk-wrong").status_code == 401
    assert Transcription.wait(task=mine).output.task_status == "SUCCEEDED"


def test_cancel_pending_only(files: FileServer) -> None:
    # One worker thread: the first task keeps it busy, so the second stays PENDING.
    busy = Transcription.async_call(model="fun-asr", file_urls=[files.url("jfk.flac")] * 3).output.task_id
    queued = Transcription.async_call(model="fun-asr", file_urls=[files.url("english.wav")]).output.task_id
    canceled = Transcription.cancel(queued)
    assert canceled.status_code == 200, canceled
    assert Transcription.fetch(task=queued).output.task_status == "CANCELED"
    assert Transcription.wait(task=queued).output.task_status == "CANCELED"
    again = Transcription.cancel(queued)
    assert again.status_code == 400 and again.code == "UnsupportedOperation"
    deadline = time.monotonic() + 60
    while Transcription.fetch(task=busy).output.task_status == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.1)
    running = Transcription.cancel(busy)
    assert running.status_code == 400 and running.code == "UnsupportedOperation"
    assert Transcription.wait(task=busy).output.task_status == "SUCCEEDED"


def test_request_errors(server: Server, files: FileServer, key: str) -> None:
    good = {"model": "fun-asr", "input": {"file_urls": [files.url("english.wav")]}}
    sync = submit(server, key, good, asynchronous=False)
    assert sync.status_code == 400 and sync.json()["code"] == "InvalidParameter"
    assert "does not support synchronous calls" in sync.json()["message"]

    def error(body: dict[str, Any]) -> tuple[int, str, str]:
        response = submit(server, key, body)
        assert response.headers["content-type"].startswith("application/json")
        return response.status_code, response.json()["code"], response.json()["message"]

    assert error({**good, "model": "no-such-model"})[:2] == (404, "ModelNotFound")
    status, code, message = error({**good, "model": "fun-asr-realtime"})
    assert (status, code) == (400, "InvalidParameter") and "real-time" in message
    assert error({**good, "model": "sensevoice-v1"})[:2] == (404, "ModelNotFound")  # not served here
    status, code, message = error({**good, "parameters": {"vocabulary_id": "vocab-x-123"}})
    assert (status, code) == (400, "InvalidParameter") and "vocab-x-123" in message
    assert error({"model": "fun-asr", "input": {"file_urls": []}})[:2] == (400, "InvalidParameter")
    assert error({"model": "fun-asr", "input": {}})[:2] == (400, "BadRequest.EmptyInput")
    assert error({"input": good["input"]})[:2] == (400, "BadRequest.EmptyModel")
    assert error({"model": "fun-asr", "input": {"file_urls": ["file:///etc/passwd"]}})[:2] == (400, "InvalidURL")
    many = {"model": "fun-asr", "input": {"file_urls": [files.url("english.wav")] * 101}}
    assert error(many)[:2] == (400, "InvalidParameter")
    assert error({**good, "parameters": {"channel_id": ["left"]}})[:2] == (400, "InvalidParameter")
    # The SDK surfaces the same errors.
    response = Transcription.async_call(model="fun-asr", file_urls=[files.url("english.wav")],
                                        vocabulary_id="vocab-nope-1")
    assert response.status_code == 400 and response.code == "InvalidParameter"


def test_signed_result_urls(files: FileServer) -> None:
    done = Transcription.call(model="fun-asr", file_urls=[files.url("cards_001.wav")])
    url = done.output["results"][0]["transcription_url"]
    assert _get_json(url)["transcripts"]
    base, query = url.split("?", 1)
    params = dict(p.split("=", 1) for p in query.split("&"))
    for bad in (
        base,
        f"{base}?Expires={params['Expires']}&Signature=AAAA{params['Signature'][4:]}",
        f"{base}?Expires={int(params['Expires']) + 1}&Signature={params['Signature']}",
        f"{base}?Expires={int(time.time()) - 5}&Signature={params['Signature']}",
        base.replace("/0.json", "/1.json") + "?" + query,
    ):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(bad, timeout=30)
        assert caught.value.code == 403


def test_uploads_and_transcribe_remote(server: Server, key: str, other_key: str) -> None:
    results = transcribe_remote(server.url, key, [ONE_TWO_THREE], model="fun-asr", language_hints=["en"])
    assert len(results) == 1 and results[0]["file_url"].startswith("oss://uploads/")
    assert "three" in results[0]["transcripts"][0]["text"].lower()
    # An uploaded file is usable by its own account only.
    stolen = submit(server, other_key, {"model": "fun-asr", "input": {"file_urls": [results[0]["file_url"]]}})
    assert stolen.status_code == 400 and stolen.json()["code"] == "InvalidURL"
    # The SDK's own upload helper speaks the same policy protocol.
    from dashscope.utils.oss_utils import upload_file

    url = upload_file("fun-asr", f"file://{ONE_TWO_THREE}", key)
    assert url.startswith("oss://uploads/")
    assert Transcription.call(model="fun-asr", file_urls=[url]).output.task_status == "SUCCEEDED"
    # The one-step upload for curl users.
    with ONE_TWO_THREE.open("rb") as audio:
        direct = httpx.post(server.url + "/api/v1/uploads", files={"file": ("my clip.wav", audio)},
                            headers={"Authorization": f"Bearer {key}"})
    assert direct.status_code == 200, direct.text
    direct_url = direct.json()["data"]["url"]
    assert direct_url.startswith("oss://uploads/") and direct_url.endswith("/my clip.wav")
    assert Transcription.call(model="fun-asr", file_urls=[direct_url]).output.task_status == "SUCCEEDED"
    assert httpx.post(server.url + "/api/v1/uploads", files={"file": ("a.wav", b"x")}).status_code == 401
    # A forged policy is refused.
    policy = httpx.get(server.url + "/api/v1/uploads", params={"action": "getPolicy", "model": "fun-asr"},
                       headers={"Authorization": f"Bearer {key}"}).json()["data"]
    forged = httpx.post(policy["upload_host"], data={"policy": policy["policy"], "Signature": "x",
                                                     "key": policy["upload_dir"] + "/a.wav"},
                        files={"file": ("a.wav", b"data")})
    assert forged.status_code == 403
    traversal = httpx.post(policy["upload_host"], data={"policy": policy["policy"], "Signature": policy["signature"],
                                                        "key": policy["upload_dir"] + "/../../x.wav"},
                           files={"file": ("a.wav", b"data")})
    assert traversal.status_code == 400


def test_every_response_has_task_id_and_status(server: Server, key: str, files: FileServer) -> None:
    task_id = submit(server, key, {"model": "fun-asr", "input": {"file_urls": [files.url("cards_001.wav")]}}).json()[
        "output"]["task_id"]
    seen = set()
    body = wait_until(server, key, task_id, lambda o: (seen.add(o["task_status"]), o["task_status"] == "SUCCEEDED")[1])
    assert seen <= {"PENDING", "RUNNING", "SUCCEEDED"}
    assert body["output"]["task_id"] == task_id and body["usage"]["duration"] == 2
    assert fetch(server, key, task_id)["output"]["results"][0]["subtask_status"] == "SUCCEEDED"
