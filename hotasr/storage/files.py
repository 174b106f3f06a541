"""Private files and directories: the database, transcripts and uploaded audio are the users' data.

Whatever the process umask (022 gives 0644 files and 0755 directories, readable by every local
user), what hotasr creates for its data is 0600 (files) and 0700 (directories). Data made by an
earlier version with wider modes is narrowed when its owner starts hotasr again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """`path` as a directory, every level this call creates made 0700 (existing ones kept)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (before a library opens it)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def narrow(path: Path) -> None:
    """Take group and other permissions off `path` if it exists and is ours (a no-op otherwise)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)
    except OSError:  # absent, or another user's: not ours to change
        pass
