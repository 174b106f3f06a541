"""Transcribe local files on a remote hotasr server: upload (docs/dashscope-protocol.md §8 policy flow), submit one
task, poll it, and fetch every transcript. Backs `hotasr transcribe --server URL FILE`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from hotasr.client import ServerError, checked_json
from hotasr.tasks.models import FINISHED, UNKNOWN

DONE = FINISHED | {UNKNOWN}  # polling stops: the task ended, or the server no longer knows it
_POLL_SECONDS = (0.5, 1, 1, 2, 2, 3, 5)


def transcribe_remote(
    server: str,
    api_key: str,
    paths: Sequence[str | Path],
    *,
    model: str = "fun-asr",
    vocabulary_id: str | None = None,
    language_hints: Sequence[str] | None = None,
    timeout: float | None = None,
    on_status: Callable[[str], None] | None = None,
    extra_parameters: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One dict per path, in order: the transcript JSON of docs/dashscope-protocol.md §5.3 (plus "warnings" when there
    are any), or `{"file_url", "subtask_status": "FAILED", "code", "message"}` for a failed file.

    Raises hotasr.client.ServerError when the server refuses a request (bad key, unknown model,
    unknown vocabulary) or `timeout` seconds pass; FileNotFoundError for a missing local file.
    `extra_parameters` go into the request's `parameters` as given (e.g. diarization_enabled).
    """
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
    base = server.rstrip("/")
    try:
        return _transcribe(
            base, api_key, files, model, vocabulary_id, language_hints, timeout, on_status, extra_parameters or {}
        )
    except httpx.HTTPError as exc:
        raise ServerError(0, "", f"cannot reach {base}: {exc}") from None


def _transcribe(
    base: str,
    api_key: str,
    files: list[Path],
    model: str,
    vocabulary_id: str | None,
    language_hints: Sequence[str] | None,
    timeout: float | None,
    on_status: Callable[[str], None] | None,
    extra_parameters: dict[str, Any],
) -> list[dict[str, Any]]:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=120) as http:
        urls = [_upload(http, path, model) for path in files]
        parameters: dict[str, Any] = dict(extra_parameters)
        if vocabulary_id:
            parameters["vocabulary_id"] = vocabulary_id
        if language_hints:
            parameters["language_hints"] = list(language_hints)
        submitted = checked_json(
            http.post(
                "/api/v1/services/audio/asr/transcription",
                json={"model": model, "input": {"file_urls": urls}, "parameters": parameters},
                headers={"X-DashScope-Async": "enable"},
            )
        )
        task_id = submitted["output"]["task_id"]
        output = _wait(http, task_id, timeout, on_status)
        if output["task_status"] not in ("SUCCEEDED", "FAILED"):
            raise ServerError(200, output["task_status"], f"task {task_id} ended {output['task_status']}")
        results = []
        for item in output.get("results", []):
            if item.get("subtask_status") == "SUCCEEDED" and item.get("transcription_url"):
                # The signed URL needs no key; a plain client keeps the API key off other hosts.
                results.append(checked_json(httpx.get(item["transcription_url"], timeout=120)))
            else:
                results.append(item)
        return results


def _upload(http: httpx.Client, path: Path, model: str) -> str:
    policy = checked_json(http.get("/api/v1/uploads", params={"action": "getPolicy", "model": model}))["data"]
    key = f"{policy['upload_dir']}/{path.name}"
    form = {
        "OSSAccessKeyId": policy["oss_access_key_id"],
        "Signature": policy["signature"],
        "policy": policy["policy"],
        "key": key,
        "x-oss-object-acl": policy["x_oss_object_acl"],
        "x-oss-forbid-overwrite": policy["x_oss_forbid_overwrite"],
        "success_action_status": "200",
    }
    with path.open("rb") as data:
        checked_json(httpx.post(policy["upload_host"], data=form, files={"file": (path.name, data)}, timeout=3600))
    return f"oss://{key}"


def _wait(
    http: httpx.Client, task_id: str, timeout: float | None, on_status: Callable[[str], None] | None
) -> dict[str, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    step = 0
    last = None
    while True:
        output = checked_json(http.get(f"/api/v1/tasks/{task_id}"))["output"]
        if on_status and output["task_status"] != last:
            on_status(output["task_status"])
        last = output["task_status"]
        if last in DONE:
            return output
        if deadline is not None and time.monotonic() > deadline:
            raise ServerError(408, "WaitTaskTimeout", f"task {task_id} still {last} after {timeout:g} s")
        time.sleep(_POLL_SECONDS[min(step, len(_POLL_SECONDS) - 1)])
        step += 1
