"""The app's shape: its lifespan starts and stops the background work, and a request waiting on the
database never holds up the event loop (every other request goes on meanwhile)."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hotasr.api import ops
from hotasr.api.app import create_app
from hotasr.config import Settings

CUSTOMIZATION = "/api/v1/services/audio/asr/customization"
CREATE = {"model": "speech-biasing", "input": {"action": "create_vocabulary", "target_model": "fun-asr",
                                               "prefix": "held", "vocabulary": [{"text": "hotasr", "weight": 4}]}}
HOLD_LIMIT_S = 3  # only a broken build waits this long: a held call is released by the test itself


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path, preload_models=False, key_requests_per_second=0))


class Hold:
    """A stand-in for a blocking database call that stays in progress until the test releases it.

    `released` tells whether the test let it go (True) or it gave up waiting (False): a call run
    on the event loop itself would block the loop, the test could not go on, and only the time-out
    would end the wait.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.released: bool | None = None

    def wrap(self, work: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            self.released = self.release.wait(HOLD_LIMIT_S)
            return work(*args, **kwargs)

        return held


async def _meanwhile(app: FastAPI, hold: Hold, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Sends the held request, and while its database call is in progress, a `/health` request,
    which must be answered before the held call is released. Answers the held request's response."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hotasr") as client:
        held = asyncio.create_task(client.request(method, path, **kwargs))
        assert await asyncio.to_thread(hold.entered.wait, HOLD_LIMIT_S), "the database call never started"
        health = await client.get("/health")
        assert health.status_code == 200
        assert not held.done()
        hold.release.set()
        response = await held
    assert hold.released, "the database call ran on the event loop: nothing else was served until it gave up"
    return response


def test_ready_waits_for_the_database_off_the_event_loop(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    monkeypatch.setattr(ops, "_database_answers", hold.wrap(ops._database_answers))
    response = asyncio.run(_meanwhile(app, hold, "GET", "/ready"))
    assert response.json()["database"] == "ok"


def test_a_handler_waits_for_the_database_off_the_event_loop(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    # On SQLite a list's create once ran on the event loop; a write may wait for another writer.
    vocabularies = app.state.vocabularies
    hold = Hold()
    monkeypatch.setattr(vocabularies, "create", hold.wrap(vocabularies.create))
    key = app.state.accounts.create_key("held").secret
    response = asyncio.run(_meanwhile(app, hold, "POST", CUSTOMIZATION, json=CREATE,
                                      headers={"Authorization": f"Bearer {key}"}))
    assert response.status_code == 200, response.text
    assert response.json()["output"]["vocabulary_id"].startswith("vocab-held-")


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The warm-up freezes the garbage collector's view of the process when it is done (see
    `ModelWarmup._settle`): undone here, so that the test process collects as before."""
    yield
    gc.unfreeze()


def _janitors() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "hotasr-janitor"}


@pytest.mark.usefixtures("unfrozen")
def test_lifespan_starts_and_stops_the_background_work(app: FastAPI) -> None:
    before = _janitors()
    with TestClient(app) as client:
        assert app.state.warmup.done.is_set()  # no models to preload: ready at once
        started = _janitors() - before
        assert len(started) == 1
        assert client.get("/ready").json() == {"status": "ready", "database": "ok", "models": "ok"}
    (janitor,) = started
    janitor.join(HOLD_LIMIT_S)
    assert not janitor.is_alive()
    with pytest.raises(RuntimeError):  # the real-time decode pool takes no more work
        app.state.realtime.pool.submit(print)
