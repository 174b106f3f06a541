"""Read a CTranslate2 Whisper `model.bin` into numpy arrays (the decoder half only is used).

CTranslate2 offers no per-step logits hook for Whisper, so the biased decoder runs the Whisper
decoder itself (`decoder.py` builds it as an ONNX Runtime graph).  The weights come straight from the
CTranslate2 file, so the exact model the service already ships is reused: no torch, no download.

File format (ctranslate2/specs/model_spec.py `_serialize`, binary version >= 5), little-endian:
  u32 binary_version, str spec_name, u32 spec_revision, u32 n_variables,
  n x [str name, u8 rank, u32 dims[rank], u8 dtype_id, u32 n_bytes, bytes],
  u32 n_aliases, n x [str alias, str target]
where str = u16 length (including a trailing NUL) + bytes.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import numpy as np

# Order of ctranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES: tuple[str | None, ...] = ("float32", "int8", "int16", "int32", "float16", None)  # bfloat16 unsupported


class WeightsError(RuntimeError):
    """The model.bin cannot be read for the biased decoder."""


def _read_str(buf: memoryview, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<H", buf, pos)
    pos += 2
    text = bytes(buf[pos : pos + length - 1]).decode("utf-8")
    return text, pos + length


def read_model_bin(path: str | os.PathLike[str], prefix: str = "") -> tuple[str, dict[str, np.ndarray]]:
    """Return (spec_name, {variable name: array}) for the variables whose name starts with `prefix`.

    Arrays are views into one bytes object (no copy) except where they are converted later.
    """
    data = Path(path).read_bytes()
    buf = memoryview(data)
    (version,) = struct.unpack_from("<I", buf, 0)
    if version < 5:
        raise WeightsError(f"{path}: CTranslate2 binary version {version} is too old (need >= 5)")
    spec, pos = _read_str(buf, 4)
    pos += 4  # spec revision
    (count,) = struct.unpack_from("<I", buf, pos)
    pos += 4
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name, pos = _read_str(buf, pos)
        rank = buf[pos]
        pos += 1
        shape = struct.unpack_from(f"<{rank}I", buf, pos)
        pos += 4 * rank
        dtype_id = buf[pos]
        pos += 1
        (nbytes,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if name.startswith(prefix):
            dtype = _DTYPES[dtype_id] if dtype_id < len(_DTYPES) else None
            if dtype is None:
                raise WeightsError(f"{path}: variable {name} has unsupported dtype id {dtype_id}")
            variables[name] = np.frombuffer(
                data, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=pos
            ).reshape(shape)
        pos += nbytes
    (n_alias,) = struct.unpack_from("<I", buf, pos)
    pos += 4
    for _ in range(n_alias):
        alias, pos = _read_str(buf, pos)
        target, pos = _read_str(buf, pos)
        if alias.startswith(prefix) and target in variables:
            variables[alias] = variables[target]
    return spec, variables


_cache: dict[str, object] = {}
_cache_lock = threading.Lock()


def cached(key: str, build: object) -> object:
    """Process-wide memo keyed by a model path; `build` runs at most once per key (thread-safe)."""
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build()  # type: ignore[operator]
        return _cache[key]
