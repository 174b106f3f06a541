"""What a caller asks of an engine: one `DecodeRequest` per decode, and the token that stops it.

Every adapter (file tasks, real time, the OpenAI endpoint, the CLI and library) reaches the engine
through `hotasr.recognize`, which builds the request; the engine reads nothing else. A request says
which audio, in which languages it may be (the candidates each sentence picks among), with which
hotwords (compiled once for the engine, `hotasr.biasing.compiled`), what kind of decode it is and
how it may be cut short.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from hotasr.engine.base import BiasingMode, DecodeCancelled

if TYPE_CHECKING:
    from hotasr.biasing.compiled import CompiledHotwords

# "file": a recording, which may hold several sentences in several languages (decoded a speech
# stretch at a time when more than one language is possible). "final": one sentence, already cut
# by a stream's VAD (a real-time final). "draft": a quick greedy pass over one sentence for an
# interim result, without word times, bounded in length, superseded within a second.
DecodeKind = Literal["file", "final", "draft"]


class CancelToken:
    """Tells a running decode that its result is moot: the caller `cancel()`s, the engine
    `check()`s before the encoder and before every step of hotasr's decoder (greedy, biased and
    prefixed decodes) and stops with DecodeCancelled. CTranslate2's own steps cannot be stopped."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise DecodeCancelled("decode cancelled by its caller")


@dataclass(frozen=True, slots=True, eq=False)
class DecodeRequest:
    """One decode: float32 mono 16 kHz `samples` and how to read them.

    `languages`: the candidates each sentence's language is decided among; one is forced; None:
    any the model knows. `hotwords`: the list as the engine compiled it (`Engine.compile`), None
    without one. `beam_size`: None takes the engine's own (drafts are always greedy). `prefix`:
    text known to open the audio (a real-time sentence's settled interims), read in one pass, the
    decoder generating only the rest; engines may ignore it. `context`: text spoken just before
    the audio, given to the model as what was said before. `heard`: languages earlier sentences of
    the same stream were in (see the field). `progress` gets the fraction done.
    """

    samples: np.ndarray
    languages: tuple[str, ...] | None = None
    hotwords: CompiledHotwords | None = None
    kind: DecodeKind = "file"
    biasing: BiasingMode = "hotasr"
    beam_size: int | None = None
    prefix: str | None = None
    context: str | None = None
    word_timestamps: bool = True
    # Languages already heard where this audio comes from (earlier sentences of a stream) or
    # expected there (the model's usual pair): with several candidates, a language not among them
    # needs stronger evidence to be chosen.
    heard: tuple[str, ...] = ()
    cancel: CancelToken | None = None
    progress: Callable[[float], None] | None = field(default=None, repr=False)

    @property
    def draft(self) -> bool:
        return self.kind == "draft"
