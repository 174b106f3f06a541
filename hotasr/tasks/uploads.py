"""Temporary uploads in the shape of DashScope's OSS upload policy (docs/dashscope-protocol.md §8): the API hands out a
signed policy for a fresh directory of the caller's account, the multipart POST is checked
against it, and the file becomes `oss://<key>`, usable in file_urls by that account only."""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from hotasr.errors import AccessDenied, AlreadyExists, InvalidParameter, RequestTooLarge
from hotasr.hotwords import show
from hotasr.storage.files import FILE_MODE, private_dir
from hotasr.tasks.results import UPLOAD_TTL_SECONDS, ResultStore
from hotasr.tasks.signing import signature

POLICY_SECONDS = 3600
ACCESS_KEY_ID = "hotasr"


@dataclass(frozen=True, slots=True)
class Policy:
    upload_dir: str
    account_id: int
    expires: int
    max_bytes: int


def issue_policy(secret: bytes, account_id: int, max_bytes: int, upload_host: str) -> dict[str, Any]:
    """The `data` of a getPolicy answer, with the field names the SDK's oss_utils reads."""
    upload_dir = f"uploads/{account_id}/{secrets.token_hex(16)}"
    expires = int(time.time()) + POLICY_SECONDS
    document = {"upload_dir": upload_dir, "account_id": account_id, "expires": expires, "max_bytes": max_bytes}
    policy = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
    return {
        "policy": policy,
        "signature": signature(secret, f"upload\n{policy}"),
        "upload_dir": upload_dir,
        "upload_host": upload_host,
        "oss_access_key_id": ACCESS_KEY_ID,
        "x_oss_object_acl": "private",
        "x_oss_forbid_overwrite": "true",
        "expire_in_seconds": POLICY_SECONDS,
        "max_file_size_mb": max(1, max_bytes // (1024 * 1024)),
        "capacity_limit_mb": max(1, max_bytes // (1024 * 1024)),
        "retention_hours": UPLOAD_TTL_SECONDS // 3600,
    }


def check_policy(secret: bytes, policy: str, sig: str, key: str, now: float) -> Policy:
    if not policy or not sig or not hmac.compare_digest(signature(secret, f"upload\n{policy}"), sig):
        raise AccessDenied("The upload policy signature is invalid.")
    try:
        document = json.loads(base64.b64decode(policy))
        parsed = Policy(document["upload_dir"], int(document["account_id"]), int(document["expires"]),
                        int(document["max_bytes"]))
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter("The upload policy is malformed.") from None
    if parsed.expires < now:
        raise AccessDenied("The upload policy has expired; ask for a new one.")
    prefix = parsed.upload_dir + "/"
    name = key[len(prefix):] if key.startswith(prefix) else ""
    if not _storable_name(name):
        raise InvalidParameter(f"key must be {prefix}<file name>, got {show(key)}.")
    return parsed


def _storable_name(name: str) -> bool:
    """Whether `name` can be one file name on disk: no separators, no NUL, UTF-8, at most 255 bytes."""
    try:
        encoded = name.encode("utf-8")  # a lone surrogate (a utf-7 multipart charset) has no file name
    except UnicodeEncodeError:
        return False
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00") and len(encoded) <= 255


def new_upload_key(account_id: int, filename: str) -> str:
    """A fresh key for a file sent straight to `POST /api/v1/uploads` (the one-step form)."""
    name = Path(filename or "audio").name.replace("\\", "_") or "audio"
    if not _storable_name(name):
        name = "audio"
    return f"uploads/{account_id}/{secrets.token_hex(16)}/{name}"


def store_upload(results: ResultStore, key: str, source: BinaryIO, max_bytes: int) -> int:
    """Copy `source` to the store under `key`; returns its size. Refuses overwrites and oversize files."""
    target: Path = results.upload_path(key)
    if target.exists():
        raise AlreadyExists(f"{key} already exists.")
    private_dir(target.parent)
    partial = target.with_name(f".part-{secrets.token_hex(4)}")
    size = 0
    try:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as out:
            while chunk := source.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise RequestTooLarge(f"The file is larger than {max_bytes} bytes.")
                out.write(chunk)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return size
