"""The Whisper decoder as an ONNX Runtime graph, built from CTranslate2's `model.bin`.

Why it exists: CTranslate2's `Whisper.generate` exposes no per-step logits hook, and hotword biasing
has to act on every beam-search step (a per-token bonus).  The encoder (90% of the FLOPs of a 30 s
window) still runs in CTranslate2; only the autoregressive decoder runs here, batched over beams.

Why ONNX Runtime: a decoding step reads every decoder weight once for a handful of rows (the
beams), so it is bound by memory traffic, not arithmetic.  With int8 weights (as CTranslate2's
default `int8` compute type) a step reads a quarter of the bytes of float32; the 52k-token output
projection alone drops from ~20 ms in numpy to ~1.5 ms.  onnxruntime already ships with
faster-whisper (for its VAD); `onnx` only builds the graph, once per process.

Precision follows the Whisper model's: int8 weights with dynamically quantized activations
(`DynamicQuantizeMatMul`, per-column weight scales) when CTranslate2 runs int8, else float32, in
which case an empty hotword list reproduces CTranslate2's own beam search token for token. On x86
CPUs without VNNI the int8 weights are stored as uint8 (`unsigned_int8_weights`): as int8 they
saturate ONNX Runtime's int8 products there.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hotasr.biasing.weights import WeightsError, cached, read_model_bin

_LN_EPS = 1e-5
_OPSET = 17
_IR_VERSION = 8  # the newest `onnx` writes IR versions older onnxruntime releases refuse
# A decoder weight by its name under `decoder/` (`layer_0/ffn/linear_0/weight`).
_Weights = Callable[[str], np.ndarray]


class _GraphBuilder:
    """A few helpers over onnx.helper so the graphs below read as the maths they compute."""

    def __init__(self, int8: bool, unsigned: bool = False) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.int8 = int8
        self.unsigned = unsigned  # int8 weights stored as uint8 around a zero point of 128
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names = 0

    def _name(self, hint: str) -> str:
        self._names += 1
        return f"{hint}_{self._names}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self._name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, out: str | None = None,
           domain: str = "", **attrs: Any) -> Any:
        names = [out] if out is not None else [self._name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, domain=domain or None, **attrs))
        return names[0] if outputs == 1 else names

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray | None = None) -> str:
        """x @ weight.T + bias for a CTranslate2 weight stored (out, in)."""
        w = weight.astype(np.float32).T  # (in, out)
        b = None if bias is None else self.const(bias.astype(np.float32), "bias")
        if not self.int8:
            y = self.op("MatMul", x, self.const(w, "w"))
            return self.op("Add", y, b) if b else y
        # Symmetric per-column int8, as CTranslate2 quantizes per output row.
        scale = np.maximum(np.abs(w).max(axis=0), 1e-8) / 127.0
        q = np.clip(np.round(w / scale), -127, 127)
        if self.unsigned:  # the same values, shifted (`unsigned_int8_weights`)
            zero = self.const(np.full(q.shape[1], 128, np.uint8), "wz")
            inputs = [x, self.const((q + 128).astype(np.uint8), "wq"), self.const(scale.astype(np.float32), "ws"), zero]
        else:
            inputs = [x, self.const(q.astype(np.int8), "wq"), self.const(scale.astype(np.float32), "ws"), ""]
        if b:
            inputs.append(b)
        return self.op("DynamicQuantizeMatMul", *inputs, domain="com.microsoft")

    def layer_norm(self, x: str, gamma: np.ndarray, beta: np.ndarray) -> str:
        g = self.const(gamma.astype(np.float32), "g")
        return self.op("LayerNormalization", x, g, self.const(beta.astype(np.float32), "b"), axis=-1, epsilon=_LN_EPS)

    def gelu(self, x: str) -> str:
        # Exact (erf) GELU, as CTranslate2 stores for Whisper; onnxruntime fuses this into one kernel.
        inner = self.op("Erf", self.op("Mul", x, self.const(np.asarray(1 / math.sqrt(2), np.float32), "k")))
        half = self.op("Mul", x, self.const(np.asarray(0.5, np.float32), "half"))
        return self.op("Mul", half, self.op("Add", inner, self.const(np.asarray(1.0, np.float32), "one")))

    def shape(self, *dims: int) -> str:
        return self.const(np.asarray(dims, np.int64), "shape")

    def model(self, inputs: list[Any], outputs: list[Any]) -> bytes:
        h = self.helper
        graph = h.make_graph(self.nodes, "whisper_decoder", inputs, outputs, self.initializers)
        opsets = [h.make_opsetid("", _OPSET), h.make_opsetid("com.microsoft", 1)]
        return h.make_model(graph, opset_imports=opsets, ir_version=_IR_VERSION).SerializeToString()


def _tensor(name: str, dtype: str, shape: list[Any]) -> Any:
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, {"f": TensorProto.FLOAT, "i": TensorProto.INT64}[dtype], shape)


class Decoder:
    """Two onnxruntime sessions for one Whisper model: `cross` turns an encoder output into every
    layer's cross-attention keys and values (once per 30 s window, shared by all beams); `step`
    runs the decoder over new tokens against cached self-attention keys and values."""

    def __init__(self, model_bin: Path, *, int8: bool, threads: int, unsigned: bool | None = None) -> None:
        spec, v = read_model_bin(model_bin, prefix="decoder/")
        if spec != "WhisperSpec":
            raise WeightsError(f"{model_bin}: expected a WhisperSpec model, got {spec}")
        self.num_layers = 0
        while f"decoder/layer_{self.num_layers}/ffn/linear_0/weight" in v:
            self.num_layers += 1
        if not self.num_layers:
            raise WeightsError(f"{model_bin}: no decoder layers found")
        self.num_heads = int(v["decoder/num_heads"])
        self.vocab_size, self.d_model = v["decoder/embeddings/weight"].shape
        self.head_dim = self.d_model // self.num_heads
        self.max_positions = v["decoder/position_encodings/encodings"].shape[0]
        self.int8 = int8
        self.unsigned = unsigned_int8_weights() if unsigned is None else unsigned

        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Between steps the beam search runs in Python: spinning workers would steal its core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        self.cross = ort.InferenceSession(self._cross_graph(v), options, providers=providers)
        self.step = ort.InferenceSession(self._step_graph(v), options, providers=providers)

    def _cross_graph(self, v: dict[str, np.ndarray]) -> bytes:
        g = _GraphBuilder(self.int8, self.unsigned)
        h, dh = self.num_heads, self.head_dim
        outputs = []
        for i in range(self.num_layers):
            p = f"decoder/layer_{i}/attention/linear_1/"
            kv = g.op("Reshape", g.linear("encoder_out", v[p + "weight"], v[p + "bias"]), g.shape(0, 2, h, dh))
            k, val = g.op("Split", kv, axis=1, outputs=2)
            k = g.op("Reshape", k, g.shape(0, h, dh))
            val = g.op("Reshape", val, g.shape(0, h, dh))
            g.op("Transpose", k, out=f"cross_k_{i}", perm=[1, 2, 0])  # (H, dh, T)
            g.op("Transpose", val, out=f"cross_v_{i}", perm=[1, 0, 2])  # (H, T, dh)
            outputs += [_tensor(f"cross_k_{i}", "f", [h, dh, "T"]), _tensor(f"cross_v_{i}", "f", [h, "T", dh])]
        return g.model([_tensor("encoder_out", "f", ["T", self.d_model])], outputs)

    def _step_graph(self, v: dict[str, np.ndarray]) -> bytes:
        g = _GraphBuilder(self.int8, self.unsigned)
        h, dh = self.num_heads, self.head_dim

        def w(name: str) -> np.ndarray:
            return v[f"decoder/{name}"]

        scale = g.const(np.asarray(1.0 / math.sqrt(dh), np.float32), "scale")
        emb = g.op("Gather", g.const(w("embeddings/weight").astype(np.float32), "emb"), "tokens")
        pos = g.op("Gather", g.const(w("position_encodings/encodings").astype(np.float32), "pos"), "positions")
        x = g.op("Add", emb, pos)  # (B, S, D)
        x_shape = g.op("Shape", x)
        inputs = [
            _tensor("tokens", "i", ["B", "S"]),
            _tensor("positions", "i", ["S"]),
            _tensor("mask", "f", ["S", "T"]),  # additive causal mask over past + new positions
            _tensor("select", "i", ["K"]),  # positions whose logits are returned
        ]
        outputs = [_tensor("logits", "f", ["B", "K", self.vocab_size])]
        for i in range(self.num_layers):
            p = f"layer_{i}/"
            x = g.op("Add", x, self._self_attention(g, x, i, w, scale))
            x = g.op("Add", x, self._cross_attention(g, x, x_shape, i, w, scale))
            y = g.layer_norm(x, w(p + "ffn/layer_norm/gamma"), w(p + "ffn/layer_norm/beta"))
            y = g.gelu(g.linear(y, w(p + "ffn/linear_0/weight"), w(p + "ffn/linear_0/bias")))
            x = g.op("Add", x, g.linear(y, w(p + "ffn/linear_1/weight"), w(p + "ffn/linear_1/bias")))
            inputs += [
                _tensor(f"past_k_{i}", "f", ["P", "B", h, dh]),
                _tensor(f"past_v_{i}", "f", ["P", "B", h, dh]),
                _tensor(f"cross_k_{i}", "f", [h, dh, "E"]),
                _tensor(f"cross_v_{i}", "f", [h, "E", dh]),
            ]
            outputs += [_tensor(f"new_k_{i}", "f", ["S", "B", h, dh]), _tensor(f"new_v_{i}", "f", ["S", "B", h, dh])]
        x = g.layer_norm(x, w("layer_norm/gamma"), w("layer_norm/beta"))
        # Project only the positions asked for: a long prompt (previous-text conditioning, up to
        # ~220 tokens) needs two rows of logits, not all of them.
        projection = v.get("decoder/projection/weight", w("embeddings/weight"))
        g.nodes.append(
            g.helper.make_node("Identity", [g.linear(g.op("Gather", x, "select", axis=1), projection)], ["logits"])
        )
        return g.model(inputs, outputs)

    def _self_attention(self, g: _GraphBuilder, x: str, i: int, w: _Weights, scale: str) -> str:
        """Layer `i`'s self-attention of the new positions over the cached ones and themselves; their
        keys and values come out as new_k_{i} / new_v_{i}. The cache is laid out (T, B, H, dh) so the
        caller's slice of the first T positions is contiguous and goes in without a copy."""
        h, dh, d = self.num_heads, self.head_dim, self.d_model
        p = f"layer_{i}/self_attention/"
        y = g.layer_norm(x, w(p + "layer_norm/gamma"), w(p + "layer_norm/beta"))
        qkv = g.linear(y, w(p + "linear_0/weight"), w(p + "linear_0/bias"))
        q, k, val = g.op("Split", g.op("Reshape", qkv, g.shape(0, 0, 3 * h, dh)), axis=2, outputs=3)
        q = g.op("Mul", g.op("Transpose", q, perm=[0, 2, 1, 3]), scale)  # (B, H, S, dh)
        g.op("Transpose", k, out=f"new_k_{i}", perm=[1, 0, 2, 3])  # (S, B, H, dh)
        g.op("Transpose", val, out=f"new_v_{i}", perm=[1, 0, 2, 3])
        keys = g.op("Concat", f"past_k_{i}", f"new_k_{i}", axis=0)  # (T, B, H, dh)
        values = g.op("Concat", f"past_v_{i}", f"new_v_{i}", axis=0)
        att = g.op("MatMul", q, g.op("Transpose", keys, perm=[1, 2, 3, 0]))  # (B, H, S, T)
        att = g.op("Softmax", g.op("Add", att, "mask"), axis=-1)
        o = g.op("MatMul", att, g.op("Transpose", values, perm=[1, 2, 0, 3]))  # (B, H, S, dh)
        o = g.op("Reshape", g.op("Transpose", o, perm=[0, 2, 1, 3]), g.shape(0, 0, d))
        return g.linear(o, w(p + "linear_1/weight"), w(p + "linear_1/bias"))

    def _cross_attention(self, g: _GraphBuilder, x: str, x_shape: str, i: int, w: _Weights, scale: str) -> str:
        """Layer `i`'s attention to the encoder output, with heads first and (beam x position) as
        rows: one GEMM per head against the encoder keys every beam shares (cross_k_{i}, cross_v_{i})."""
        h, dh = self.num_heads, self.head_dim
        p = f"layer_{i}/attention/"
        y = g.layer_norm(x, w(p + "layer_norm/gamma"), w(p + "layer_norm/beta"))
        q = g.linear(y, w(p + "linear_0/weight"), w(p + "linear_0/bias"))
        q = g.op("Mul", g.op("Transpose", g.op("Reshape", q, g.shape(-1, h, dh)), perm=[1, 0, 2]), scale)
        att = g.op("Softmax", g.op("MatMul", q, f"cross_k_{i}"), axis=-1)  # (H, B*S, T_enc)
        o = g.op("Transpose", g.op("MatMul", att, f"cross_v_{i}"), perm=[1, 0, 2])  # (B*S, H, dh)
        o = g.op("Reshape", o, x_shape)
        return g.linear(o, w(p + "linear_2/weight"), w(p + "linear_2/bias"))

