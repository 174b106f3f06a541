"""Both backends: migrations are idempotent and match the SQLAlchemy models; reads on the event loop."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from hotasr.accounts import AccountService
from hotasr.config import Settings
from hotasr.storage.db import make_engine, make_sessions, migrate
from hotasr.storage.tables import Base
from hotasr.vocabularies import VocabularyNotFound, VocabularyService
from tests.conftest import BACKENDS


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_migrations_match_models_and_are_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # every start runs it: a second run must change nothing
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        assert {"accounts", "api_keys", "vocabularies", "alembic_version"} <= set(inspect(conn).get_table_names())
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_reads_on_the_event_loop_survive_dropped_connections(database_url: str) -> None:
    """The server's key checks and list queries (`LoopReader`): the database drops every
    connection (as a restart does); the next reads find the key and the list all the same."""
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_sessions(engine)
    accounts, vocabularies = AccountService(sessions), VocabularyService(sessions, Settings())
    key = accounts.create_key("reader")
    account = accounts.authenticate(key.secret)
    assert account is not None
    vocabulary_id = vocabularies.create(account, target_model="fun-asr", prefix="loop",
                                        items=[{"text": "hotasr", "weight": 4, "lang": "en"}])

    async def read() -> tuple[tuple[int, str] | None, list[dict[str, object]]]:
        found = await accounts.identify_on_loop(key.secret)
        record = await vocabularies.get_on_loop(account, vocabulary_id)
        return found, record.items

    async def scenario() -> None:
        assert await read() == ((account, key.key_id), [{"text": "hotasr", "weight": 4, "lang": "en"}])
        if engine.dialect.name == "postgresql":
            with engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        assert (await read())[0] == (account, key.key_id)
        with pytest.raises(VocabularyNotFound):
            await vocabularies.get_on_loop(account + 1, vocabulary_id)
        assert await accounts.identify_on_loop("sk-" + "0" * 48) is None

    asyncio.run(scenario())
    engine.dispose()
