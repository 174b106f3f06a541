"""Recorded-file task throughput: the embedded pool and Celery with 1 and 2 workers, side by side.

For each deployment, on real LibriSpeech speech served over loopback HTTP:
- many short files: N single-file tasks (one utterance each, ~8 s, cycling through the 68) submitted
  at once; audio hours per wall-clock hour and files per minute, wall clock from the first submit
  to the `end_time` of the last task;
- one long file (utterances joined with short gaps; built once under bench/out/): its RTF, from
  submit to `end_time`, over its duration;
- task overhead on an idle system, one-second tasks submitted one at a time: submit → RUNNING
  (`scheduled_time − submit_time` of GET /api/v1/tasks/{id}) and done → visible (from `end_time`
  to the moment a client polling every 50 ms sees SUCCEEDED), p50/p95.
Every task must SUCCEED; the others are counted as failures.

    .venv/bin/python bench/tasks_throughput.py [--files 200] [--long-seconds 1800] \
        [--deployments embedded,celery1,celery2] [--model fun-asr] [--weights whisper-tiny.en] \
        [--worker-threads auto|default|N]

Deployments: `embedded` = `hotasr serve` on SQLite with its in-process pool (task_workers threads);
`celeryN` = `hotasr serve` on PostgreSQL with a Redis queue and N `hotasr worker --concurrency 1`
processes, each with `--threads` from --worker-threads (`auto`: cores ÷ N, as the README advises);
`celeryN:T` = the same with `--threads T`, e.g. `celery1:1` for one worker sized to one core.
Starts all of it itself (a private PostgreSQL cluster and redis-server like the tests) on loopback
ports, and stops it again, also on Ctrl-C and errors.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hotasr.audio import decode_audio
from tests.servers import REPO, SHARED, PostgresCluster, Server, create_database, free_port
from tests.task_fixtures import RedisServer, Worker

LIBRISPEECH = SHARED / "data" / "librispeech_test_subset"
SAMPLE_RATE = 16000
GAP_S = 0.4  # silence between utterances in the long file
OVERHEAD_TASKS = 20
OVERHEAD_POLL_S = 0.05
FINISHED = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
DEPLOYMENT = re.compile(r"embedded|celery([1-9][0-9]?)(?::([1-9][0-9]?))?")  # celeryN or celeryN:T


# -- audio -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    name: str  # as served over HTTP
    path: Path
    seconds: float


def utterances() -> list[tuple[Path, np.ndarray]]:
    """The LibriSpeech subset (both test sets, in wav.scp order), decoded to 16 kHz mono."""
    found = []
    for subset in ("test-clean", "test-other"):
        folder = LIBRISPEECH / subset
        for line in (folder / "wav.scp").read_text().splitlines():
            if line.strip():
                path = folder / line.split()[1]
                found.append((path, decode_audio(path).samples))
    if not found:
        raise SystemExit(f"no utterances under {LIBRISPEECH}")
    return found


def write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    tmp.replace(path)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as f:
        return f.getnframes() / f.getframerate()


def long_file(folder: Path, seconds: int, clips: list[tuple[Path, np.ndarray]]) -> Path:
    """Utterances one after another with GAP_S of silence, cut to `seconds`; built once."""
    path = folder / f"tasks_long_{seconds}s.wav"
    if path.is_file() and abs(wav_seconds(path) - seconds) < 0.01:
        return path
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    total = 0
    target = seconds * SAMPLE_RATE
    i = 0
    while total < target:
        samples = clips[i % len(clips)][1]
        parts += [samples, gap]
        total += len(samples) + len(gap)
        i += 1
    write_wav(path, np.concatenate(parts)[:target])
    return path


def one_second_clip(folder: Path, clips: list[tuple[Path, np.ndarray]]) -> Path:
    """The loudest second of the first utterance (speech, so the task does not fail for silence)."""
    path = folder / "tasks_one_second.wav"
    samples = clips[0][1]
    hop = SAMPLE_RATE // 10
    starts = range(0, max(1, len(samples) - SAMPLE_RATE), hop)
    best = max(starts, key=lambda s: float(np.mean(samples[s:s + SAMPLE_RATE] ** 2)))
    write_wav(path, samples[best:best + SAMPLE_RATE])
    return path


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class FileServer:
    """Serves the clips (symlinks in a temp dir) over loopback HTTP from a thread."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hotasr-bench-files-"))
        for name, path in files.items():
            (self.root / name).symlink_to(path.resolve())
        handler = functools.partial(_Quiet, directory=str(self.root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        for entry in self.root.iterdir():
            entry.unlink()
        self.root.rmdir()


# -- processes -------------------------------------------------------------------------------------


def stop_process(process: subprocess.Popen[str] | None, grace: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


class WorkerProcess(Worker):
    """The tests' `hotasr worker --concurrency 1`, with what the benchmark reads from its log."""

    def text(self) -> str:
        return "".join(self.output)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("worker exited:\n" + self.text()[-3000:])
            if " ready." in self.text():
                return
            time.sleep(0.2)
        raise RuntimeError("worker not ready:\n" + self.text()[-3000:])

    def tasks_run(self) -> int:
        return self.text().count("succeeded in")


def stop_server(server: Server) -> None:
    stop_process(server.process, grace=30)


# -- the HTTP API ----------------------------------------------------------------------------------


def server_time(value: str) -> float:
    """`YYYY-MM-DD HH:MM:SS.mmm`, the server's local time (this machine's) -> epoch seconds."""
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").timestamp()


class Api:
    def __init__(self, url: str, key: str, model: str) -> None:
        self.model = model
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                                 limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))

    def submit(self, file_url: str) -> str:
        response = self.http.post(
            "/api/v1/services/audio/asr/transcription",
            json={"model": self.model, "input": {"file_urls": [file_url]}},
            headers={"X-DashScope-Async": "enable"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"submit failed: {response.status_code} {response.text}")
        return str(response.json()["output"]["task_id"])

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/tasks/{task_id}")
        response.raise_for_status()
        return dict(response.json()["output"])

    def count(self, status: str) -> int:
        response = self.http.get("/api/v1/tasks", params={"status": status, "page_size": 1})
        response.raise_for_status()
        return int(response.json()["total"])

    def wait(self, task_id: str, every: float, timeout: float) -> tuple[dict[str, Any], float]:
        """Polls the task every `every` s until it is finished: its output and when that was seen."""
        start = time.monotonic()
        deadline = start + timeout
        n = 0
        while True:
            output = self.task(task_id)
            seen = time.time()
            if output["task_status"] in FINISHED:
                return output, seen
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} not finished after {timeout:.0f} s: {output}")
            n += 1
            time.sleep(max(0.0, start + n * every - time.monotonic()))

    def close(self) -> None:
        self.http.close()


def failure(output: dict[str, Any]) -> str | None:
    """None when the task SUCCEEDED with every file; what went wrong otherwise."""
    bad = [r for r in output.get("results", []) if r.get("subtask_status") != "SUCCEEDED"]
    files = f" ({', '.join(str(r.get('file_url', '?')).rsplit('/', 1)[-1] for r in bad)})" if bad else ""
    if output.get("task_status") != "SUCCEEDED":
        return f"{output.get('task_status')}: {output.get('code')} {output.get('message')}{files}"
    if bad or output.get("task_metrics", {}).get("FAILED"):
        return f"file failed: {bad[0].get('code') if bad else ''} {bad[0].get('message') if bad else ''}{files}"
    return None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# -- phases ----------------------------------------------------------------------------------------


@dataclass
class Result:
    deployment: str
    workers: str
    files: int = 0
    audio_s: float = 0.0
    wall_s: float | None = None
    visible_wall_s: float | None = None
    long_audio_s: float = 0.0
    long_wall_s: float | None = None
    long_run_s: float | None = None
    submit_to_running_ms: list[float] = field(default_factory=list)
    done_to_visible_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=lambda: {"short": 0, "long": 0, "overhead": 0, "warm-up": 0})
    failure_samples: list[str] = field(default_factory=list)
    error: str | None = None

    def fail(self, phase: str, why: str) -> None:
        self.failures[phase] += 1
        if len(self.failure_samples) < 5:
            self.failure_samples.append(f"{phase}: {why}")

    def summary(self) -> dict[str, Any]:
        def ms(values: list[float], q: float) -> float | None:
            value = percentile(values, q)
            return None if value is None else round(value, 1)

        hours = self.audio_s / 3600
        return {
            "deployment": self.deployment,
            "workers": self.workers,
            "files": self.files,
            "audio_h": round(hours, 3),
            "wall_s": None if self.wall_s is None else round(self.wall_s, 1),
            "wall_visible_s": None if self.visible_wall_s is None else round(self.visible_wall_s, 1),
            "audio_h_per_h": round(hours / (self.wall_s / 3600), 2) if self.wall_s else None,
            "files_per_min": round(self.files / (self.wall_s / 60), 1) if self.wall_s else None,
            "long_audio_s": round(self.long_audio_s, 1),
            "long_wall_s": None if self.long_wall_s is None else round(self.long_wall_s, 1),
            "long_rtf": round(self.long_wall_s / self.long_audio_s, 4) if self.long_wall_s else None,
            "long_rtf_running": round(self.long_run_s / self.long_audio_s, 4) if self.long_run_s else None,
            "submit_to_running_p50_ms": ms(self.submit_to_running_ms, 0.5),
            "submit_to_running_p95_ms": ms(self.submit_to_running_ms, 0.95),
            "done_to_visible_p50_ms": ms(self.done_to_visible_ms, 0.5),
            "done_to_visible_p95_ms": ms(self.done_to_visible_ms, 0.95),
            "overhead_samples": len(self.done_to_visible_ms),
            "failures": sum(self.failures.values()),
            "failures_by_phase": self.failures,
            "failure_samples": self.failure_samples,
            "error": self.error,
        }


