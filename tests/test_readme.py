"""The README's set-up, followed literally: `bin/hotasr` reaches the database `make serve` serves."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.servers import HANG_S, REPO, die_with_parent, free_port, heavy


def test_a_key_made_with_bin_hotasr_works_on_the_server_make_serve_starts(tmp_path: Path) -> None:
    heavy("a server process")
    checkout = tmp_path / "checkout"  # a checkout of its own, so the real ./var is left alone
    (checkout / "bin").mkdir(parents=True)
    shutil.copy2(REPO / "bin" / "hotasr", checkout / "bin" / "hotasr")
    (checkout / ".venv").symlink_to(REPO / ".venv")
    shim = str(checkout / "bin" / "hotasr")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTASR_")}
    env["HOTASR_MODEL_CACHE_DIR"] = str(REPO / "var" / "cache")  # the weights, not the data
    env["HOTASR_PRELOAD_MODELS"] = "0"

    # As the README has it: `make serve` (which runs `bin/hotasr serve`), then a key from the shell.
    port = free_port()
    server = subprocess.Popen([shim, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + HANG_S
        while True:  # the user waits for "serving on ..." before opening another shell
            try:
                httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.ConnectError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        key = subprocess.run([shim, "keys", "create", "--account", "newcomer"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=True).stdout.strip()
        assert (checkout / "var" / "data" / "hotasr.db").is_file()
        response = httpx.post(f"http://127.0.0.1:{port}/api/v1/services/audio/asr/customization",
                              json={"model": "speech-biasing", "input": {"action": "list_vocabulary"}},
                              headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_bin_hotasr_says_what_to_run_before_the_install(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    shutil.copy2(REPO / "bin" / "hotasr", tmp_path / "bin" / "hotasr")
    result = subprocess.run([str(tmp_path / "bin" / "hotasr"), "keys", "list"], capture_output=True, text=True)
    assert result.returncode == 1 and "make install" in result.stderr
