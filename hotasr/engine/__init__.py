"""Speech engines: `load_engine(route, settings)` returns a cached, thread-safe `Engine`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from hotasr.config import ModelRoute, Settings
from hotasr.engine.base import BIASING_MODES, SAMPLE_RATE, BiasingMode, DecodeCancelled, Engine, EngineError
from hotasr.engine.request import CancelToken, DecodeKind, DecodeRequest

__all__ = [
    "BIASING_MODES",
    "SAMPLE_RATE",
    "BiasingMode",
    "CancelToken",
    "DecodeCancelled",
    "DecodeKind",
    "DecodeRequest",
    "Engine",
    "EngineError",
    "load_engine",
]

_EngineKey = tuple[str, str, str, int]
_engines: dict[_EngineKey, Engine] = {}
_key_locks: dict[_EngineKey, threading.Lock] = {}
_lock = threading.Lock()


def _build_whisper(route: ModelRoute, settings: Settings) -> Engine:
    from hotasr.engine.whisper import WhisperEngine

    return WhisperEngine.from_route(route, settings)


_FACTORIES: dict[str, Callable[[ModelRoute, Settings], Engine]] = {"whisper": _build_whisper}


def load_engine(route: ModelRoute, settings: Settings) -> Engine:
    """The engine for `route`, built once per (engine, weights, options, threads) and shared by all callers."""
    factory = _FACTORIES.get(route.engine)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise EngineError(f"unknown engine {route.engine!r} (known: {known})")
    key = (route.engine, route.weights, json.dumps(route.options, sort_keys=True, default=str), settings.engine_threads)
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        key_lock = _key_locks.setdefault(key, threading.Lock())
    # Load outside the global lock: a slow first load of one model must not block the others.
    with key_lock:
        with _lock:
            engine = _engines.get(key)
        if engine is None:
            engine = factory(route, settings)
            with _lock:
                _engines[key] = engine
    return engine
