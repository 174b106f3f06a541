"""Prometheus metrics. One registry per app, so several servers in one process (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("hotasr_http_requests_total", "HTTP requests by route and status code",
                                ["route", "code"], registry=self.registry)
        self.latency = Histogram("hotasr_http_request_seconds", "HTTP request latency by route", ["route"],
                                 registry=self.registry)
        self.active_streams = Gauge("hotasr_realtime_active_streams", "Real-time recognition tasks running",
                                    registry=self.registry)
        self.decode_seconds = Counter("hotasr_decode_seconds_total", "Wall time spent decoding, by path",
                                      ["path"], registry=self.registry)
        self.model_load_seconds = Gauge("hotasr_model_load_seconds", "Time it took to load each model",
                                        ["weights"], registry=self.registry)
        self.audio_seconds = Counter("hotasr_audio_seconds_total", "Audio processed, in seconds, by path",
                                     ["path"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
