"""Hotword-list API benchmark: SQLite and PostgreSQL side by side, 16 concurrent clients.

Measures create / query / update of 500-term lists: latency p50/p99 and requests per second, both
paced (query at a fixed 200 req/s offered load, the goal's condition) and flat out.

    .venv/bin/python bench/vocab_api.py [--requests 800] [--pin] [--backends sqlite,postgresql]
                                        [--out bench/out/vocab_api.json]

--pin (Linux) puts the API server on core 0 and the client threads on core 1, a stand-in for
clients on another machine: without it the 16 client threads compete with the server for cores.

Starts its own servers (a private PostgreSQL cluster like the tests) on loopback ports.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import PostgresCluster, Server, create_database

PATH = "/api/v1/services/audio/asr/customization"
ACCESS = re.compile(r"POST /api/v1/services/audio/asr/customization \d+ ([0-9.]+)ms")
CLIENTS = 16


def terms(seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"text": f"term{seed}x{i}", "weight": rng.randint(1, 5), "lang": "en"} for i in range(500)]


def run_phase(
    name: str, server: Server, key: str, total: int, body_for: Callable[[int], dict[str, object]],
    rate: float | None = None,
) -> dict[str, object]:
    """`total` requests from CLIENTS client processes; with `rate`, offered at that rate overall.

    Clients are processes, as real callers are: 16 client threads in one Python process queue on
    its interpreter lock, which added tens of milliseconds to the measured p99 that no server
    change could remove. Latency is taken twice: by the clients (what a caller on this machine
    waits) and by the server itself (arrival to response, from its access log: what the service
    costs, whoever calls it)."""
    log_from = len(server.output)
    assert server.process is not None
    cpu_from = cpu_seconds(server.process.pid)
    fork = multiprocessing.get_context("fork")  # children inherit body_for (a closure) and the pinning
    results = fork.SimpleQueue()
    start = fork.Value("d", 0.0)  # set once every client is connected: a late starter would burst

    def set_start() -> None:
        start.value = time.perf_counter() + 0.01  # system-wide clock: comparable across processes

    ready = fork.Barrier(CLIENTS, action=set_start)
    clients = [
        fork.Process(target=_client, args=(server.url, key, k, total, body_for, rate, ready, start, results))
        for k in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    latencies: list[float] = []
    errors = 0
    for _ in clients:
        client_latencies, client_errors = results.get()
        latencies += client_latencies
        errors += client_errors
    for client in clients:
        client.join()
    wall = time.perf_counter() - start.value
    cpu = cpu_seconds(server.process.pid) - cpu_from
    time.sleep(0.5)  # let the last access-log lines arrive
    served = sorted(float(m.group(1)) for line in server.output[log_from:] if (m := ACCESS.search(line)))
    return {
        "phase": name,
        "requests": total,
        "errors": errors,
        "p50_ms": _p(latencies, 0.5, 1000),
        "p99_ms": _p(latencies, 0.99, 1000),
        "server_p50_ms": _p(served, 0.5),
        "server_p99_ms": _p(served, 0.99),
        "server_cpu_ms_per_request": round(cpu / total * 1000, 2),
        "req_per_s": round(total / wall, 1),
        "offered_req_per_s": rate,
    }


def _client(
    url: str, key: str, k: int, total: int, body_for: Callable[[int], dict[str, object]], rate: float | None,
    ready: Any, start: Any, results: Any,
) -> None:
    """Client k sends requests k, k + CLIENTS, ...; paced (open loop: request i is due at
    start + i / rate) or back to back."""
    # The inherited heap is the parent's: without this, the first full garbage collection in each
    # client walks it all (tens of milliseconds) in the middle of a timed request.
    gc.freeze()
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        http.get("/health")  # connect before the clock starts: keep-alive reuses this connection
        ready.wait()
        for i in range(k, total, CLIENTS):
            body = json.dumps(body_for(i)).encode()
            due = start.value + i / rate if rate else start.value
            if (delay := due - time.perf_counter()) > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            response = http.post(PATH, content=body, headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - t0)
            errors += response.status_code != 200
    results.put((latencies, errors))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p(values: list[float], q: float, scale: float = 1.0) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, int(len(ordered) * q + 0.5) - 1)] * scale, 1)


def warm_up(server: Server, rounds: int = 20) -> None:
    """Untimed creates, queries, updates and deletes on an account of their own, so that the first
    timed requests do not pay for the server's first-use costs (statement compilation, imports)."""
    key = server.create_key("warm-up")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for i in range(rounds):
            def call(action: str, **fields: object) -> dict[str, object]:
                body = {"model": "speech-biasing", "input": {"action": action, **fields}}
                response = http.post(PATH, json=body)
                response.raise_for_status()
                return response.json()["output"]

            vid = call("create_vocabulary", target_model="fun-asr", prefix="warm", vocabulary=terms(i))["vocabulary_id"]
            call("query_vocabulary", vocabulary_id=vid)
            call("update_vocabulary", vocabulary_id=vid, vocabulary=terms(-i))
            call("list_vocabulary", prefix="warm")
            call("delete_vocabulary", vocabulary_id=vid)