def warm_up(api: Api, url: str, workers: list[WorkerProcess], result: Result) -> None:
    """Every process loads its model before anything is measured (one task per worker process)."""
    for _ in range(6):
        ids = [api.submit(url) for _ in range(max(1, len(workers)))]
        for task_id in ids:
            output, _ = api.wait(task_id, 0.2, timeout=600)
            why = failure(output)
            if why:
                result.fail("warm-up", why)
        if all(w.tasks_run() > 0 for w in workers):
            return
    if workers:
        print("  warning: not every worker ran a warm-up task", flush=True)


def measure_overhead(api: Api, url: str, result: Result, count: int) -> None:
    for _ in range(count):
        time.sleep(0.3)  # idle: the previous task's bookkeeping is over
        task_id = api.submit(url)
        output, seen = api.wait(task_id, OVERHEAD_POLL_S, timeout=300)
        why = failure(output)
        if why:
            result.fail("overhead", why)
            continue
        submit = server_time(output["submit_time"])
        result.submit_to_running_ms.append((server_time(output["scheduled_time"]) - submit) * 1000)
        result.done_to_visible_ms.append((seen - server_time(output["end_time"])) * 1000)


def measure_short(api: Api, clips: list[Clip], files: Callable[[str], str], count: int, result: Result) -> None:
    chosen = [clips[i % len(clips)] for i in range(count)]
    result.files = count
    result.audio_s = sum(c.seconds for c in chosen)
    timeout = 600 + 10 * result.audio_s
    finished = ("SUCCEEDED", "FAILED", "CANCELED")
    before = sum(api.count(s) for s in finished)  # the warm-up and overhead tasks of this account
    start = time.time()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda clip: api.submit(files(clip.name)), chosen))
    print(f"  {count} tasks submitted in {time.time() - start:.1f} s", flush=True)
    deadline = time.monotonic() + timeout
    while True:  # the list API's totals: a few requests per poll, however many tasks
        done = sum(api.count(s) for s in finished) - before
        if done >= count:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count - done} of {count} short tasks not done after {timeout:.0f} s")
        time.sleep(0.5)
    result.visible_wall_s = time.time() - start
    ends = []
    for task_id in ids:
        output = api.task(task_id)
        why = failure(output)
        if why:
            result.fail("short", why)
        if output.get("end_time"):
            ends.append(server_time(output["end_time"]))
    result.wall_s = max(ends) - start if ends else None


