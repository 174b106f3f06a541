"""What a killed process leaves behind is cleaned up: a test server dies with its pytest, and a
task worker's scratch folders are removed by the next process that starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hotasr.tasks.scratch import PREFIX, remove_orphans, scratch_dir
from tests.servers import REPO, heavy


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


def test_scratch_folders_of_stopped_processes_are_removed(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead, alive = int(finished.stdout), os.getppid()
    left = {name: tmp_path / name for name in (f"{PREFIX}p{dead}-a", f"{PREFIX}p{os.getpid()}-b",
                                               f"{PREFIX}p{alive}-c", f"{PREFIX}old", f"{PREFIX}new")}
    for path in left.values():
        path.mkdir()
        (path / "audio").write_bytes(b"caller's audio")
    hour_ago = time.time() - 7200
    os.utime(left[f"{PREFIX}old"], (hour_ago, hour_ago))
    # A process's own id on a folder at its start: an earlier process had that id (a container restart).
    assert remove_orphans(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{PREFIX}new", f"{PREFIX}p{alive}-c"]


def test_scratch_dir_carries_its_owner_and_is_removed_after_use() -> None:
    with scratch_dir() as folder:
        assert Path(folder).name.startswith(f"{PREFIX}p{os.getpid()}-") and Path(folder).is_dir()
    assert not Path(folder).exists()


def test_a_test_server_dies_with_the_pytest_that_started_it(tmp_path: Path) -> None:
    heavy("a server process")
    starter = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from tests.servers import Server;"
         "server = Server(Path(sys.argv[1])).start(); print(server.process.pid, flush=True); time.sleep(600)",
         str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert starter.stdout is not None
    server_pid = int(starter.stdout.readline())
    assert not _gone(server_pid)
    starter.send_signal(signal.SIGKILL)  # no clean-up code runs
    starter.wait()
    deadline = time.monotonic() + 60  # a bound for a hang, not a guess: the kernel signals at once
    while not _gone(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(server_pid)
