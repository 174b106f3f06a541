"""A numpy Whisper decoder with a KV cache, run on CTranslate2's own encoder output.

Why it exists: CTranslate2's `Whisper.generate` exposes no per-step logits hook, and hotword biasing
has to act on every beam-search step (a per-token bonus).  The encoder (90% of the FLOPs of a 30 s
window) still runs in CTranslate2; only the small autoregressive decoder runs here, batched over beams.

All maths is float32 (numpy has no fast fp16 GEMM); weights are converted once per model.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotasr.biasing.weights import WeightsError, cached, read_model_bin

_LN_EPS = 1e-5


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and scipy is not a dependency.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t * np.exp(-a * a)
    return sign * y


def _gelu(x: np.ndarray) -> np.ndarray:
    # CTranslate2 stores activation=3 (exact GELU) for Whisper.
    return 0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + _LN_EPS) * gamma + beta


@dataclass(frozen=True, slots=True)
class _Layer:
    sa_ln_g: np.ndarray
    sa_ln_b: np.ndarray
    sa_qkv_w: np.ndarray  # (D, 3D), already transposed for x @ W
    sa_qkv_b: np.ndarray
    sa_out_w: np.ndarray
    sa_out_b: np.ndarray
    ca_ln_g: np.ndarray
    ca_ln_b: np.ndarray
    ca_q_w: np.ndarray
    ca_q_b: np.ndarray
    ca_kv_w: np.ndarray  # (D, 2D)
    ca_kv_b: np.ndarray
    ca_out_w: np.ndarray
    ca_out_b: np.ndarray
    ff_ln_g: np.ndarray
    ff_ln_b: np.ndarray
    ff_w1: np.ndarray
    ff_b1: np.ndarray
    ff_w2: np.ndarray
    ff_b2: np.ndarray


class DecoderWeights:
    """Whisper decoder weights in float32; one instance per model file (see `load_decoder`)."""

    def __init__(self, model_bin: Path) -> None:
        spec, v = read_model_bin(model_bin, prefix="decoder/")
        if spec != "WhisperSpec":
            raise WeightsError(f"{model_bin}: expected a WhisperSpec model, got {spec}")

        def f32(name: str, transpose: bool = False) -> np.ndarray:
            a = v[f"decoder/{name}"].astype(np.float32)
            return np.ascontiguousarray(a.T) if transpose else a

        self.num_heads = int(v["decoder/num_heads"])
        self.embeddings = f32("embeddings/weight")  # (V, D); also the output projection (tied)
        proj = v.get("decoder/projection/weight")
        self.projection = (
            self.embeddings if proj is None or proj is v["decoder/embeddings/weight"] else proj.astype(np.float32)
        )
        self.positions = f32("position_encodings/encodings")
        self.ln_g = f32("layer_norm/gamma")
        self.ln_b = f32("layer_norm/beta")
        self.vocab_size, self.d_model = self.embeddings.shape
        self.max_positions = self.positions.shape[0]
        layers: list[_Layer] = []
        i = 0
        while f"decoder/layer_{i}/ffn/linear_0/weight" in v:
            p = f"layer_{i}/"
            layers.append(
                _Layer(
                    sa_ln_g=f32(p + "self_attention/layer_norm/gamma"),
                    sa_ln_b=f32(p + "self_attention/layer_norm/beta"),
                    sa_qkv_w=f32(p + "self_attention/linear_0/weight", True),
                    sa_qkv_b=f32(p + "self_attention/linear_0/bias"),
                    sa_out_w=f32(p + "self_attention/linear_1/weight", True),
                    sa_out_b=f32(p + "self_attention/linear_1/bias"),
                    ca_ln_g=f32(p + "attention/layer_norm/gamma"),
                    ca_ln_b=f32(p + "attention/layer_norm/beta"),
                    ca_q_w=f32(p + "attention/linear_0/weight", True),
                    ca_q_b=f32(p + "attention/linear_0/bias"),
                    ca_kv_w=f32(p + "attention/linear_1/weight", True),
                    ca_kv_b=f32(p + "attention/linear_1/bias"),
                    ca_out_w=f32(p + "attention/linear_2/weight", True),
                    ca_out_b=f32(p + "attention/linear_2/bias"),
                    ff_ln_g=f32(p + "ffn/layer_norm/gamma"),
                    ff_ln_b=f32(p + "ffn/layer_norm/beta"),
                    ff_w1=f32(p + "ffn/linear_0/weight", True),
                    ff_b1=f32(p + "ffn/linear_0/bias"),
                    ff_w2=f32(p + "ffn/linear_1/weight", True),
                    ff_b2=f32(p + "ffn/linear_1/bias"),
                )
            )
            i += 1
        if not layers:
            raise WeightsError(f"{model_bin}: no decoder layers found")
        self.layers = tuple(layers)


def _single_thread_blas() -> None:
    """Decoder steps are many tiny GEMMs (5 rows); a multi-threaded OpenBLAS spends more time
    waking threads than computing, up to 10x slower on a busy 2-core box.  Best effort."""
    import ctypes
    import glob

    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for lib in glob.glob(str(libs / "libscipy_openblas*.so*")):
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for sym in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads"):
            fn = getattr(handle, sym, None)
            if fn is not None:
                fn(1)
                return


def load_decoder(model_dir: str | Path) -> DecoderWeights:
    """Decoder weights for a CTranslate2 model directory, loaded once per process per path."""
    path = Path(model_dir).resolve() / "model.bin"

    def build() -> DecoderWeights:
        if os.environ.get("HOTASR_DECODER_BLAS_THREADS", "1") == "1":
            _single_thread_blas()
        return DecoderWeights(path)

    return cached(str(path), build)  # type: ignore[return-value]


class DecoderState:
    """KV caches for a batch of hypotheses decoding against one encoder output."""

    def __init__(self, w: DecoderWeights, encoder_out: np.ndarray, batch: int, max_len: int) -> None:
        self.w = w
        h = w.num_heads
        dh = w.d_model // h
        self.length = 0
        self.rows = 1  # active hypotheses; the cache is allocated for `batch` once, never regrown
        self.k = np.zeros((len(w.layers), batch, h, max_len, dh), np.float32)
        self.v = np.zeros_like(self.k)
        # Cross-attention keys/values are computed once per window and shared by every beam.
        t = encoder_out.shape[0]
        self.ck: list[np.ndarray] = []
        self.cv: list[np.ndarray] = []
        for layer in w.layers:
            kv = encoder_out @ layer.ca_kv_w + layer.ca_kv_b  # (T, 2D)
            kv = kv.reshape(t, 2, h, dh)
            self.ck.append(np.ascontiguousarray(kv[:, 0].transpose(1, 2, 0)))  # (H, dh, T)
            self.cv.append(np.ascontiguousarray(kv[:, 1].transpose(1, 0, 2)))  # (H, T, dh)

    def reorder(self, origins: np.ndarray) -> None:
        """Row i continues row origins[i] (rows may grow up to the allocated batch); only rows
        whose history changed are copied, and only the filled part of the cache."""
        n = origins.shape[0]
        if n > self.k.shape[1]:
            raise ValueError(f"{n} hypotheses exceed the allocated batch {self.k.shape[1]}")
        changed = np.nonzero(origins != np.arange(n))[0]
        if changed.size:
            t = self.length
            src = origins[changed]
            # The right-hand fancy index makes a copy first, so overlapping rows are safe.
            self.k[:, changed, :, :t] = self.k[:, src, :, :t]
            self.v[:, changed, :, :t] = self.v[:, src, :, :t]
        self.rows = n

    def forward(self, tokens: np.ndarray, positions: list[int] | None = None) -> np.ndarray:
        """Feed tokens (B, S) after the cached prefix; return the logits of the last position
        (B, V), or of the given positions (B, len(positions), V).  Projecting only the rows that are
        needed matters for long prompts (previous-text conditioning: up to ~220 tokens)."""
        w = self.w
        b, s = tokens.shape
        h = w.num_heads
        dh = w.d_model // h
        t0 = self.length
        x = w.embeddings[tokens] + w.positions[t0 : t0 + s]  # (B, S, D)
        scale = np.float32(1.0 / math.sqrt(dh))
        # Causal mask, only needed when several positions are fed at once (the prompt).
        mask = np.triu(np.full((s, t0 + s), -np.inf, np.float32), k=t0 + 1) if s > 1 else None
        for li, layer in enumerate(w.layers):
            y = _layer_norm(x, layer.sa_ln_g, layer.sa_ln_b)
            qkv = (y @ layer.sa_qkv_w + layer.sa_qkv_b).reshape(b, s, 3, h, dh)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3) * scale  # (B, H, S, dh)
            self.k[li, :b, :, t0 : t0 + s] = qkv[:, :, 1].transpose(0, 2, 1, 3)
            self.v[li, :b, :, t0 : t0 + s] = qkv[:, :, 2].transpose(0, 2, 1, 3)
            k = self.k[li, :b, :, : t0 + s]
            vv = self.v[li, :b, :, : t0 + s]
            att = q @ k.transpose(0, 1, 3, 2)  # (B, H, S, T)
            if mask is not None:
                att = att + mask
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            o = (att @ vv).transpose(0, 2, 1, 3).reshape(b, s, w.d_model)
            x = x + (o @ layer.sa_out_w + layer.sa_out_b)

            y = _layer_norm(x, layer.ca_ln_g, layer.ca_ln_b)
            # Heads first, (beam x position) as rows: one GEMM per head instead of one GEMV per
            # (beam, head) pair against the shared encoder keys.
            q = (y @ layer.ca_q_w + layer.ca_q_b).reshape(b * s, h, dh).transpose(1, 0, 2) * scale
            att = q @ self.ck[li]  # (H, B*S, T_enc)
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            o = (att @ self.cv[li]).transpose(1, 0, 2).reshape(b, s, w.d_model)
            x = x + (o @ layer.ca_out_w + layer.ca_out_b)

            y = _layer_norm(x, layer.ff_ln_g, layer.ff_ln_b)
            x = x + (_gelu(y @ layer.ff_w1 + layer.ff_b1) @ layer.ff_w2 + layer.ff_b2)
        self.length = t0 + s
        x = _layer_norm(x, w.ln_g, w.ln_b)
        if positions is not None:
            return x[:, positions] @ w.projection.T
        return x[:, -1] @ w.projection.T