def measure_long(api: Api, url: str, seconds: float, result: Result) -> None:
    result.long_audio_s = seconds
    start = time.time()
    task_id = api.submit(url)
    output, _ = api.wait(task_id, 0.5, timeout=600 + 10 * seconds)
    why = failure(output)
    if why:
        result.fail("long", why)
        return
    end = server_time(output["end_time"])
    result.long_wall_s = end - start
    result.long_run_s = end - server_time(output["scheduled_time"])


# -- deployments -----------------------------------------------------------------------------------


@contextmanager
def deployment(
    name: str, n_workers: int, worker_threads: int | None, base_env: dict[str, str], work: Path,
    postgres: Callable[[], str], redis: Callable[[], str],
) -> Iterator[tuple[Server, list[WorkerProcess]]]:
    """The API server (and its workers) of one deployment, stopped on the way out whatever happens."""
    env = dict(base_env)
    database_url = None
    if n_workers:
        database_url = create_database(postgres())
        env.update({
            "HOTASR_QUEUE_URL": redis().rsplit("/", 1)[0] + f"/{n_workers}",  # a Redis database of its own
            "HOTASR_RESULTS_DIR": str(work / name / "results"),
            "HOTASR_URL_SIGNING_SECRET": "bench-secret",
        })
    server = Server(work / name / "api", database_url, env=env)
    workers: list[WorkerProcess] = []
    try:
        server.start(timeout=120)
        for i in range(n_workers):
            worker_env = {**server.env, "HOTASR_DATA_DIR": str(work / name / f"worker{i}")}
            workers.append(WorkerProcess(worker_env, threads=worker_threads).start())
        for worker in workers:
            worker.wait_ready()
        yield server, workers
    except Exception:  # what the processes said helps; not after a Ctrl-C
        tail = "".join(server.output)[-2000:]
        print(f"  --- {name} api output (tail) ---\n{tail}", flush=True)
        for i, worker in enumerate(workers):
            print(f"  --- {name} worker {i} output (tail) ---\n{worker.text()[-2000:]}", flush=True)
        raise
    finally:
        for worker in workers:
            worker.stop()
        stop_server(server)


