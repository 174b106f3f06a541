"""The speaker-embedding model: Resemblyzer's pretrained GE2E voice encoder, run in numpy.

Why this module exists: diarization needs a speaker embedding, and the server must stay free of
PyTorch (a plain `torch` requirement pulls gigabytes of CUDA wheels). The PyPI package
`resemblyzer` 0.1.4 (Apache-2.0) ships the pretrained encoder as `resemblyzer/pretrained.pt`
(17 MB, a legacy-format PyTorch checkpoint) but declares torch as a dependency; it is installed
with `pip install --no-deps resemblyzer==0.1.4` and is never imported (importing it would import
torch). This module reads the checkpoint with a restricted unpickler that builds numpy arrays,
converts it ONCE into `<model_cache_dir>/speaker-ge2e/weights.npz` (checked by size and SHA-256,
like the Whisper weights in hotasr.engine.weights), and computes the embeddings in numpy:

    40 mel bands (power, NOT log) of 25 ms windows every 10 ms at 16 kHz (librosa's defaults:
    centred Hann STFT of 400 points, Slaney mel filters) -> 3-layer LSTM of 256 units -> the last
    layer's final hidden state -> linear 256->256 -> ReLU -> L2 normalisation.

The LSTM, nearly all of the cost, runs as ONNX Runtime's `LSTM` operator (onnxruntime already ships
with faster-whisper), in a graph built from the converted weights once per process: its compiled
recurrence takes about half the time of the same arithmetic stepped from Python. The numpy LSTM
(`embed_reference`), the one checked against the torch original, stays as the reference it is
tested against.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import pickle
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hotasr.engine.weights import WeightsError, _atomic_write, _file_lock, _sha256, matches_marker

log = logging.getLogger(__name__)

PACKAGE = "resemblyzer"
INSTALL = "pip install --no-deps resemblyzer==0.1.4"
CHECKPOINT_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
CACHE_NAME = "speaker-ge2e"
_MARKER = "hotasr-converted.json"

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
HIDDEN = 256
LAYERS = 3
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_OPSET = 17
_IR_VERSION = 8  # the newest `onnx` writes IR versions older onnxruntime releases refuse

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


# -- reading the checkpoint without torch ------------------------------------------------------


class _Storage:
    """A tensor storage whose bytes come after the pickle (legacy format); filled in later."""

    def __init__(self, dtype: npt.DTypeLike) -> None:
        self.dtype = np.dtype(dtype)
        self.data: np.ndarray | None = None


@dataclass(slots=True)
class _LazyTensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        assert data is not None
        item = data.itemsize
        base = data[self.offset :]
        out = np.lib.stride_tricks.as_strided(base, self.shape, tuple(s * item for s in self.stride))
        return np.array(out)  # a compact copy


def _rebuild_tensor(storage: _Storage, offset: int, shape: Any, stride: Any, *_: Any) -> _LazyTensor:
    return _LazyTensor(storage, int(offset), tuple(shape), tuple(stride))


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


class _Unpickler(pickle.Unpickler):
    """Builds only what a state dict holds: tensors, ordered dicts and plain values."""

    def __init__(self, f: io.BufferedIOBase, storages: dict[str, _Storage]) -> None:
        super().__init__(f)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"pretrained.pt refers to {module}.{name}, which a weights file never needs")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, _numel, *_ = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r} in pretrained.pt")
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[storage_type.name])
        return self.storages[key]


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The `model_state` of a legacy-format (pre-1.6, non-zip) PyTorch checkpoint, as numpy."""
    with path.open("rb") as f:
        magic = pickle.load(f)
        if magic != _LEGACY_MAGIC:
            raise WeightsError(f"{path} is not a legacy PyTorch checkpoint (magic {magic!r})")
        pickle.load(f)  # protocol version
        pickle.load(f)  # sys info
        storages: dict[str, _Storage] = {}
        result = _Unpickler(f, storages).load()
        keys = pickle.load(f)
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * storage.dtype.itemsize)
            if len(raw) != numel * storage.dtype.itemsize:
                raise WeightsError(f"{path} is truncated (storage {key})")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    state = result["model_state"] if isinstance(result, dict) and "model_state" in result else result
    return {name: t.array() for name, t in state.items() if isinstance(t, _LazyTensor)}


