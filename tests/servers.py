"""Real processes for tests: a throwaway PostgreSQL cluster and the hotasr server on loopback."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HOTASR_SHARED_DIR", REPO.parent / "shared"))


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
        self.bin = _postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries (initdb) not found")
        # Its own top-level temp dir: the 'postgres' user cannot enter root's private temp dirs.
        self.workdir = Path(tempfile.mkdtemp(prefix="hotasr-pg-"))
        self.datadir = self.workdir / "pgdata"
        self.port = free_port()
        # PostgreSQL refuses to run as root: run it as the 'postgres' system user then.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.datadir), "-U", "hotasr", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.workdir} -F -c max_connections=200"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-o", options, "-w", "-t", "60",
                  "-l", str(self.workdir / "postgres.log"), "start")
        return f"postgresql+psycopg://hotasr@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
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

    def start(self, timeout: float = 60) -> Server:
        self.output = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotasr", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()
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

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `hotasr ARGS` with this server's configuration."""
        return subprocess.run([sys.executable, "-m", "hotasr", *args], env=self.env, capture_output=True,
                              text=True, timeout=120, check=check)

    def create_key(self, account: str) -> str:
        return self.cli("keys", "create", "--account", account).stdout.strip().splitlines()[-1]
