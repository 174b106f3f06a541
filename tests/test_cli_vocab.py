"""`hotasr vocab` and `hotasr keys` as a user runs them, against the real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.servers import Server


@pytest.fixture(scope="module")
def run(server: Server):  # type: ignore[no-untyped-def]
    key = server.create_key("cli")

    def run(*args: str, check: bool = True, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return server.cli("vocab", *args, "--server", server.url, "--api-key", key, check=check, env=env)

    return run


def test_create_show_export_import_update_delete(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vid = run("create", "--target-model", "fun-asr", "--prefix", "cli", "-t", "Dashwood:5:en",
              "-t", "Elinor Dashwood").stdout.strip()
    assert vid.startswith("vocab-cli-")
    shown = json.loads(run("show", vid).stdout)
    assert shown["vocabulary"] == [{"text": "Dashwood", "weight": 5, "lang": "en"},
                                   {"text": "Elinor Dashwood", "weight": 4}]

    exported = tmp_path / "terms.json"
    run("export", vid, "-o", str(exported))
    assert json.loads(exported.read_text()) == shown["vocabulary"]
    copy = run("import", str(exported), "--target-model", "paraformer-v2", "--prefix", "copy").stdout.strip()
    assert json.loads(run("show", copy).stdout)["vocabulary"] == shown["vocabulary"]

    listed = json.loads(run("list", "--json").stdout)
    assert {v["vocabulary_id"] for v in listed} >= {vid, copy}
    # The table keeps whole ids on any terminal width (a pipe, here, as narrow as 40 columns).
    narrow = run("list", env={"COLUMNS": "40"}).stdout
    assert vid in narrow and copy in narrow and "…" not in narrow

    exported.write_text(json.dumps([{"text": "赛德克巴莱", "weight": 4, "lang": "zh"}], ensure_ascii=False))
    run("update", vid, "--file", str(exported))
    assert json.loads(run("show", vid).stdout)["vocabulary"][0]["text"] == "赛德克巴莱"

    run("delete", vid)
    run("delete", copy)
    gone = run("show", vid, check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr and "Traceback" not in gone.stderr


def test_errors_are_one_clean_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = run("create", "--target-model", "fun-asr", "--prefix", "x", "-t", "word:9", check=False)
    assert bad.returncode == 1 and 'vocabulary[0] ("word"): weight must be from 1 to 5' in bad.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run("import", str(broken), "--target-model", "fun-asr", "--prefix", "x", check=False)
    assert result.returncode == 1 and "not valid JSON" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_server_and_missing_key(server: Server) -> None:
    result = server.cli("vocab", "list", "--server", "http://127.0.0.1:9", "--api-key", "sk-x", check=False)
    assert result.returncode == 1 and "cannot reach" in result.stderr
    env_without_key = {k: v for k, v in server.env.items() if k not in ("HOTASR_API_KEY", "DASHSCOPE_API_KEY")}
    saved, server.env = server.env, env_without_key
    try:
        result = server.cli("vocab", "list", "--server", server.url, check=False)
    finally:
        server.env = saved
    assert result.returncode == 1 and "no API key" in result.stderr


def test_keys_revoke_unknown_is_an_error(server: Server) -> None:
    result = server.cli("keys", "revoke", "key-000000000000", check=False)
    assert result.returncode == 1 and "no key with id key-000000000000" in result.stderr


def test_the_command_line_loads_no_model_database_or_audio_code_until_a_command_needs_it() -> None:
    """Every `hotasr` command line imports the whole CLI; `hotasr vocab` talks HTTP only. The
    model, the database layer and audio decoding cost most of a second to import: they are
    imported by the commands that use them."""
    import subprocess
    import sys

    heavy = ("hotasr.engine", "hotasr.recognize", "hotasr.audio", "hotasr.config", "sqlalchemy", "uvicorn",
             "numpy", "faster_whisper")
    probe = f"import sys, hotasr.cli; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
