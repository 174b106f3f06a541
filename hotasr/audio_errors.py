"""The audio domain's error type and its stable codes, in a module of their own so that the decoder
(`hotasr.audio`), its process guard (`hotasr.audio_guard`) and the stream decoders can all raise
them without importing each other. Adapters map the codes onto wire-level codes (hotasr.api.*,
hotasr.tasks.runner); `hotasr.audio` re-exports everything here.
"""

from __future__ import annotations

EMPTY = "EMPTY_FILE"
NOT_FOUND = "FILE_NOT_FOUND"
NO_AUDIO_STREAM = "NO_AUDIO_STREAM"
UNSUPPORTED = "UNSUPPORTED_FORMAT"
DECODE_ERROR = "DECODE_ERROR"
INVALID_CHANNEL = "INVALID_CHANNEL"
INVALID_PCM = "INVALID_PCM"
# Limits (hotasr.audio_guard.AudioLimits), checked on the header before decoding and again while decoding.
TOO_LONG = "AUDIO_TOO_LONG"
TOO_MANY_CHANNELS = "TOO_MANY_CHANNELS"
BAD_HEADER = "INVALID_HEADER"  # a header that declares 0 channels or a 0 Hz sample rate
BAD_SAMPLE_RATE = "SAMPLE_RATE_OUT_OF_RANGE"
TOO_LARGE = "DECODED_TOO_LARGE"
# The decoder process died (a native crash in FFmpeg/PyAV, or a resource limit): only this file fails.
DECODE_CRASHED = "DECODE_CRASHED"


class AudioError(Exception):
    """Audio that cannot be turned into samples; `message` is meant for the end user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[AudioError], tuple[str, str]]:  # crosses the decoder process boundary
        return (type(self), (self.code, self.message))
