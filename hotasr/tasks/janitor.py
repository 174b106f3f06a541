"""Periodic housekeeping, run by every API server and worker (compare-and-set makes that safe):
re-queue tasks whose worker died, re-send queue messages that may be lost, and delete tasks and
files past their time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from hotasr.tasks.results import ResultStore
from hotasr.tasks.scratch import remove_orphans
from hotasr.tasks.store import TaskStore

log = logging.getLogger("hotasr.tasks")

CLEANUP_EVERY_SECONDS = 300.0
# Queue mode: a task PENDING this long since it was sent may have lost its message; send again
# (a duplicate message is harmless: only one claim succeeds).
REDISPATCH_AFTER = timedelta(minutes=5)


class Janitor:
    def __init__(
        self,
        store: TaskStore,
        results: ResultStore,
        dispatch: Callable[[str], None],
        *,
        lease_seconds: float,
        max_attempts: int,
        ttl: timedelta,
        queue_mode: bool,
    ) -> None:
        self.store = store
        self.results = results
        self.dispatch = dispatch
        self.interval = min(max(lease_seconds / 3, 0.5), 10.0)
        self.max_attempts = max_attempts
        self.ttl = ttl
        self.queue_mode = queue_mode
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_cleanup = 0.0

    def start(self) -> None:
        remove_orphans()  # before this process makes scratch folders of its own
        self._thread = threading.Thread(target=self._loop, daemon=True, name="hotasr-janitor")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("task housekeeping failed; retrying")
            if self._stop.wait(self.interval):
                return

    def run_once(self) -> None:
        recovery = self.store.recover(self.max_attempts, self.ttl)
        for task_id in recovery.requeued:
            log.warning("task %s: its worker stopped; queued again", task_id)
            self.dispatch(task_id)
        for task_id in recovery.failed:
            log.error("task %s: interrupted %d times; failed", task_id, self.max_attempts)
        if self.queue_mode:
            for task_id in self.store.stale_pending(REDISPATCH_AFTER):
                self.dispatch(task_id)
        if time.monotonic() - self._last_cleanup >= CLEANUP_EVERY_SECONDS:
            self._last_cleanup = time.monotonic()
            self.cleanup()

    def cleanup(self) -> None:
        expired = self.store.expired()
        for record in expired:
            self.results.delete_task(record.task_id)
        self.store.delete([r.task_id for r in expired])
        removed = self.results.remove_old_uploads()
        if expired or removed:
            log.info("deleted %d expired tasks and %d old uploads", len(expired), removed)
