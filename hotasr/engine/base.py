"""The engine interface every adapter codes against: float32 mono 16 kHz in, a Transcript out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from hotasr.hotwords import Hotword
from hotasr.transcript import Transcript

# "none": plain decoding. "prompt": hotwords as Whisper's text prompt (what other tools offer).
# "hotasr": hotasr's own biased decoding (hotasr.biasing).
BiasingMode = Literal["none", "prompt", "hotasr"]
BIASING_MODES: tuple[BiasingMode, ...] = ("none", "prompt", "hotasr")

SAMPLE_RATE = 16000


class EngineError(RuntimeError):
    """An engine cannot be built or run; the message is meant for the operator or user."""


class DecodeCancelled(Exception):
    """The caller's `cancelled()` turned true during a decode, which was abandoned."""


@runtime_checkable
class Engine(Protocol):
    name: str
    languages: frozenset[str] | None  # None = multilingual; {"en"} for tiny.en

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,  # forced: every sentence in it
        # The candidates each sentence's language is decided among (None: any the model knows). With
        # several, a recording is decoded sentence by sentence, each in its own language, unless
        # `one_sentence` (a real-time sentence or draft) says the audio is a single sentence.
        languages: Sequence[str] | None = None,
        one_sentence: bool = False,
        hotwords: Sequence[Hotword] = (),
        biasing: BiasingMode = "hotasr",
        word_timestamps: bool = True,
        draft: bool = False,  # a quick pass for interim results: greedy, no word alignment, may be shorter
        beam_size: int | None = None,  # None: the engine's own (route options); drafts ignore it
        prefix: str | None = None,  # text known to open the audio; an engine may ignore it
        context: str | None = None,  # text spoken just before the audio; an engine may ignore it
        progress: Callable[[float], None] | None = None,
        # Polled while decoding; once true the engine may stop and raise DecodeCancelled.
        cancelled: Callable[[], bool] | None = None,
    ) -> Transcript: ...
