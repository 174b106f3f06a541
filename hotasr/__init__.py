"""hotasr: self-hosted speech recognition with hotword lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "transcribe"]

if TYPE_CHECKING:
    from hotasr.transcript import Transcript


def transcribe(audio: Any, **kwargs: Any) -> Transcript:
    """`hotasr.transcribe(audio, *, hotwords=None, model="fun-asr", language=None)`; see hotasr.local."""
    # Imported lazily: `import hotasr` must stay cheap for the server and CLI start-up.
    from hotasr.local import transcribe as _transcribe

    return _transcribe(audio, **kwargs)
