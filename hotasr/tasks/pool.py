"""The embedded worker pool: threads inside `hotasr serve` that claim PENDING tasks from the
database and run them (used when no queue_url is set)."""

from __future__ import annotations

import logging
import threading

from hotasr.tasks.runner import TaskRunner
from hotasr.tasks.store import worker_identity

log = logging.getLogger("hotasr.tasks")

# A missed wake-up (another process submitted the task) costs at most this long.
POLL_SECONDS = 2.0


class WorkerPool:
    def __init__(self, runner: TaskRunner, threads: int) -> None:
        self.runner = runner
        self.threads = max(1, threads)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._running: dict[str, str] = {}  # owner -> task id, for release at shutdown
        self._lock = threading.Lock()

    def start(self) -> None:
        for n in range(self.threads):
            owner = worker_identity(f"t{n}")
            thread = threading.Thread(target=self._loop, args=(owner,), daemon=True, name=f"hotasr-task-{n}")
            thread.start()
            self._workers.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking tasks; running ones stop after their current file (or `timeout`) and go back
        to PENDING, keeping the files done, for the next start."""
        self._stopping.set()
        self._wake.set()
        for thread in self._workers:
            thread.join(timeout / max(1, len(self._workers)))
        with self._lock:
            running = dict(self._running)
        for owner, task_id in running.items():
            if self.runner.store.release(task_id, owner):
                log.info("task %s released at shutdown; it runs again at the next start", task_id)

    def _loop(self, owner: str) -> None:
        while not self._stopping.is_set():
            try:
                record = self.runner.store.claim_next(owner, self.runner.lease)
            except Exception:
                log.exception("claiming a task failed")
                record = None
            if record is None:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                continue
            with self._lock:
                self._running[owner] = record.task_id
            try:
                self.runner.run(record, owner, self._stopping)
                if self._stopping.is_set() and self.runner.store.release(record.task_id, owner):
                    log.info("task %s paused at shutdown; it continues at the next start", record.task_id)
            except Exception:  # the runner records file errors itself; this is a bug or the database
                log.exception("task %s crashed its worker thread", record.task_id)
            finally:
                with self._lock:
                    self._running.pop(owner, None)
