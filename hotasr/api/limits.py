"""Per-key limits: requests per second (token bucket), concurrent real-time streams and open
real-time connections.

Kept in process memory: with several API replicas behind a load balancer each replica enforces
the limits on its own share of the traffic.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = max(1, burst)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, key_id: str) -> bool:
        if self.per_second <= 0:  # 0 disables the limit
            return True
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(float(self.burst), now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
            bucket.updated = now
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True


class KeyLimiter:
    """At most `per_key` of something held at once per API key (0: no limit): real-time streams,
    open real-time connections."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> bool:
        with self._lock:
            if self.per_key > 0 and self._open[key_id] >= self.per_key:
                return False
            self._open[key_id] += 1
            return True

    def release(self, key_id: str) -> None:
        with self._lock:
            left = self._open[key_id] - 1
            if left > 0:
                self._open[key_id] = left
            else:  # no entry kept for keys that hold nothing
                del self._open[key_id]


StreamLimiter = KeyLimiter  # concurrent real-time streams per key (settings.key_max_streams)
