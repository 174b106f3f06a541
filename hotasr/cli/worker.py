"""`hotasr worker`: run recorded-file transcription tasks from the queue (HOTASR_QUEUE_URL).

Start any number of workers, on any machines that share the database (HOTASR_DATABASE_URL),
the results directory (HOTASR_RESULTS_DIR) and the queue.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from hotasr.cli.common import fail

if TYPE_CHECKING:
    from hotasr.config import Settings
    from hotasr.tasks.janitor import Janitor


def worker_command(
    concurrency: Annotated[
        int | None, typer.Option(help="Tasks run at once (threads sharing one model). Default: task_workers.")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads of the model (default: engine_threads, else up to 4). "
            "Several workers on one machine: cores / workers.",
        ),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run transcription tasks sent by `hotasr serve` through the queue."""
    if threads is not None:
        # The task runner builds its Settings from the environment inside Celery's task.
        os.environ["HOTASR_ENGINE_THREADS"] = str(threads)
    from hotasr.config import Settings

    settings = Settings()
    if not settings.queue_url:
        fail("no queue configured: set HOTASR_QUEUE_URL (e.g. redis://127.0.0.1:6379/0) for the API and the workers")
    from hotasr.logs import configure_logging
    from hotasr.tasks.queue import QUEUE, make_celery

    configure_logging(settings.log_json, settings.log_level)
    janitor = _start_janitor(settings)
    app = make_celery(settings)
    # Threads, not prefork: CTranslate2 releases the GIL, and one process holds one copy of the model.
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency or settings.task_workers}",
                f"--loglevel={loglevel}",
                f"--queues={QUEUE}",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        janitor.stop()


def _start_janitor(settings: Settings) -> Janitor:
    """The database migrated and the janitor started: workers keep house too, so recovery does not
    depend on an API server being up."""
    from hotasr.storage.db import make_engine, make_sessions, migrate
    from hotasr.tasks.janitor import Janitor
    from hotasr.tasks.queue import sender
    from hotasr.tasks.results import ResultStore, results_root
    from hotasr.tasks.store import TaskStore

    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    send = sender(settings)
    janitor = Janitor(
        TaskStore(make_sessions(engine)),
        ResultStore(results_root(settings)),
        send,
        lease_seconds=settings.task_lease_seconds,
        max_attempts=settings.task_max_attempts,
        ttl=timedelta(hours=settings.results_ttl_hours),
        queue_mode=True,
    )
    janitor.start()
    return janitor
