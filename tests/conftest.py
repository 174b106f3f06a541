"""Shared fixtures: storage backends (SQLite and a real PostgreSQL) and a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import REPO, PostgresCluster, Server, create_database, unavailable

BACKENDS = ["sqlite", "postgres"]

# Whatever a test runs without settings of its own reads the checkout's model cache (where
# whisper-base is joined once) and writes no data outside the test session's temporary folder.
os.environ.setdefault("HOTASR_MODEL_CACHE_DIR", str(REPO / "var" / "cache"))


@pytest.fixture(scope="session", autouse=True)
def _data_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("HOTASR_DATA_DIR", str(tmp_path_factory.mktemp("default-data")))


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the storage tests: HOTASR_TEST_POSTGRES_URL, or a private cluster.

    CI sets HOTASR_REQUIRE_POSTGRES=1 so a missing PostgreSQL fails the run instead of skipping.
    """
    given = os.environ.get("HOTASR_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        cluster = PostgresCluster()
        url = cluster.start()
    except Exception as exc:  # missing binaries or a failed start: say which
        unavailable(f"PostgreSQL could not start: {exc}", "HOTASR_REQUIRE_POSTGRES")
    yield url
    cluster.stop()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Parametrize a test with `@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)`."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hotasr.db'}"
    return create_database(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server per test module and storage backend."""
    data_dir = tmp_path_factory.mktemp("data")
    url = None
    if request.param == "postgres":
        url = create_database(request.getfixturevalue("postgres_admin_url"))
    srv = Server(data_dir, url).start()
    yield srv
    srv.stop()
