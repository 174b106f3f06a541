"""Hotword biasing applied while Whisper decodes (context-graph bonus inside beam search).

    graph = compile_hotwords(hotwords, whisper.hf_tokenizer, multilingual=whisper.model.is_multilingual)
    segments, info = biased_whisper(whisper, graph).transcribe(audio, ...)

`compile_hotwords` turns a list into an immutable token-level graph (cache it per list).
`biased_whisper` returns a shallow copy of the faster-whisper model whose CTranslate2 handle is
wrapped: encoding, language detection and word alignment still run in CTranslate2; only
`generate` (the beam search) runs our decoder (ONNX Runtime) with the graph's per-token bonus.
faster-whisper's VAD, segmentation, timestamps, fallback and word timestamps are untouched.

The decoder needs the model directory (to read `model.bin` once per process).  It is taken from the
`model_dir` argument, else from `whisper.model_path` / `whisper.model_dir` (set it once where the
WhisperModel is built), else from directories registered with `register_model_dir`.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hotasr.biasing.decoder import Decoder, load_decoder
from hotasr.biasing.graph import TOKEN_BONUS, HotwordGraph, compile_hotwords
from hotasr.biasing.search import GenerationResult, SearchOptions, SpecialTokens, generate, sample

__all__ = [
    "TOKEN_BONUS",
    "BiasedGenerator",
    "HotwordGraph",
    "biased_whisper",
    "compile_hotwords",
    "register_model_dir",
]

log = logging.getLogger(__name__)

_registered: dict[int, str] = {}  # id(ctranslate2 model) -> model dir


def register_model_dir(whisper: Any, model_dir: str | os.PathLike[str]) -> None:
    """Tell the biasing layer where `whisper` (a faster_whisper.WhisperModel) was loaded from."""
    _registered[id(whisper.model)] = str(model_dir)


def _model_dir_of(whisper: Any) -> str:
    for attr in ("model_path", "model_dir", "_hotasr_model_dir"):
        value = getattr(whisper, attr, None)
        if value and (Path(value) / "model.bin").is_file():
            return str(value)
    found = _registered.get(id(whisper.model))
    if found:
        return found
    raise ValueError(
        "biased_whisper needs the CTranslate2 model directory: pass model_dir=, set "
        "whisper.model_path, or call hotasr.biasing.register_model_dir(whisper, path)"
    )


class BiasedGenerator:
    """Stands in for a ctranslate2.models.Whisper: `generate` decodes with the hotword graph,
    every other attribute is the real model's."""

    def __init__(
        self, inner: Any, weights: Decoder, special: SpecialTokens, graph: HotwordGraph, id_to_token: Any,
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        self._inner = inner
        self._checkpoint = checkpoint
        self._weights = weights
        self._special = special
        self._graph = graph
        self._id_to_token = id_to_token

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def generate(self, features: Any, prompts: list[list[int]], **kw: Any) -> list[Any]:
        # Sampling is biased too (faster-whisper's temperature fallback: beam_size=1, sampling_topk=0,
        # num_hypotheses=best_of).  Penalties and top-k sampling are not implemented in our
        # search: those calls go to CTranslate2 unchanged, i.e. without hotword bias.
        temperature = float(kw.get("sampling_temperature", 1.0))
        sampling = kw.get("sampling_topk", 1) == 0 and int(kw.get("beam_size", 2)) == 1
        unsupported = (
            (kw.get("num_hypotheses", 1) != 1 and not sampling)
            or kw.get("sampling_topk", 1) not in (0, 1)
            or kw.get("repetition_penalty", 1.0) != 1.0
            or kw.get("no_repeat_ngram_size", 0) != 0
            or kw.get("return_alternatives", False)
        )
        if unsupported:
            return self._inner.generate(features, prompts, **kw)
        try:
            enc = np.asarray(features, dtype=np.float32)
        except Exception:  # e.g. a CUDA StorageView: decode unbiased rather than fail the request
            log.warning("hotword biasing skipped: encoder output is not on the CPU")
            return self._inner.generate(features, prompts, **kw)
        suppress = tuple(int(t) for t in (kw.get("suppress_tokens") or ()) if int(t) >= 0)
        opts = SearchOptions(
            beam_size=int(kw.get("beam_size", 2)),
            patience=float(kw.get("patience", 1.0)),
            length_penalty=float(kw.get("length_penalty", 1.0)),
            max_length=int(kw.get("max_length", 448)),
            suppress_blank=bool(kw.get("suppress_blank", True)),
            suppress_tokens=suppress,
            max_initial_timestamp_index=int(kw.get("max_initial_timestamp_index", 50)),
        )
        results: list[GenerationResult] = []
        for i, prompt in enumerate(prompts):
            if sampling and temperature > 0:
                res = sample(
                    self._weights,
                    self._special,
                    enc[i],
                    list(prompt),
                    self._graph,
                    opts,
                    num_hypotheses=int(kw.get("num_hypotheses", 1)),
                    temperature=temperature,
                    checkpoint=self._checkpoint,
                )
            else:
                res = generate(self._weights, self._special, enc[i], list(prompt), self._graph, opts,
                               checkpoint=self._checkpoint)
            res.sequences = [[self._id_to_token(t) or "" for t in seq] for seq in res.sequences_ids]
            if not kw.get("return_scores", False):
                res.scores = []
            results.append(res)
        return results


def biased_whisper(
    whisper: Any, graph: HotwordGraph, *, model_dir: str | os.PathLike[str] | None = None, threads: int = 0,
    checkpoint: Callable[[], None] | None = None,
) -> Any:
    """A copy of `whisper` (faster_whisper.WhisperModel) that applies `graph` while decoding.

    Cheap: the decoder weights are loaded once per model directory and shared; call it per request.
    `threads`: CPU threads of the decoder (0: min(4, cores)); pass the engine's own count.
    `checkpoint`: called before every decoding step; what it raises abandons the decode.
    """
    directory = str(model_dir) if model_dir is not None else _model_dir_of(whisper)
    # Same precision as CTranslate2 runs the rest of the model: int8 weights or float32.
    int8 = str(getattr(whisper.model, "compute_type", "")).startswith("int8")
    weights = load_decoder(directory, int8=int8, threads=threads)
    special = SpecialTokens.from_tokenizer(whisper.hf_tokenizer)
    clone = copy.copy(whisper)
    clone.model = BiasedGenerator(whisper.model, weights, special, graph, whisper.hf_tokenizer.id_to_token,
                                  checkpoint)
    return clone
