"""Scale-out: with queue_url (redis://…) tasks are sent to Celery and run by `hotasr worker`
processes on any number of machines that share the database and the results directory.

The database stays the source of truth; a queue message only says "task X may be runnable". A
worker claims the task with the same compare-and-set as the embedded pool, so a duplicate or
re-delivered message never runs a task twice. acks_late + reject_on_worker_lost + prefetch 1
keep a message in Redis until its task is done; if a worker is killed anyway, the janitor sees
its lease lapse and queues the task again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from celery import Celery

from hotasr.config import Settings
from hotasr.storage.db import make_engine, make_sessions, migrate
from hotasr.tasks.runner import TaskRunner
from hotasr.tasks.store import worker_identity

log = logging.getLogger("hotasr.tasks")

TASK_NAME = "hotasr.transcribe"
QUEUE = "hotasr-transcription"


def make_celery(settings: Settings) -> Celery:
    app = Celery("hotasr", broker=settings.queue_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,  # ack after the task ran: a worker that dies mid-task leaves the message
        task_reject_on_worker_lost=True,  # ... and a killed pool child puts it back at once
        worker_prefetch_multiplier=1,  # a busy worker must not hoard messages others could run
        task_default_queue=QUEUE,
        task_ignore_result=True,  # results live in the database and the results directory
        broker_connection_retry_on_startup=True,
        # Longer than any task should take; an unacked message is re-delivered after this.
        broker_transport_options={"visibility_timeout": 6 * 3600},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    app.task(name=TASK_NAME, bind=False)(_run_task)
    return app


def sender(settings: Settings) -> Callable[[str], None]:
    """A function that queues one task id (used by the API server)."""
    app = make_celery(settings)

    def send(task_id: str) -> None:
        app.send_task(TASK_NAME, args=[task_id], queue=QUEUE)

    return send


@cache
def _runner() -> TaskRunner:
    """One runner per worker process (the model is loaded once and shared by its threads)."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return TaskRunner(settings, make_sessions(engine))


def _run_task(task_id: str) -> dict[str, Any]:
    runner = _runner()
    owner = worker_identity(f"celery-{task_id[:8]}")
    record = runner.store.claim(task_id, owner, runner.lease)
    if record is None:  # done, canceled, running elsewhere, or expired: nothing to do
        return {"task_id": task_id, "ran": False}
    runner.run(record, owner)
    return {"task_id": task_id, "ran": True}
