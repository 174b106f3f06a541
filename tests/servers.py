"""Real processes for tests: a throwaway PostgreSQL cluster and the hotasr server on loopback."""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import httpx

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HOTASR_SHARED_DIR", REPO.parent / "shared"))
# How long a test waits for an event before it calls it a hang. Not a guess at how fast a machine
# is: a loaded 2-core machine (two suites at once) must never come near it.
HANG_S = 300


def unavailable(reason: str, require: str | None = None) -> NoReturn:
    """Skip a test whose data or service is missing; fail it instead under CI (`CI=true`, as
    `.ci/run` runs) or when the `require` variable (`HOTASR_REQUIRE_POSTGRES`, ...) is set, so that
    a missing prerequisite never passes CI as a quiet skip."""
    import pytest

    if os.environ.get("CI", "").lower() in ("true", "1") or (require and os.environ.get(require)):
        pytest.fail(f"required for this test but missing: {reason}")
    pytest.skip(reason)


def heavy(what: str) -> None:
    """Mark the point where a test starts something slow (a server process, PostgreSQL, a Whisper
    model, a browser): `make test-fast` (HOTASR_TEST_FAST=1) skips the test there."""
    if os.environ.get("HOTASR_TEST_FAST"):
        import pytest

        pytest.skip(f"not in the fast tier: {what}")


def die_with_parent() -> None:
    """`preexec_fn` of every process a test starts: the kernel sends it SIGTERM when pytest dies,
    so a killed test run (Ctrl-C twice, a CI time-out, SIGKILL) leaves no server, worker or
    database behind on the machine."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_bin() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """A private cluster in a temp dir on a free loopback port, stopped at the end of the session."""

    def __init__(self) -> None:
        heavy("PostgreSQL")
        self.bin = _postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries (initdb) not found")
        # Its own top-level temp dir: the 'postgres' user cannot enter root's private temp dirs.
        self.workdir = Path(tempfile.mkdtemp(prefix="hotasr-pg-"))
        self.datadir = self.workdir / "pgdata"
        self.port = free_port()
        # PostgreSQL refuses to run as root: run it as the 'postgres' system user then.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.process: subprocess.Popen[bytes] | None = None

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.datadir), "-U", "hotasr", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        # The postmaster runs as this process's child (not daemonized by pg_ctl) so that it dies with pytest.
        log = (self.workdir / "postgres.log").open("wb")
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.datadir), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(self.workdir), "-F", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=self._as_postgres,
        )
        deadline = time.monotonic() + HANG_S
        ready = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(ready, check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start:\n" + (self.workdir / "postgres.log").read_text())
            time.sleep(0.1)
        return f"postgresql+psycopg://hotasr@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self) -> None:
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        die_with_parent()  # after the change of user, which would clear it

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # PostgreSQL's immediate shutdown
            self.process.wait(timeout=60)
        shutil.rmtree(self.workdir, ignore_errors=True)


def create_database(admin_url: str) -> str:
    """A fresh, empty database on the cluster behind admin_url; returns its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


class Server:
    """`hotasr serve` in a subprocess, exactly as a user starts it."""

    def __init__(self, data_dir: Path, database_url: str | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HOTASR_DATA_DIR": str(data_dir),
            "HOTASR_MODEL_CACHE_DIR": str(REPO / "var" / "cache"),
            "HOTASR_PRELOAD_MODELS": "0",  # tests that need a model load it on first use
            **(env or {}),
        }
        if database_url:
            self.env["HOTASR_DATABASE_URL"] = database_url
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = HANG_S) -> Server:
        heavy("a server process")
        self.output = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotasr", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent,
        )
        self._pumping = threading.Thread(target=self._pump, args=(self.process,), daemon=True)
        self._pumping.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited:\n" + "".join(self.output))
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start:\n" + "".join(self.output))

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)

    def wait_for_line(self, wanted: Callable[[str], bool], timeout: float = HANG_S) -> str:
        """The first line of the server's output that is `wanted`, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((line for line in list(self.output) if wanted(line)), None)
            if found is not None:
                return found
            if not self._pumping.is_alive() or time.monotonic() > deadline:
                raise AssertionError("the server never logged the line looked for:\n" + "".join(self.output))
            time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cli(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `hotasr ARGS` with this server's configuration (and `env` on top of it)."""
        return subprocess.run([sys.executable, "-m", "hotasr", *args], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120, check=check)

    def create_key(self, account: str) -> str:
        return self.cli("keys", "create", "--account", account).stdout.strip().splitlines()[-1]