def parse_deployment(name: str, worker_threads: str) -> tuple[int, int | None]:
    """`embedded` -> (0, None); `celeryN` -> (N, threads from --worker-threads); `celeryN:T` -> (N, T)."""
    match = DEPLOYMENT.fullmatch(name)
    if match is None:
        raise ValueError(f"unknown deployment {name!r}: use embedded, celeryN or celeryN:T")
    if name == "embedded":
        return 0, None
    n_workers = int(match.group(1))
    if match.group(2):
        return n_workers, int(match.group(2))
    if worker_threads == "default":
        return n_workers, None
    if worker_threads == "auto":
        return n_workers, max(1, (os.cpu_count() or 1) // n_workers)
    if not worker_threads.isdigit() or int(worker_threads) < 1:
        raise ValueError(f"--worker-threads: a number of threads, auto or default; got {worker_threads!r}")
    return n_workers, int(worker_threads)


def run_deployment(
    name: str, args: argparse.Namespace, base_env: dict[str, str], work: Path, files: FileServer,
    clips: list[Clip], long: Clip, one: Clip, postgres: Callable[[], str], redis: Callable[[], str],
) -> Result:
    n_workers, worker_threads = parse_deployment(name, args.worker_threads)
    threads = args.embedded_threads
    label = f"{threads} thread{'s' if threads > 1 else ''}"
    if n_workers:
        label = f"{n_workers} × concurrency 1" + (f", --threads {worker_threads}" if worker_threads else "")
    result = Result(name, label)
    print(f"\n## {name} ({label})", flush=True)
    with deployment(name, n_workers, worker_threads, base_env, work, postgres, redis) as (server, workers):
        api = Api(server.url, server.create_key(f"bench-{name}"), args.model)
        try:
            t0 = time.monotonic()
            warm_up(api, files.url(one.name), workers, result)
            print(f"  warm-up {time.monotonic() - t0:.1f} s", flush=True)
            measure_overhead(api, files.url(one.name), result, args.overhead_tasks)
            print(f"  overhead: {len(result.done_to_visible_ms)} tasks", flush=True)
            measure_short(api, clips, files.url, args.files, result)
            print(f"  short files: wall {result.wall_s} s", flush=True)
            measure_long(api, files.url(long.name), long.seconds, result)
            print(f"  long file: {result.long_wall_s} s for {long.seconds:.0f} s of audio", flush=True)
        finally:
            api.close()
    print("  " + json.dumps(result.summary()), flush=True)
    return result


def fmt(value: object) -> str:
    return "–" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| deployment | files | audio h | wall s | audio h per h | files/min | long file RTF "
        "| submit→RUNNING p50/p95 ms | done→visible p50/p95 ms | failures |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['deployment']} ({r['workers']}) | error: {r['error']} |||||||||")
            continue
        lines.append(
            f"| {r['deployment']} ({r['workers']}) | {r['files']} | {r['audio_h']} | {fmt(r['wall_s'])} | "
            f"{fmt(r['audio_h_per_h'])} | {fmt(r['files_per_min'])} | {fmt(r['long_rtf'])} | "
            f"{fmt(r['submit_to_running_p50_ms'])} / {fmt(r['submit_to_running_p95_ms'])} | "
            f"{fmt(r['done_to_visible_p50_ms'])} / {fmt(r['done_to_visible_p95_ms'])} | {r['failures']} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200, help="short single-file tasks submitted at once")
    parser.add_argument("--long-seconds", type=int, default=1800, help="duration of the long file")
    parser.add_argument("--deployments", default="embedded,celery1,celery2")
    parser.add_argument("--model", default="fun-asr", help="DashScope model name")
    parser.add_argument("--weights", default=None,
                        help="weights for --model (e.g. whisper-tiny.en); default: the server's (Whisper base)")
    parser.add_argument("--task-workers", type=int, default=None,
                        help="threads of the embedded pool; default: the server's (half the cores, 1-4)")
    parser.add_argument("--worker-threads", default="auto",
                        help="`hotasr worker --threads` of each worker: a number, `auto` (cores ÷ workers, "
                             "as the README advises) or `default` (the worker's own: up to 4)")
    parser.add_argument("--overhead-tasks", type=int, default=OVERHEAD_TASKS)
    parser.add_argument("--out", type=Path, default=Path("bench/out/tasks_throughput.json"))
    args = parser.parse_args()
    names = [n.strip() for n in args.deployments.split(",") if n.strip()]
    if not names:
        parser.error("--deployments: embedded, celeryN or celeryN:T (N workers, T threads each)")
    try:  # checked before the minutes of set-up, not when the deployment's turn comes
        for name in names:
            parse_deployment(name, args.worker_threads)
    except ValueError as exc:
        parser.error(str(exc))
    if args.files < 1 or args.long_seconds < 1:
        parser.error("--files and --long-seconds must be positive")

    base_env = {
        "HOTASR_ALLOW_PRIVATE_URLS": "1",
        "HOTASR_KEY_REQUESTS_PER_SECOND": "0",  # the bench's own polling must not be throttled
        "HOTASR_LOG_LEVEL": "INFO",
    }
    if args.weights:
        base_env["HOTASR_MODELS"] = json.dumps({args.model: {"weights": args.weights}})
    if args.task_workers:
        base_env["HOTASR_TASK_WORKERS"] = str(args.task_workers)
    from hotasr.config import Settings

    args.embedded_threads = Settings(**({"task_workers": args.task_workers} if args.task_workers else {})).task_workers

    signal.signal(signal.SIGTERM, _terminate)
    out_dir = REPO / "bench" / "out"
    print("decoding utterances …", flush=True)
    decoded = utterances()
    clips = [Clip(f"u{i:02d}{p.suffix}", p, len(s) / SAMPLE_RATE) for i, (p, s) in enumerate(decoded)]
    long_path = long_file(out_dir, args.long_seconds, decoded)
    long = Clip("long.wav", long_path, wav_seconds(long_path))
    one_path = one_second_clip(out_dir, decoded)
    one = Clip("one_second.wav", one_path, wav_seconds(one_path))
    print(f"{len(clips)} utterances ({statistics.mean(c.seconds for c in clips):.1f} s on average); "
          f"long file {long_path} ({long.seconds:.0f} s)", flush=True)

    results: list[Result] = []
    with ExitStack() as stack:
        try:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hotasr-bench-")))
            files = FileServer({c.name: c.path for c in [*clips, long, one]})
            stack.callback(files.stop)
            services: dict[str, str] = {}

            def postgres() -> str:  # started on first use (only Celery deployments need it)
                if "pg" not in services:
                    cluster = PostgresCluster()
                    stack.callback(cluster.stop)
                    services["pg"] = cluster.start()
                return services["pg"]

            def redis() -> str:
                if "redis" not in services:
                    server = RedisServer()
                    stack.callback(server.stop)
                    services["redis"] = server.start()
                return services["redis"]

            for name in names:
                try:
                    results.append(run_deployment(name, args, base_env, work, files, clips, long, one,
                                                  postgres, redis))
                except Exception as exc:
                    traceback.print_exc()
                    failed = Result(name, "")
                    failed.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
                    results.append(failed)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
            print("\nstopping …", flush=True)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    rows = [r.summary() for r in results]
    weights = args.weights or "server default (whisper-base)"
    about = machine()
    print(f"\nmachine: {about}")
    print(f"model {args.model}, weights {weights}; {args.files} short files (LibriSpeech utterances over loopback), "
          f"long file {long.seconds:.0f} s; overhead: {args.overhead_tasks} one-second tasks one at a time, "
          f"polled every {OVERHEAD_POLL_S * 1000:.0f} ms; embedded pool: {args.embedded_threads} thread(s) (SQLite); "
          f"celeryN: PostgreSQL + Redis, N × `hotasr worker --concurrency 1`\n")
    print(table(rows))
    out = args.out if args.out.is_absolute() else REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": about, "model": args.model, "weights": weights, "files": args.files,
        "long_seconds": long.seconds, "overhead_tasks": args.overhead_tasks,
        "embedded_threads": args.embedded_threads, "rows": rows,
    }, indent=2))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted; everything the benchmark started has been stopped", file=sys.stderr)
        sys.exit(130)
