"""Hotword biasing applied while Whisper decodes (context-graph bonus inside beam search).

    compiled = engine.compile(hotwords)               # hotasr.biasing.compiled: graphs, corrector
    search = BiasedSearch.for_model(model_dir, tokenizer, compiled.graph("en"), int8=True)
    result = search.decode(encoder_output, prompt, options, temperature=0.0)

`compile_hotwords` turns a list into an immutable token-level graph (`graph.py`); `BiasedSearch` runs
hotasr's decoder (ONNX Runtime, `decoder.py`) over an encoder output with that graph's per-token bonus
(`search.py`): beam search at temperature 0, sampling above it, as faster-whisper's fallback asks.
The engine's faster-whisper adapter (`hotasr.engine.faster_whisper_adapter`) calls `decode` in place
of CTranslate2's `generate`; encoding, language detection and word alignment stay in CTranslate2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tokenizers

from hotasr.biasing.decoder import Decoder, load_decoder
from hotasr.biasing.graph import TOKEN_BONUS, HotwordGraph, compile_hotwords
from hotasr.biasing.search import GenerationResult, SearchOptions, SpecialTokens, generate, sample

__all__ = [
    "TOKEN_BONUS",
    "BiasedSearch",
    "GenerationResult",
    "HotwordGraph",
    "SearchOptions",
    "compile_hotwords",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BiasedSearch:
    """hotasr's decoder with a hotword graph (None or empty: plain greedy/beam search, which is
    still worth having: its steps are cheaper than CTranslate2's and `checkpoint` can stop them)."""

    decoder: Decoder
    special: SpecialTokens
    graph: HotwordGraph | None = None
    checkpoint: Callable[[], None] | None = None  # called before every step; what it raises stops

    @classmethod
    def for_model(
        cls, model_dir: str | Path, tokenizer: tokenizers.Tokenizer, graph: HotwordGraph | None, *,
        int8: bool, threads: int = 0, checkpoint: Callable[[], None] | None = None,
    ) -> BiasedSearch:
        """Cheap after the first call per model directory: the decoder weights are read once and shared.
        `int8`: the precision CTranslate2 runs the rest of the model at; `threads`: 0 is min(4, cores)."""
        decoder = load_decoder(model_dir, int8=int8, threads=threads)
        return cls(decoder, SpecialTokens.from_tokenizer(tokenizer), graph, checkpoint)

    def decode(
        self, encoder_output: np.ndarray, prompt: list[int], options: SearchOptions, *,
        temperature: float = 0.0, best_of: int = 1,
    ) -> GenerationResult:
        """One decode of one window: beam search at temperature 0, else `best_of` samples (the
        best kept), both with the hotword bonus. `encoder_output`: (frames, width) for one window."""
        if temperature > 0:
            return sample(self.decoder, self.special, encoder_output, prompt, self.graph, options,
                          num_hypotheses=best_of, temperature=temperature, checkpoint=self.checkpoint)
        return generate(self.decoder, self.special, encoder_output, prompt, self.graph, options,
                        checkpoint=self.checkpoint)
