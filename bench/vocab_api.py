"""Hotword-list API benchmark: SQLite and PostgreSQL side by side, 16 concurrent clients.

Measures create / query / update of 500-term lists: latency p50/p99 and requests per second, both
paced (query at a fixed 200 req/s offered load, the goal's condition) and flat out.

    .venv/bin/python bench/vocab_api.py [--requests 800] [--pin] [--out bench/out/vocab_api.json]

--pin (Linux) puts the API server on core 0 and the client threads on core 1, a stand-in for
clients on another machine: without it the 16 client threads compete with the server for cores.

Starts its own servers (a private PostgreSQL cluster like the tests) on loopback ports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
    """`total` requests over CLIENTS threads; with `rate`, requests are offered at that rate overall.

    Latency is taken twice: by the clients (what a caller on this machine waits, including the
    time the 16 client threads wait for a core the server is using) and by the server itself
    (arrival to response, from its access log: what the service costs, whoever calls it)."""
    url = server.url
    log_from = len(server.output)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))
    start = time.perf_counter()

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                if rate:  # open-loop pacing: request i is due at start + i / rate
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                t0 = time.perf_counter()
                response = http.post(PATH, json=body_for(i))
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code != 200

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
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
        "req_per_s": round(total / wall, 1),
        "offered_req_per_s": rate,
    }


def _p(values: list[float], q: float, scale: float = 1.0) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, int(len(ordered) * q + 0.5) - 1)] * scale, 1)


def bench_backend(label: str, server: Server, total: int) -> list[dict[str, object]]:
    key = server.create_key("bench")
    ids: list[str] = []
    ids_lock = threading.Lock()

    def create_body(i: int) -> dict[str, object]:
        return {"model": "speech-biasing", "input": {"action": "create_vocabulary", "target_model": "fun-asr",
                                                      "prefix": "bench", "vocabulary": terms(i)}}

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
            with ids_lock:
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


def pin(server: Server) -> None:
    """Server (all its threads) on core 0, this process (the clients) on core 1."""
    assert server.process is not None
    for thread in os.listdir(f"/proc/{server.process.pid}/task"):
        os.sched_setaffinity(int(thread), {0})
    os.sched_setaffinity(0, {1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--pin", action="store_true", help="server on core 0, clients on core 1 (Linux)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/vocab_api.json"))
    args = parser.parse_args()
    env = {
        "HOTASR_MAX_VOCABULARIES_PER_ACCOUNT": "100000",  # the bench creates hundreds of lists
        "HOTASR_KEY_REQUESTS_PER_SECOND": "0",  # measure the server, not the per-key rate limit
    }
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cluster = PostgresCluster()
        pg_url = create_database(cluster.start())
        try:
            for label, db_url in (("sqlite", None), ("postgresql", pg_url)):
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
    print(f"machine: {machine}; {CLIENTS} concurrent clients on the same machine ({where})\n")
    print("| backend | phase | requests | errors | client p50 ms | client p99 ms | server p50 ms | "
          "server p99 ms | req/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['phase']} | {r['requests']} | {r['errors']} | {r['p50_ms']} | "
              f"{r['p99_ms']} | {r['server_p50_ms']} | {r['server_p99_ms']} | {r['req_per_s']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