def bench_backend(label: str, server: Server, total: int) -> list[dict[str, object]]:
    key = server.create_key("bench")
    ids: list[str] = []

    def create_body(i: int) -> dict[str, object]:
        return {"model": "speech-biasing", "input": {"action": "create_vocabulary", "target_model": "fun-asr",
                                                      "prefix": "bench", "vocabulary": terms(i)}}

    warm_up(server)
    results = [
        run_phase("create 500 terms @50 req/s", server, key, total // 4, create_body, rate=50.0),
        run_phase("create 500 terms flat out", server, key, total // 2, lambda i: create_body(total + i)),
    ]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        page = 0
        while True:
            body = {"model": "speech-biasing",
                    "input": {"action": "list_vocabulary", "page_index": page, "page_size": 100}}
            batch = http.post(PATH, json=body).json()["output"]["vocabulary_list"]
            if not batch:
                break
            ids.extend(v["vocabulary_id"] for v in batch)
            page += 1

    def query_body(i: int) -> dict[str, object]:
        return {"model": "speech-biasing", "input": {"action": "query_vocabulary", "vocabulary_id": ids[i % len(ids)]}}

    def update_body(i: int) -> dict[str, object]:
        return {"model": "speech-biasing", "input": {"action": "update_vocabulary",
                                                      "vocabulary_id": ids[i % len(ids)], "vocabulary": terms(-i)}}

    results.append(run_phase("query @200 req/s", server, key, total, query_body, rate=200.0))
    results.append(run_phase("query flat out", server, key, total, query_body))
    results.append(run_phase("update 500 terms @50 req/s", server, key, total // 4, update_body, rate=50.0))
    results.append(run_phase("update 500 terms flat out", server, key, total // 2, update_body))
    for r in results:
        r["backend"] = label
    return results


def scheduling_jitter(seconds: float = 5.0) -> dict[str, float | None]:
    """How late this machine wakes a thread that sleeps 1 ms, idle: the floor under any p99 here.

    A virtual machine whose cores the host takes away now and then shows it as late wake-ups of
    tens of milliseconds; requests in flight at such a moment wait as long, whatever the server."""
    late: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        time.sleep(0.001)
        late.append(time.perf_counter() - t0 - 0.001)
    return {"p50_ms": _p(late, 0.5, 1000), "p99_ms": _p(late, 0.99, 1000), "max_ms": round(max(late) * 1000, 1)}


def pin(server: Server) -> None:
    """Server (all its threads) on core 0, this process and the clients it forks on core 1."""
    assert server.process is not None
    for thread in os.listdir(f"/proc/{server.process.pid}/task"):
        os.sched_setaffinity(int(thread), {0})
    os.sched_setaffinity(0, {1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--pin", action="store_true", help="server on core 0, clients on core 1 (Linux)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated, in this order")
    parser.add_argument("--out", type=Path, default=Path("bench/out/vocab_api.json"))
    args = parser.parse_args()
    backends = args.backends.split(",")
    env = {
        "HOTASR_MAX_VOCABULARIES_PER_ACCOUNT": "100000",  # the bench creates hundreds of lists
        "HOTASR_KEY_REQUESTS_PER_SECOND": "0",  # measure the server, not the per-key rate limit
    }
    results: list[dict[str, object]] = []
    jitter = scheduling_jitter()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = PostgresCluster()
        pg_url = create_database(cluster.start())
        try:
            for label in backends:
                db_url = {"sqlite": None, "postgresql": pg_url}[label]
                server = Server(Path(tmp) / label, db_url, env=env).start()
                if args.pin:
                    pin(server)
                try:
                    results += bench_backend(label, server, args.requests)
                finally:
                    server.stop()
        finally:
            cluster.stop()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    where = "pinned: server on core 0, clients on core 1" if args.pin else "sharing both cores"
    print(f"machine: {machine}; {CLIENTS} concurrent clients on the same machine ({where})")
    print(f"idle machine, late wake-up of a 1 ms sleep: p50 {jitter['p50_ms']} ms, p99 {jitter['p99_ms']} ms, "
          f"max {jitter['max_ms']} ms\n")
    print("| backend | phase | requests | errors | client p50 ms | client p99 ms | server p50 ms | "
          "server p99 ms | req/s | server CPU ms/req |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['phase']} | {r['requests']} | {r['errors']} | {r['p50_ms']} | "
              f"{r['p99_ms']} | {r['server_p50_ms']} | {r['server_p99_ms']} | {r['req_per_s']} | "
              f"{r['server_cpu_ms_per_request']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "scheduling_jitter": jitter, "results": results}, indent=2))


if __name__ == "__main__":
    main()
