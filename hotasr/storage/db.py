"""Database engine and sessions. SQLite (WAL) by default; PostgreSQL through HOTASR_DATABASE_URL."""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pydantic_core
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Executable, Row, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from hotasr.storage.files import create_private_file, narrow, private_dir

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer, so key checks and list queries stay fast under writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Concurrent writers wait for the lock instead of failing at once with "database is locked".
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _json_text(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


# Hotword lists are stored as JSON documents of up to 500 terms, read on every query and every
# recognition with a vocabulary and written on every create and update. pydantic-core (already
# here for FastAPI) writes such a list in 0.10 ms against the json module's 0.37, and reads it in
# 0.15 against 0.23 (keys cached: the same three keys repeat in every term).
_JSON_CODEC: dict[str, Any] = {
    "json_serializer": _json_text,
    "json_deserializer": functools.partial(pydantic_core.from_json, cache_strings="keys"),
}
# Keep a connection for every thread that may hold one (the server's 40 request threads, task
# workers, the janitor). Past the pool size each checkout opens a new connection and closes it
# again: on SQLite ~1 ms of CPU for the pragmas, on PostgreSQL a new server process each time
# (with a pool of 10, 16 concurrent hotword-list queries kept forking them).
_POOL: dict[str, Any] = {"pool_size": 48, "max_overflow": 16}


def _private_sqlite_file(path: Path) -> None:
    """The database file made 0600 before SQLite opens it: SQLite creates it (and its -wal and
    -shm files, which copy the database's mode) with the umask's 0644 otherwise."""
    private_dir(path.parent)
    create_private_file(path)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        narrow(file)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(Path(parsed.database))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **_POOL,
            **_JSON_CODEC,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **_POOL, **_JSON_CODEC)


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for one read statement, run outside a transaction.

    A plain session wraps even a single SELECT in BEGIN ... ROLLBACK: on PostgreSQL two more
    network round trips, each a wake-up of a server process. A hotword-list query (key check plus
    list) took eight round trips, now four. SQLite opens no transaction for a SELECT anyway.
    Not for several statements that must see one snapshot, nor for writes.
    """
    with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


class LoopReader:
    """Single-statement reads for code on the event loop (the server's key checks and list queries).

    On PostgreSQL through psycopg's asyncio mode, outside a transaction: a read waits for its
    network round trips without a worker thread. On worker threads each round trip handed the
    interpreter lock back and forth among 40 threads and the event loop (36-78 context switches a
    query), and a list query cost the server 3.8-5.0 ms of CPU against 2.1-2.5 on SQLite, which
    capped it near 200 queries/s on two shared cores. On SQLite the read runs inline: a
    sub-millisecond read of a local file costs less than any hop.

    The asyncio engine is made on first use, so it belongs to the loop that awaits it (the CLI
    and the task workers, which build the same services, never make one). Get one through
    `loop_reader`: the services built on one sessionmaker share its connections.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self._async_engine: AsyncEngine | None = None

    async def first(self, statement: Executable) -> Row[Any] | None:
        if self._engine.dialect.name == "sqlite":
            with reading(self._sessions) as session:
                return session.execute(statement).first()
        if self._async_engine is None:
            self._async_engine = create_async_engine(
                self._engine.url, isolation_level="AUTOCOMMIT", **_ASYNC_POOL, **_JSON_CODEC
            )
        try:
            return await self._first(statement)
        except DBAPIError as exc:
            # No ping before each read (it doubled the round trips): a connection that died while
            # pooled (a database restart) fails its first read and is dropped; read again once.
            if not exc.connection_invalidated:
                raise
            return await self._first(statement)

    async def _first(self, statement: Executable) -> Row[Any] | None:
        assert self._async_engine is not None
        async with self._async_engine.connect() as connection:
            return (await connection.execute(statement)).first()

    async def aclose(self) -> None:
        """Close the asyncio engine's connections, on the loop that opened them (the app's lifespan,
        at shutdown). A later read opens a new engine on its own loop."""
        engine, self._async_engine = self._async_engine, None
        if engine is not None:
            await engine.dispose()


# One connection per read in flight (16 concurrent clients in bench/vocab_api.py); with the
# threads' 48 + 16 it stays under PostgreSQL's default max_connections of 100.
_ASYNC_POOL: dict[str, Any] = {"pool_size": 16, "max_overflow": 16}
_LOOP_READERS: weakref.WeakKeyDictionary[sessionmaker[Session], LoopReader] = weakref.WeakKeyDictionary()


def loop_reader(sessions: sessionmaker[Session]) -> LoopReader:
    reader = _LOOP_READERS.get(sessions)
    if reader is None:
        reader = _LOOP_READERS[sessions] = LoopReader(sessions)
    return reader


_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}


def write_lock(sessions: sessionmaker[Session]) -> AbstractContextManager[object]:
    """Serialize this process's write transactions on SQLite (one writer at a time anyway).

    Without it, concurrent writers meet SQLite's busy handler, which polls with growing sleeps:
    under 16 concurrent creates the p99 reached 1.6 s. Queued on a lock they wake in turn.
    PostgreSQL has row locks and needs nothing here.
    """
    engine: Engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _SQLITE_WRITE_LOCKS.setdefault(str(engine.url), threading.Lock())


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; run at every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
