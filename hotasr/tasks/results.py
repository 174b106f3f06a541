"""The results directory, shared by the API and every worker: transcripts and uploaded files.

Layout under `results_dir` (default data_dir/results):
    transcripts/<task_id>/<n>.json     one transcript per file of a task
    uploads/<account_id>/<token>/<name>  files sent through the upload endpoint (`oss://` URLs)
Writes go to a temp file first and are renamed into place, so readers never see half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from hotasr.config import Settings
from hotasr.storage.files import narrow, private_dir

UPLOAD_TTL_SECONDS = 48 * 3600  # DashScope's temporary upload URLs live 48 h (docs/dashscope-protocol.md §8)


def results_root(settings: Settings) -> Path:
    return settings.results_dir or settings.data_dir / "results"


class ResultStore:
    """Transcripts and uploads, private to the server's user (files 0600, directories 0700)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        narrow(root)  # made 0755 by versions before 0700 directories

    def path(self, key: str) -> Path:
        """The file for `key`; refuses keys that would leave the store (`..`, absolute paths)."""
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") or "\\" in p for p in parts):
            raise ValueError(f"invalid result key {key!r}")
        return self.root.joinpath(*parts)

    def put_json(self, key: str, data: dict[str, Any]) -> None:
        self._write(self.path(key), json.dumps(data, ensure_ascii=False).encode())

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None

    def _write(self, target: Path, data: bytes) -> None:
        private_dir(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- transcripts ------------------------------------------------------------------------

    @staticmethod
    def transcript_key(task_id: str, index: int) -> str:
        return f"transcripts/{task_id}/{index}.json"

    def delete_task(self, task_id: str) -> None:
        shutil.rmtree(self.root / "transcripts" / task_id, ignore_errors=True)

    # -- uploads ----------------------------------------------------------------------------

    def upload_path(self, key: str) -> Path:
        if not key.startswith("uploads/"):
            raise ValueError(f"invalid upload key {key!r}")
        return self.path(key)

    def remove_old_uploads(self, max_age_seconds: float = UPLOAD_TTL_SECONDS) -> int:
        """Delete uploads older than max_age_seconds; returns how many files went."""
        base = self.root / "uploads"
        if not base.is_dir():
            return 0
        cutoff = time.time() - max_age_seconds
        removed = 0
        for path in sorted(base.rglob("*"), reverse=True):  # children before their directories
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
            except OSError:
                continue  # raced with another cleaner or a new upload: next round
        return removed
