"""HMAC-signed, expiring URLs: result files are readable without the API key (users fetch them with
urllib, docs/dashscope-protocol.md §5.3), so the signature is what keeps them private."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import urlencode

from hotasr.config import Settings

SECRET_FILE = "url_signing_secret"


def load_secret(settings: Settings) -> bytes:
    """settings.url_signing_secret, else a random key generated once into data_dir."""
    if settings.url_signing_secret:
        return settings.url_signing_secret.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must end up with the same key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def signature(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_path(secret: bytes, path: str, expires: int) -> str:
    """`path?Expires=…&Signature=…` for an absolute path such as /api/v1/results/…"""
    query = urlencode({"Expires": expires, "Signature": signature(secret, f"{path}\n{expires}")})
    return f"{path}?{query}"


def verify_path(secret: bytes, path: str, expires: str | None, sig: str | None, now: float) -> bool:
    if not expires or not sig or not expires.isdigit() or int(expires) < now:
        return False
    return hmac.compare_digest(signature(secret, f"{path}\n{expires}"), sig)
