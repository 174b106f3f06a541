"""A small client for a hotasr (or DashScope) server's HTTP API, used by the CLI."""

from __future__ import annotations

from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"


class ServerError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message


def checked_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 200 answer; ServerError with DashScope's code and message otherwise."""
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code != 200:
        raise ServerError(
            response.status_code,
            str(payload.get("code", f"HTTP{response.status_code}")),
            str(payload.get("message", response.text[:200])),
        )
    return payload


class Client:
    def __init__(self, server: str, api_key: str, timeout: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=server.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ServerError(0, "", f"cannot reach {self._http.base_url}: {exc}") from None
        return checked_json(response).get("output") or {}

    def vocabulary(self, action: str, **fields: Any) -> dict[str, Any]:
        return self._post(
            "/api/v1/services/audio/asr/customization",
            {"model": "speech-biasing", "input": {"action": action, **fields}},
        )
