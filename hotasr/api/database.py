"""Where a request handler runs its (blocking) database work."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

P = ParamSpec("P")
T = TypeVar("T")


def runs_inline(app: ASGIApp) -> bool:
    """True when database calls may run on the event loop: the database is SQLite.

    A SQLite call is a sub-millisecond read or write of a local file; the hop to a worker thread
    and back costs more than that, and under load the interpreter-lock hand-offs between the 40
    request threads and the event loop set the tail: hotword-list queries at 200 req/s had a
    server-side p99 of 38 ms on worker threads and 3 ms inline (bench/vocab_api.py --pin).
    PostgreSQL is a network round trip that may stall, so its calls go to worker threads, except
    the hot reads (key checks, list queries), which await psycopg's asyncio mode on the loop
    (`hotasr.storage.db.LoopReader`).
    """
    return app.state.db_engine.dialect.name == "sqlite"  # type: ignore[attr-defined]


async def run_database_work(app: ASGIApp, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args, **kwargs)`: inline on SQLite, on a worker thread otherwise (see `runs_inline`)."""
    if runs_inline(app):
        return work(*args, **kwargs)
    return await run_in_threadpool(work, *args, **kwargs)