# -- the converted weights in the model cache ---------------------------------------------------


def checkpoint_path() -> Path:
    """resemblyzer's pretrained.pt, found without importing the package (which imports torch)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"the speaker-embedding model is not installed (diarization needs it): {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise WeightsError(f"package {PACKAGE!r} is installed but has no pretrained.pt; reinstall: {INSTALL}")
    return path


def converted_weights(cache_dir: Path) -> Path:
    """`<cache_dir>/speaker-ge2e/weights.npz`, converted from pretrained.pt on first use and
    verified against its marker (size and SHA-256) on each process's first use."""
    target = Path(cache_dir) / CACHE_NAME
    npz = target / "weights.npz"
    if _is_complete(target, npz):
        return npz
    source = checkpoint_path()
    target.mkdir(parents=True, exist_ok=True)
    with _file_lock(target / "convert.lock"):
        if _is_complete(target, npz):
            return npz
        digest = _sha256(source)
        if digest != CHECKPOINT_SHA256:
            raise WeightsError(
                f"{source} has SHA-256 {digest}, not resemblyzer 0.1.4's {CHECKPOINT_SHA256}; reinstall: {INSTALL}"
            )
        log.info("converting the speaker-embedding model %s into %s (once)", source, npz)
        state = read_checkpoint(source)
        buffer = io.BytesIO()
        np.savez(buffer, **state)  # type: ignore[arg-type]  # numpy's stub: keyword arrays are allowed
        data = buffer.getvalue()
        _atomic_write(npz, data)
        marker = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "source_sha256": digest}
        _atomic_write(target / _MARKER, json.dumps(marker, indent=1).encode())
    if not _is_complete(target, npz):
        raise WeightsError(f"converted speaker-embedding weights in {target} failed verification")
    return npz


def _is_complete(target: Path, npz: Path) -> bool:
    return matches_marker(npz, target / _MARKER)


# -- the encoder ---------------------------------------------------------------------------------


def _mel_filters() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney scale and Slaney norm."""

    def hz_to_mel(f: npt.ArrayLike) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        mels = f / (200.0 / 3)
        log_region = f >= 1000.0
        return np.where(log_region, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mels)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        freqs = (200.0 / 3) * m
        log_region = m >= 15.0
        return np.where(log_region, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), freqs)

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights.astype(np.float32)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """(n_frames, 40) mel power frames of float32 16 kHz `samples`, frame i centred on i*10 ms."""
    x = np.pad(np.asarray(samples, dtype=np.float32), N_FFT // 2)  # centred frames, zero padding
    n = 1 + (len(x) - N_FFT) // HOP
    if n <= 0:
        return np.zeros((0, N_MELS), np.float32)
    frames = np.lib.stride_tricks.as_strided(x, (n, N_FFT), (x.strides[0] * HOP, x.strides[0]))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power.astype(np.float32) @ _filters().T).astype(np.float32)


@lru_cache(maxsize=1)
def _filters() -> np.ndarray:
    return _mel_filters()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings, same values


class SpeakerEncoder:
    """GE2E embeddings of fixed-length mel windows, computed in batches."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        try:
            self.layers = [
                (
                    np.ascontiguousarray(weights[f"lstm.weight_ih_l{k}"].T, dtype=np.float32),
                    np.ascontiguousarray(weights[f"lstm.weight_hh_l{k}"].T, dtype=np.float32),
                    (weights[f"lstm.bias_ih_l{k}"] + weights[f"lstm.bias_hh_l{k}"]).astype(np.float32),
                )
                for k in range(LAYERS)
            ]
            self.linear_w = np.ascontiguousarray(weights["linear.weight"].T, dtype=np.float32)
            self.linear_b = weights["linear.bias"].astype(np.float32)
        except KeyError as exc:
            raise WeightsError(f"speaker-embedding weights lack tensor {exc.args[0]!r}") from None

        self._session = _lstm_session(weights)

    @classmethod
    def load(cls, cache_dir: Path) -> SpeakerEncoder:
        with np.load(converted_weights(cache_dir)) as data:
            return cls({k: data[k] for k in data.files})

    def embed(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel windows -> (batch, 256) L2-normalised embeddings (ONNX Runtime)."""
        x = np.ascontiguousarray(np.asarray(mels, dtype=np.float32).transpose(1, 0, 2))  # time first
        (h,) = self._session.run(None, {"mels": x})
        return self._project(h)

    def _project(self, h: np.ndarray) -> np.ndarray:
        """The last layer's final hidden states -> linear -> ReLU -> unit length."""
        raw = np.maximum(h @ self.linear_w + self.linear_b, 0.0)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norm, 1e-12)

    def embed_reference(self, mels: np.ndarray) -> np.ndarray:
        """`embed` with the LSTM stepped in numpy: slower, but plainly the torch model's maths."""
        x = np.asarray(mels, dtype=np.float32)
        batch, steps, _ = x.shape
        for w_ih, w_hh, bias in self.layers:
            # The input projection of every step at once; only the recurrence is sequential.
            pre = (x.reshape(batch * steps, -1) @ w_ih + bias).reshape(batch, steps, 4 * HIDDEN)
            h = np.zeros((batch, HIDDEN), np.float32)
            c = np.zeros((batch, HIDDEN), np.float32)
            out = np.empty((batch, steps, HIDDEN), np.float32)
            for t in range(steps):
                gates = pre[:, t] + h @ w_hh
                i = _sigmoid(gates[:, :HIDDEN])
                f = _sigmoid(gates[:, HIDDEN : 2 * HIDDEN])
                g = np.tanh(gates[:, 2 * HIDDEN : 3 * HIDDEN])
                o = _sigmoid(gates[:, 3 * HIDDEN :])
                c = f * c + i * g
                h = o * np.tanh(c)
                out[:, t] = h
            x = out
        return self._project(h)


