"""The hotword-list API driven by the official dashscope SDK, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

import dashscope
import pytest
from dashscope.audio.asr import VocabularyService, VocabularyServiceException

from tests.servers import Server

TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ID = re.compile(r"^vocab-([a-z0-9]{1,10})-[0-9a-f]{32}$")
DOC_LIST = [{"text": "赛德克巴莱", "weight": 4, "lang": "zh"}]


@pytest.fixture(scope="module")
def keys(server: Server) -> dict[str, str]:
    return {name: server.create_key(name) for name in ("alice", "bob", "crowd")}


@pytest.fixture
def service(server: Server, keys: dict[str, str]) -> Callable[[str], VocabularyService]:
    # Module attribute read at call time (docs/dashscope-protocol.md §9): the only change a user makes besides the key.
    dashscope.base_http_api_url = server.url + "/api/v1"
    return lambda account: VocabularyService(api_key=keys[account])


def sdk_error(call: Callable[[], Any]) -> VocabularyServiceException:
    with pytest.raises(VocabularyServiceException) as info:
        call()
    return info.value


def cleanup(svc: VocabularyService) -> None:
    for item in svc.list_vocabularies(page_size=100):
        svc.delete_vocabulary(item["vocabulary_id"])


def test_every_method_round_trip(service: Callable[[str], VocabularyService]) -> None:
    svc = service("alice")
    cleanup(svc)
    vid = svc.create_vocabulary(target_model="fun-asr", prefix="testpfx", vocabulary=DOC_LIST)
    assert ID.match(vid) and ID.match(vid).group(1) == "testpfx"  # type: ignore[union-attr]

    listed = svc.list_vocabularies()
    assert [v["vocabulary_id"] for v in listed] == [vid]
    assert listed[0]["status"] == "OK"
    assert TIME.match(listed[0]["gmt_create"]) and TIME.match(listed[0]["gmt_modified"])

    got = svc.query_vocabulary(vid)
    assert got["target_model"] == "fun-asr"
    assert got["status"] == "OK"
    assert got["vocabulary"] == DOC_LIST

    new_terms = [{"text": "Dashwood", "weight": 5, "lang": "en"}, {"text": "  Elinor   Dashwood ", "weight": 2}]
    assert svc.update_vocabulary(vid, new_terms) is None
    got = svc.query_vocabulary(vid)
    # Text is trimmed and inner whitespace folded; items without lang come back without it.
    assert got["vocabulary"] == [{"text": "Dashwood", "weight": 5, "lang": "en"},
                                 {"text": "Elinor Dashwood", "weight": 2}]

    assert svc.delete_vocabulary(vid) is None
    assert svc.list_vocabularies() == []
    err = sdk_error(lambda: svc.query_vocabulary(vid))
    assert err._status_code == 404 and vid in err._error_message


def test_list_prefix_filter_and_paging(service: Callable[[str], VocabularyService]) -> None:
    svc = service("alice")
    cleanup(svc)
    made = [svc.create_vocabulary("paraformer-v2", "pa" if i % 2 else "pb", [{"text": f"term{i}", "weight": 3}])
            for i in range(5)]
    assert {v["vocabulary_id"] for v in svc.list_vocabularies(prefix="pa")} == {made[1], made[3]}
    pages = [svc.list_vocabularies(page_index=i, page_size=2) for i in range(3)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [v["vocabulary_id"] for p in pages for v in p] == made  # stable order, no overlap
    assert svc.list_vocabularies(page_index=9, page_size=2) == []
    cleanup(svc)


@pytest.mark.parametrize(
    ("vocabulary", "needle"),
    [
        ([{"text": "hello", "weight": 0}], 'vocabulary[0] ("hello"): weight must be from 1 to 5, got 0'),
        ([{"text": "ok", "weight": 3}, {"text": "hello", "weight": 6}], 'vocabulary[1] ("hello")'),
        ([{"text": "hello", "weight": 4.5}], "got 4.5"),
        ([{"text": "hello", "weight": "4"}], 'got "4"'),
        ([{"text": "hello", "weight": True}], "got true"),
        ([{"text": "hello"}], "got null"),
        ([{"text": "   ", "weight": 3}], "text must not be empty"),
        ([{"weight": 3}], "text is required"),
        ([{"text": "一二三四五六七八九十一二三四五六", "weight": 3}], "at most 15 characters, this one has 16"),
        ([{"text": "one two three four five six seven eight", "weight": 3}], "at most 7 space-separated"),
        ([{"text": "hola", "weight": 3, "lang": "es"}], 'lang "es" is not supported'),
        ([{"text": "안녕", "weight": 3, "lang": "ko"}], 'lang "ko" is not supported'),  # fun-asr: zh/en/ja only
        ([{"text": "Same", "weight": 3}, {"text": "same", "weight": 2}], "duplicate of vocabulary[0]"),
        ([], "at least one hotword"),
        ("not a list", "must be a JSON array"),
        ([{"text": f"w{i}", "weight": 1} for i in range(501)], "501 hotwords; a list holds at most 500"),
    ],
)
def test_invalid_lists_are_rejected_with_the_offending_item(
    service: Callable[[str], VocabularyService], vocabulary: Any, needle: str
) -> None:
    svc = service("alice")
    err = sdk_error(lambda: svc.create_vocabulary("fun-asr", "bad", vocabulary))
    assert err._status_code == 400 and err._code == "InvalidParameter"
    assert needle in err._error_message


def test_accepted_edge_cases(service: Callable[[str], VocabularyService]) -> None:
    svc = service("alice")
    cleanup(svc)
    ok = [
        {"text": "EGFR抑制剂", "weight": 1},  # 7 characters with ASCII inside
        {"text": "Фенибут Белфарм", "weight": 5, "lang": "ru"},  # 15 characters incl. space
        {"text": "Human immunodeficiency virus type 1", "weight": 4, "lang": "en"},  # 5 segments
        {"text": "안녕하세요", "weight": 3, "lang": "ko"},
    ]
    vid = svc.create_vocabulary("paraformer-v2", "edge1234", ok)
    assert len(svc.query_vocabulary(vid)["vocabulary"]) == 4
    big = [{"text": f"term{i}", "weight": 1 + i % 5} for i in range(500)]
    vid2 = svc.create_vocabulary("fun-asr", "big", big)
    assert svc.query_vocabulary(vid2)["vocabulary"] == big
    cleanup(svc)


@pytest.mark.parametrize(
    ("target_model", "prefix", "needle"),
    [
        ("whisper-large", "ok", 'target_model "whisper-large" is not a model that supports hotwords'),
        ("paraformer-v1", "ok", "not a model that supports hotwords"),
        (None, "ok", "target_model is required"),
        ("fun-asr", "ABC", 'prefix must be 1 to 10 lowercase letters or digits (a-z, 0-9), got "ABC"'),
        ("fun-asr", "abcdefghijk", "got \"abcdefghijk\""),
        ("fun-asr", "a-b", "prefix must be"),
        ("fun-asr", "", "prefix must be"),
    ],
)
def test_bad_target_model_or_prefix(
    service: Callable[[str], VocabularyService], target_model: Any, prefix: str, needle: str
) -> None:
    err = sdk_error(lambda: service("alice").create_vocabulary(target_model, prefix, DOC_LIST))
    assert err._status_code == 400 and needle in err._error_message


def test_failed_update_leaves_the_old_list_intact(service: Callable[[str], VocabularyService]) -> None:
    svc = service("alice")
    cleanup(svc)
    vid = svc.create_vocabulary("fun-asr", "keep", DOC_LIST)
    before = svc.query_vocabulary(vid)
    bad = [{"text": "fine", "weight": 3}, {"text": "broken", "weight": 9}]
    err = sdk_error(lambda: svc.update_vocabulary(vid, bad))
    assert 'vocabulary[1] ("broken")' in err._error_message
    assert svc.query_vocabulary(vid) == before
    cleanup(svc)


def test_unknown_ids(service: Callable[[str], VocabularyService]) -> None:
    svc = service("alice")
    missing = "vocab-nope-" + "0" * 32
    for call in (lambda: svc.query_vocabulary(missing), lambda: svc.update_vocabulary(missing, DOC_LIST),
                 lambda: svc.delete_vocabulary(missing)):
        err = sdk_error(call)
        assert (err._status_code, err._code) == (404, "NotFound")
        assert missing in err._error_message


def test_accounts_are_isolated(service: Callable[[str], VocabularyService]) -> None:
    alice, bob = service("alice"), service("bob")
    cleanup(alice)
    vid = alice.create_vocabulary("fun-asr", "mine", DOC_LIST)
    assert bob.list_vocabularies() == []
    for call in (lambda: bob.query_vocabulary(vid),
                 lambda: bob.update_vocabulary(vid, [{"text": "stolen", "weight": 5}]),
                 lambda: bob.delete_vocabulary(vid)):
        assert sdk_error(call)._status_code == 404  # as if absent: no hint that it exists
    assert alice.query_vocabulary(vid)["vocabulary"] == DOC_LIST
    cleanup(alice)


def test_wrong_key_is_rejected(server: Server) -> None:
    dashscope.base_http_api_url = server.url + "/api/v1"
    wrong = VocabularyService(api_key="sk-not-a-real-key")
    for call in (wrong.list_vocabularies, lambda: wrong.query_vocabulary("vocab-any-" + "0" * 32)):
        err = sdk_error(call)
        assert (err._status_code, err._code) == (401, "InvalidApiKey")


def test_revoked_key_stops_working(server: Server) -> None:
    dashscope.base_http_api_url = server.url + "/api/v1"
    key = server.create_key("temp")
    vid = VocabularyService(api_key=key).create_vocabulary("fun-asr", "temp", DOC_LIST)
    assert VocabularyService(api_key=key).query_vocabulary(vid)["vocabulary"] == DOC_LIST
    listed = json.loads(server.cli("keys", "list", "--json").stdout)
    key_id = next(k["key_id"] for k in listed if k["account"] == "temp")
    assert key not in server.cli("keys", "list").stdout  # secrets are never shown again
    server.cli("keys", "revoke", key_id)
    assert sdk_error(lambda: VocabularyService(api_key=key).list_vocabularies())._status_code == 401
    assert sdk_error(lambda: VocabularyService(api_key=key).query_vocabulary(vid))._status_code == 401


def test_quota_holds_under_concurrency(service: Callable[[str], VocabularyService]) -> None:
    svc = service("crowd")
    cleanup(svc)
    results: list[str] = []
    errors: list[VocabularyServiceException] = []
    start = threading.Barrier(20)

    def create(i: int) -> None:
        client = service("crowd")
        start.wait()
        try:
            results.append(client.create_vocabulary("fun-asr", "race", [{"text": f"race{i}", "weight": 3}]))
        except VocabularyServiceException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10 and len(errors) == 10
    assert {(e._status_code, e._code) for e in errors} == {(429, "Throttling.AllocationQuota")}
    assert "at most" in errors[0]._error_message or "most allowed" in errors[0]._error_message
    assert len(svc.list_vocabularies(page_size=100)) == 10
    cleanup(svc)


def test_lists_survive_a_restart(server: Server, service: Callable[[str], VocabularyService]) -> None:
    svc = service("alice")
    cleanup(svc)
    vid = svc.create_vocabulary("fun-asr", "durable", DOC_LIST)
    server.restart()
    assert svc.query_vocabulary(vid)["vocabulary"] == DOC_LIST
    cleanup(svc)