# x86 extensions with a native u8 x s8 dot product into 32 bits (/proc/cpuinfo flag names).
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "avx_vnni_int8"})
_X86 = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})


def unsigned_int8_weights() -> bool:
    """Whether the int8 decoder stores its weights as uint8 around 128: on an x86 CPU without VNNI.

    There, ONNX Runtime multiplies u8 activations by s8 weights with an instruction that adds each
    pair of products into 16 bits with saturation, which 8-bit weights overflow; the decoder's
    logits then strayed far from float32 ones and biased decodes lost accuracy on such CPUs. With
    u8 weights it takes a kernel that widens before adding: the same weight values, no
    saturation, a step a little slower. An x86 CPU whose flags cannot be read gets it too.
    """
    try:
        cpuinfo: str | None = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        cpuinfo = None
    return unsigned_weights_for(platform.machine(), cpuinfo)


def unsigned_weights_for(machine: str, cpuinfo: str | None) -> bool:
    """`unsigned_int8_weights` for a machine type and the text of its /proc/cpuinfo (None: unreadable)."""
    if machine.lower() not in _X86:
        return False
    for line in (cpuinfo or "").splitlines():
        if line.startswith("flags"):
            return not _VNNI_FLAGS & set(line.partition(":")[2].split())
    return True


def load_decoder(model_dir: str | Path, *, int8: bool, threads: int = 0) -> Decoder:
    """The decoder for a CTranslate2 model directory, built once per process per path and precision."""
    path = Path(model_dir).resolve() / "model.bin"
    threads = threads or min(4, os.cpu_count() or 1)
    key = f"{path}|{'int8' if int8 else 'float32'}|{threads}"
    return cached(key, lambda: Decoder(path, int8=int8, threads=threads))  # type: ignore[return-value]