def _onnx_gates(m: np.ndarray) -> np.ndarray:
    """torch's LSTM gate blocks (input, forget, cell, output) in ONNX's order (input, output, forget, cell)."""
    i, f, g, o = np.split(np.asarray(m, dtype=np.float32), 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def _lstm_session(weights: dict[str, np.ndarray]) -> Any:
    """An ONNX Runtime session of `_lstm_graph`. One thread, as the numpy products ran: the decoders
    own the other cores, and a worker spinning between calls would steal them."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(_lstm_graph(weights), options, providers=["CPUExecutionProvider"])


def _lstm_graph(weights: dict[str, np.ndarray]) -> bytes:
    """The 3-layer LSTM as ONNX: (frames, batch, 40) mels -> (batch, 256), the last layer's final
    hidden state."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers, x = [], [], "mels"
    for k in range(LAYERS):
        w, r = (_onnx_gates(weights[f"lstm.weight_{kind}_l{k}"])[None] for kind in ("ih", "hh"))
        b = np.concatenate([_onnx_gates(weights[f"lstm.bias_{kind}_l{k}"]) for kind in ("ih", "hh")])[None]
        names = [f"w{k}", f"r{k}", f"b{k}"]
        tensors = zip((w, r, b), names, strict=True)
        initializers += [numpy_helper.from_array(np.ascontiguousarray(t), n) for t, n in tensors]
        last = k == LAYERS - 1
        # The last layer's sequence output is not needed, only its final hidden state ("" omits it).
        outputs = ["" if last else f"y{k}", f"h{k}"]
        nodes.append(helper.make_node("LSTM", [x, *names], outputs, hidden_size=HIDDEN))
        if not last:
            x = f"x{k}"
            nodes.append(helper.make_node("Squeeze", [f"y{k}", "axis1"], [x]))  # drop num_directions
    nodes.append(helper.make_node("Squeeze", [f"h{LAYERS - 1}", "axis0"], ["hidden"]))
    initializers += [numpy_helper.from_array(np.array([a], np.int64), f"axis{a}") for a in (0, 1)]
    graph = helper.make_graph(
        nodes,
        "ge2e_lstm",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["T", "B", N_MELS])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["B", HIDDEN])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION)
    return bytes(model.SerializeToString())


_encoders: dict[str, SpeakerEncoder] = {}
_encoders_lock = threading.Lock()


def load_encoder(cache_dir: Path) -> SpeakerEncoder:
    """One encoder per cache directory per process (the weights are 17 MB)."""
    key = str(Path(cache_dir).resolve())
    with _encoders_lock:
        if key not in _encoders:
            _encoders[key] = SpeakerEncoder.load(Path(cache_dir))
        return _encoders[key]
