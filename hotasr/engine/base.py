"""The engine interface every adapter codes against: float32 mono 16 kHz in, a Transcript out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from hotasr.hotwords import Hotword
from hotasr.transcript import Transcript

if TYPE_CHECKING:
    from hotasr.biasing.compiled import CompiledHotwords
    from hotasr.engine.request import DecodeRequest

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
    """What every adapter codes against (through `hotasr.recognize`): compile a hotword list once,
    then decode requests with it."""

    name: str
    languages: frozenset[str] | None  # None = multilingual; {"en"} for tiny.en

    def compile(self, hotwords: Sequence[Hotword]) -> CompiledHotwords:
        """The list made ready for this engine (cached: call it per request)."""
        ...

    def transcribe(self, request: DecodeRequest) -> Transcript: ...
