"""Task store claims and recovery on SQLite and PostgreSQL, the download guard, URL signing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from hotasr.accounts import AccountService
from hotasr.api.wire_errors import dashscope_http
from hotasr.storage.db import make_engine, make_sessions, migrate
from hotasr.storage.tables import TranscriptionTask
from hotasr.tasks import fetch
from hotasr.tasks.fetch import FetchError, Limits, download, resolve_checked
from hotasr.tasks.models import TaskParameters
from hotasr.tasks.signing import sign_path, verify_path
from hotasr.tasks.store import TaskStore, owner_is_dead, worker_identity
from tests.conftest import BACKENDS
from tests.task_fixtures import FileServer

LEASE = timedelta(seconds=30)
TTL = timedelta(hours=24)


@pytest.fixture
def store(database_url: str) -> TaskStore:
    engine = make_engine(database_url)
    migrate(engine)
    return TaskStore(make_sessions(engine))


def _task(store: TaskStore, files: int = 1) -> str:
    accounts = AccountService(store._sessions)
    account_id = accounts.authenticate(accounts.create_key(f"acct-{time.monotonic_ns()}").secret)
    assert account_id is not None
    urls = [f"http://example.com/{n}.wav" for n in range(files)]
    return store.create(account_id, "fun-asr", urls, TaskParameters(), []).task_id


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_claim_is_exclusive_and_recovery_requeues_then_fails(store: TaskStore) -> None:
    task_id = _task(store)
    first = store.claim(task_id, "host:1:a", LEASE)
    assert first is not None and first.status == "RUNNING" and first.attempts == 1
    assert store.claim(task_id, "host:2:b", LEASE) is None
    assert store.claim_next("host:2:b", LEASE) is None
    assert not store.cancel(task_id, first.account_id, TTL)  # RUNNING cannot be canceled

    # A live lease is left alone; a lapsed one goes back to PENDING, and the old owner can't write.
    assert store.recover(3, TTL, is_dead=lambda owner: False).requeued == []
    with store._sessions.begin() as session:
        session.execute(update(TranscriptionTask).values(lease_until=None))
    assert store.recover(3, TTL, is_dead=lambda owner: False).requeued == [task_id]
    assert not store.renew(task_id, "host:1:a", LEASE)
    assert not store.finish(task_id, "host:1:a", "SUCCEEDED", [None], 0, TTL)
    again = store.claim_next("host:2:b", LEASE)
    assert again is not None and again.task_id == task_id and again.attempts == 2

    # A dead owner is recovered at once, lease or not; after max_attempts claims the task fails.
    assert store.recover(2, TTL, is_dead=lambda owner: owner == "host:2:b").failed == [task_id]
    failed = store.get(task_id)
    assert failed is not None and failed.status == "FAILED" and failed.subtasks[0] is not None
    assert failed.subtasks[0].code == "InternalError" and failed.expires_at is not None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_release_and_expiry(store: TaskStore) -> None:
    task_id = _task(store, files=2)
    record = store.claim(task_id, "me", LEASE)
    assert record is not None
    assert store.release(task_id, "me")
    released = store.get(task_id)
    assert released is not None and released.status == "PENDING" and released.attempts == 0
    assert store.cancel(task_id, released.account_id, timedelta(seconds=-1))
    assert [r.task_id for r in store.expired()] == [task_id]
    store.delete([task_id])
    assert store.get(task_id) is None


def test_owner_identity() -> None:
    me = worker_identity("t0")
    assert not owner_is_dead(me)
    host = me.split(":")[0]
    assert owner_is_dead(f"{host}:999999999:abcd")  # no such pid on this host
    assert owner_is_dead(f"{host}:{me.split(':')[1]}:otherinstance")  # our pid, an earlier process
    assert not owner_is_dead("some-other-host:1:abcd")  # can't tell: wait for the lease
    assert not owner_is_dead(None)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "224.0.0.1", "0.0.0.0"]
)
def test_private_addresses_are_refused(host: str) -> None:
    with pytest.raises(FetchError) as caught:
        resolve_checked(host, 80, allow_private=False)
    assert dashscope_http(caught.value)[1] == "InvalidFile.DownloadFailed"
    assert "allow_private_urls" in caught.value.message
    assert resolve_checked(host, 80, allow_private=True)


def test_public_address_passes() -> None:
    assert resolve_checked("8.8.8.8", 80, allow_private=False) == "8.8.8.8"


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.stop()


def test_every_redirect_hop_is_checked(files: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend 127.0.0.1 is public and 127.0.0.2 (also loopback on Linux) is internal.
    real = fetch._refused
    monkeypatch.setattr(fetch, "_refused", lambda a: None if str(a) == "127.0.0.1" else real(a))
    limits = Limits(10_000_000, 30, 5, allow_private=False)
    download(files.url("english.wav"), tmp_path / "ok.wav", limits)
    assert (tmp_path / "ok.wav").stat().st_size > 1000
    port = files.base.rsplit(":", 1)[1]
    with pytest.raises(FetchError, match=r"127\.0\.0\.2"):
        download(f"{files.base}/redirect?to=http://127.0.0.2:{port}/english.wav", tmp_path / "x.wav", limits)


def test_download_limits(files: FileServer, tmp_path: Path) -> None:
    small = Limits(1000, 30, 5, allow_private=True)
    with pytest.raises(FetchError) as caught:
        download(files.url("english.wav"), tmp_path / "a.wav", small)
    assert dashscope_http(caught.value)[1] == "InvalidFile.TooLarge"
    no_redirects = Limits(10_000_000, 30, 0, allow_private=True)
    with pytest.raises(FetchError, match="too many redirects"):
        download(f"{files.base}/redirect?to=/english.wav", tmp_path / "b.wav", no_redirects)


def test_signed_paths() -> None:
    secret = b"k"
    expires = int(time.time()) + 60
    signed = sign_path(secret, "/api/v1/results/a.json", expires)
    sig = signed.split("Signature=")[1]
    assert verify_path(secret, "/api/v1/results/a.json", str(expires), sig, time.time())
    assert not verify_path(secret, "/api/v1/results/b.json", str(expires), sig, time.time())
    assert not verify_path(b"other", "/api/v1/results/a.json", str(expires), sig, time.time())
    assert not verify_path(secret, "/api/v1/results/a.json", str(expires), sig, expires + 1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_janitor_deletes_expired_tasks_results_and_old_uploads(store: TaskStore, tmp_path: Path) -> None:
    import os

    from hotasr.tasks.janitor import Janitor
    from hotasr.tasks.results import ResultStore

    results = ResultStore(tmp_path / "results")
    old, fresh = _task(store), _task(store)
    for task_id, ttl in ((old, timedelta(seconds=-1)), (fresh, TTL)):
        assert store.claim(task_id, "me", LEASE)
        results.put_json(ResultStore.transcript_key(task_id, 0), {"transcripts": []})
        assert store.finish(task_id, "me", "SUCCEEDED", [None], 1, ttl)
    upload = results.upload_path("uploads/1/abc/a.wav")
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"x")
    os.utime(upload, (time.time() - 49 * 3600, time.time() - 49 * 3600))

    Janitor(store, results, lambda _id: None, lease_seconds=30, max_attempts=3, ttl=TTL, queue_mode=False).cleanup()
    assert store.get(old) is None and results.read(ResultStore.transcript_key(old, 0)) is None
    assert store.get(fresh) is not None and results.read(ResultStore.transcript_key(fresh, 0)) is not None
    assert not upload.exists() and not (tmp_path / "results" / "uploads" / "1").exists()


def test_disfluency_removal_drops_fillers_and_rebuilds_text() -> None:
    from hotasr.api.dashscope_shapes import channel_document
    from hotasr.postprocess import apply_to_transcript
    from hotasr.transcript import Sentence, Transcript, Word

    words = [Word(0, 100, "Um", ","), Word(100, 300, "hello"), Word(300, 400, "uh"), Word(400, 600, "world", ".")]
    transcript = Transcript([Sentence(0, 600, "Um, hello uh world.", words)], "en", 1000)
    cleaned = channel_document(0, apply_to_transcript(transcript, disfluency_removal=True))
    assert cleaned["text"] == "hello world."
    sentence = cleaned["sentences"][0]
    assert (sentence["begin_time"], sentence["end_time"], sentence["sentence_id"]) == (100, 600, 1)
    assert [w["text"] for w in sentence["words"]] == ["hello", "world"]
    assert cleaned["content_duration_in_milliseconds"] == 500
