"""The audio domain's stable reasons (`AudioError.code`), in a module of their own so that the
decoder (`hotasr.audio`), its process guard (`hotasr.audio_guard`) and the stream decoders can all
raise them without importing each other. The adapters' tables (`hotasr.api.wire_errors`) map them
onto wire codes; `hotasr.audio` re-exports everything here.
"""

from __future__ import annotations

from hotasr.errors import AudioError as AudioError  # re-exported: raised here

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