class DecoderState:
    """KV caches for a batch of hypotheses decoding against one encoder output."""

    def __init__(self, decoder: Decoder, encoder_out: np.ndarray, batch: int, max_len: int) -> None:
        self.decoder = decoder
        self.length = 0
        self.rows = 1  # active hypotheses; the cache is allocated for `batch` once, never regrown
        shape = (decoder.num_layers, max_len, batch, decoder.num_heads, decoder.head_dim)
        # Uninitialised: only positions below `length` are ever read, and each is written first.
        self.k = np.empty(shape, np.float32)
        self.v = np.empty(shape, np.float32)
        names = [o.name for o in decoder.cross.get_outputs()]
        cross = decoder.cross.run(names, {"encoder_out": np.ascontiguousarray(encoder_out, np.float32)})
        self._cross = dict(zip(names, cross, strict=True))

    def reorder(self, origins: np.ndarray) -> None:
        """Row i continues row origins[i] (rows may grow up to the allocated batch); only rows
        whose history changed are copied, and only the filled part of the cache."""
        n = origins.shape[0]
        if n > self.k.shape[2]:
            raise ValueError(f"{n} hypotheses exceed the allocated batch {self.k.shape[2]}")
        changed = np.nonzero(origins != np.arange(n))[0]
        if changed.size:
            t = self.length
            src = origins[changed]
            # The right-hand fancy index makes a copy first, so overlapping rows are safe.
            self.k[:, :t, changed] = self.k[:, :t, src]
            self.v[:, :t, changed] = self.v[:, :t, src]
        self.rows = n

    def forward(self, tokens: np.ndarray, positions: list[int] | None = None) -> np.ndarray:
        """Feed tokens (B, S) after the cached prefix; return the logits of the last position
        (B, V), or of the given positions (B, len(positions), V)."""
        b, s = tokens.shape
        t0 = self.length
        if t0 + s > self.k.shape[1]:
            raise ValueError(f"{t0 + s} positions exceed the allocated {self.k.shape[1]}")
        feeds: dict[str, np.ndarray] = {
            "tokens": np.ascontiguousarray(tokens, np.int64),
            "positions": np.arange(t0, t0 + s, dtype=np.int64),
            "mask": np.triu(np.full((s, t0 + s), -np.inf, np.float32), k=t0 + 1),
            "select": np.asarray(positions if positions is not None else [s - 1], np.int64),
            **self._cross,
        }
        for i in range(self.decoder.num_layers):
            # Contiguous (no copy) whenever all allocated rows are in use, i.e. after the prompt.
            feeds[f"past_k_{i}"] = np.ascontiguousarray(self.k[i, :t0, :b])
            feeds[f"past_v_{i}"] = np.ascontiguousarray(self.v[i, :t0, :b])
        logits, *new = self.decoder.step.run(None, feeds)
        for i in range(self.decoder.num_layers):
            self.k[i, t0 : t0 + s, :b] = new[2 * i]
            self.v[i, t0 : t0 + s, :b] = new[2 * i + 1]
        self.length = t0 + s
        return logits if positions is not None else logits[:, 0]
