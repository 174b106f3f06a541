"""Helpers for the transcription-task tests: a loopback file server, Redis, and a hotasr server
configured for fast English recognition (whisper tiny.en) with private URLs allowed."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.servers import HANG_S, REPO, SHARED, Server, die_with_parent, free_port

DATA = SHARED / "data"
JFK = DATA / "en_misc" / "jfk.flac"  # 11 s stereo FLAC: "... ask not what your country can do for you ..."
ONE_TWO_THREE = DATA / "en_misc" / "english.wav"  # "one two three", 2.7 s
CARDS = DATA / "en_misc" / "cards_001.wav"
LJ = sorted((DATA / "ljspeech_sample").glob("LJ001-00*.wav"))
# The shortest LJ Speech clips (1.8-5.1 s): many files, little recognition time.
SHORT = [DATA / "ljspeech_sample" / f"LJ001-{n}.wav" for n in ("0008", "0002", "0013", "0011", "0020", "0004")]

TINY_MODELS = json.dumps({"fun-asr": {"weights": "whisper-tiny.en"}, "paraformer-v2": {"weights": "whisper-tiny.en"}})
TASK_ENV = {
    "HOTASR_MODELS": TINY_MODELS,
    "HOTASR_ALLOW_PRIVATE_URLS": "1",
    "HOTASR_TASK_WORKERS": "1",
}


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus `/redirect?to=URL` (302) and `/redirect-loop` for the download tests."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.end_headers()
            return
        if parts.path == "/redirect-loop":
            self.send_response(302)
            self.send_header("Location", "/redirect-loop")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


class FileServer:
    """Serves a temp copy of some real recordings (and broken files) over loopback HTTP."""

    def __init__(self, extra: tuple[Path, ...] = (), bind: str = "127.0.0.1") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hotasr-files-"))
        for path in [JFK, ONE_TWO_THREE, CARDS, *LJ, *extra]:
            if path.is_file():
                shutil.copy(path, self.root / path.name)
        (self.root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
        (self.root / "empty.wav").write_bytes(b"")
        self._silence(self.root / "silence.wav")
        handler = functools.partial(_Handler, directory=str(self.root))
        self.httpd = ThreadingHTTPServer((bind, free_port()), handler)
        self.base = f"http://{bind}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _silence(path: Path) -> None:
        import wave

        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(b"\x00\x00" * 16000 * 3)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """redis-server on a free loopback port, no persistence, stopped at the end."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server not found (apt-get install -y redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent,
        )
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return self.url
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Worker:
    """`hotasr worker --concurrency 1` in a subprocess, exactly as the README starts it."""

    def __init__(self, env: dict[str, str], threads: int | None = None) -> None:
        self.env = env
        self.threads = threads  # `--threads`: the model's CPU threads (default: the worker's own)
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Worker:
        extra = ["--threads", str(self.threads)] if self.threads else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotasr", "worker", "--concurrency", "1", *extra],
            env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=die_with_parent,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.output.append(line)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def task_server(data_dir: Path, database_url: str | None = None, **env: str) -> Server:
    return Server(data_dir, database_url, env={**TASK_ENV, **env})


# -- raw HTTP helpers ----------------------------------------------------------------------------


def submit(server: Server, key: str, body: dict[str, Any], asynchronous: bool = True) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if asynchronous:
        headers["X-DashScope-Async"] = "enable"
    return httpx.post(server.url + "/api/v1/services/audio/asr/transcription", json=body, headers=headers,
                      timeout=30)


def fetch(server: Server, key: str, task_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"},
                         timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(
    server: Server, key: str, task_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = HANG_S
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = fetch(server, key, task_id)
        if done(body["output"]):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} did not get there in {timeout} s: {body}")
        time.sleep(0.2)


def finished(output: dict[str, Any]) -> bool:
    return output["task_status"] in ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
