"""Configuration: one TOML file plus HOTASR_* variables (which win), and `serve --host/--port`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hotasr.config import Settings
from tests.servers import Server

TOML = """
port = 9123
max_vocabularies_per_account = 3
database_url = "sqlite:////tmp/from-toml.db"

[models.fun-asr]
weights = "whisper-tiny.en"
"""


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hotasr.toml"
    config.write_text(TOML)
    monkeypatch.setenv("HOTASR_CONFIG", str(config))
    monkeypatch.setenv("HOTASR_MAX_VOCABULARIES_PER_ACCOUNT", "7")  # the environment beats the file
    settings = Settings()
    assert settings.port == 9123
    assert settings.max_vocabularies_per_account == 7
    assert settings.resolved_database_url == "sqlite:////tmp/from-toml.db"
    assert list(settings.models) == ["fun-asr"] and settings.models["fun-asr"].weights == "whisper-tiny.en"
    assert not settings.is_served("paraformer-v2")
    assert Settings(port=1234).port == 1234  # explicit values (the CLI flags) beat both


def test_serve_reads_the_toml_file_and_flags_override_it(tmp_path: Path) -> None:
    config = tmp_path / "hotasr.toml"
    config.write_text("port = 1\nmax_vocabularies_per_account = 1\n")
    server = Server(tmp_path / "data", env={"HOTASR_CONFIG": str(config)}).start()  # --port beats port = 1
    try:
        key = server.create_key("toml")
        body = {"model": "speech-biasing", "input": {"action": "create_vocabulary", "target_model": "fun-asr",
                                                      "prefix": "t", "vocabulary": [{"text": "x", "weight": 1}]}}
        headers = {"Authorization": f"Bearer {key}"}
        path = server.url + "/api/v1/services/audio/asr/customization"
        assert httpx.post(path, json=body, headers=headers).status_code == 200
        second = httpx.post(path, json=body, headers=headers)  # the file's quota of 1 applies
        assert second.status_code == 429 and "already has 1 hotword lists" in second.json()["message"]
    finally:
        server.stop()
