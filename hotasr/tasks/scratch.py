"""Scratch folders for the audio a task downloads and decodes, and their clean-up after a crash.

A file task works in a temporary folder that is removed when the file is done. A process killed
mid-task (SIGKILL, out of memory, a crash in native code) leaves its folder behind, with the
caller's audio in it. Each folder therefore carries the id of the process that owns it, and every
server or worker that starts removes the folders of processes that no longer run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("hotasr.tasks")

PREFIX = "hotasr-task-"
_OWNED = re.compile(rf"{PREFIX}p(\d+)-")
# Folders named before they carried their owner: removed once nothing has touched them for this long.
_UNOWNED_AFTER_S = 3600


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for one file of a task, removed on exit from the `with` block."""
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}p{os.getpid()}-")


def remove_orphans(root: Path | None = None) -> int:
    """Remove the scratch folders of processes that are gone; the number removed.

    Called once as a process starts, before it makes folders of its own: a folder carrying this
    process's own id was left by an earlier process that had the same id (containers reuse them).
    """
    removed = 0
    for path in Path(root or tempfile.gettempdir()).glob(PREFIX + "*"):
        if path.is_dir() and _orphaned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d scratch folder(s) left by stopped processes", removed)
    return removed


def _orphaned(path: Path) -> bool:
    owned = _OWNED.match(path.name)
    if owned is None:
        return time.time() - path.stat().st_mtime > _UNOWNED_AFTER_S
    pid = int(owned.group(1))
    return pid == os.getpid() or not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
