"""Decode any audio PyAV's bundled FFmpeg can read into float32 mono 16 kHz numpy arrays.

Every failure is an `AudioError(code, message)` whose message names the problem in words a user
understands ("file is empty", "no audio stream", "channel 3 requested but the file has 2"), so
adapters can pass it on verbatim instead of a traceback.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

SAMPLE_RATE = 16000

AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

# Stable error codes, meant to be mapped onto wire-level codes by adapters.
EMPTY = "EMPTY_FILE"
NOT_FOUND = "FILE_NOT_FOUND"
NO_AUDIO_STREAM = "NO_AUDIO_STREAM"
UNSUPPORTED = "UNSUPPORTED_FORMAT"
DECODE_ERROR = "DECODE_ERROR"
INVALID_CHANNEL = "INVALID_CHANNEL"
INVALID_PCM = "INVALID_PCM"


class AudioError(Exception):
    """Audio that cannot be turned into samples; `message` is meant for the end user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class AudioInfo:
    sample_rate: int  # of the source, before resampling
    channels: int  # of the source
    duration_ms: int
    codec: str  # e.g. "flac", "mp3", "pcm_s16le"
    format: str  # container as FFmpeg names it, e.g. "wav", "ogg", "mov,mp4,m4a,3gp,3g2,mj2"


@dataclass(slots=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    info: AudioInfo
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DecodedChannels:
    channels: list[np.ndarray]  # one float32 SAMPLE_RATE array per source channel
    info: AudioInfo
    warnings: list[str] = field(default_factory=list)


SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS


def is_silent(samples: np.ndarray) -> bool:
    """No sample above -60 dBFS: nothing a person could hear, let alone speech."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK


def decode_audio(source: AudioSource, *, channel: int | None = None, sample_rate: int = SAMPLE_RATE) -> DecodedAudio:
    """Decode `source` (path, bytes or binary file) to mono float32 at `sample_rate`.

    `channel` picks one source channel (0-based); None averages all channels into one.
    """
    planes, info, warnings = _decode(source, sample_rate)
    return DecodedAudio(_select(planes, channel, info.channels), info, warnings)


def decode_channels(source: AudioSource, *, sample_rate: int = SAMPLE_RATE) -> DecodedChannels:
    """Decode every channel separately (recorded-file recognition gives one transcript per channel)."""
    planes, info, warnings = _decode(source, sample_rate)
    return DecodedChannels([np.ascontiguousarray(p) for p in planes], info, warnings)


def decode_pcm(
    data: bytes | bytearray | memoryview,
    sample_rate: int,
    *,
    channels: int = 1,
    channel: int | None = None,
    target_rate: int = SAMPLE_RATE,
) -> DecodedAudio:
    """Decode headerless signed 16-bit little-endian PCM (interleaved when `channels` > 1)."""
    raw = bytes(data)
    if not raw:
        raise AudioError(EMPTY, "audio is empty (0 bytes of PCM)")
    if sample_rate <= 0:
        raise AudioError(INVALID_PCM, f"PCM sample rate must be positive, got {sample_rate}")
    if channels <= 0:
        raise AudioError(INVALID_PCM, f"PCM channel count must be positive, got {channels}")
    frame_bytes = 2 * channels
    if len(raw) % frame_bytes:
        raise AudioError(
            INVALID_PCM,
            f"PCM data has {len(raw)} bytes, not a whole number of 16-bit {channels}-channel samples",
        )
    pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).T.astype(np.float32) / 32768.0
    planes = _resample_planes(pcm, sample_rate, target_rate)
    info = AudioInfo(
        sample_rate=sample_rate,
        channels=channels,
        duration_ms=round(pcm.shape[1] * 1000 / sample_rate),
        codec="pcm_s16le",
        format="s16le",
    )
    return DecodedAudio(_select(planes, channel, channels), info)


def resample(samples: np.ndarray, from_rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float32 array (e.g. to make an 8 kHz telephone version of a clip)."""
    if from_rate == to_rate:
        return np.asarray(samples, dtype=np.float32)
    return _resample_planes(np.asarray(samples, dtype=np.float32)[None, :], from_rate, to_rate)[0]


def _select(planes: list[np.ndarray], channel: int | None, channels: int) -> np.ndarray:
    if channel is None:
        if len(planes) == 1:
            return np.ascontiguousarray(planes[0])
        return np.mean(np.stack(planes), axis=0, dtype=np.float32)
    if not 0 <= channel < channels:
        have = f"{channels} channel" + ("" if channels == 1 else "s")
        raise AudioError(
            INVALID_CHANNEL,
            f"channel {channel} requested but the file has {have} (channels are numbered from 0)",
        )
    return np.ascontiguousarray(planes[channel])


def _open(source: AudioSource) -> av.container.InputContainer:
    target: str | BinaryIO
    if isinstance(source, bytes | bytearray | memoryview):
        if not len(source):
            raise AudioError(EMPTY, "file is empty (0 bytes)")
        target = io.BytesIO(bytes(source))
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise AudioError(NOT_FOUND, f"audio file not found: {path}")
        if path.stat().st_size == 0:
            raise AudioError(EMPTY, f"file is empty (0 bytes): {path}")
        target = str(path)
    else:
        target = source
    try:
        return av.open(target, mode="r")
    except av.error.InvalidDataError as exc:
        raise AudioError(UNSUPPORTED, "unsupported or corrupt audio: the format could not be recognized") from exc
    except av.error.EOFError as exc:
        raise AudioError(
            DECODE_ERROR, "could not decode: the file ends before any audio (truncated or corrupt)"
        ) from exc
    except av.FFmpegError as exc:
        raise AudioError(DECODE_ERROR, f"could not open audio: {_ffmpeg_reason(exc)}") from exc


def _decode(source: AudioSource, rate: int) -> tuple[list[np.ndarray], AudioInfo, list[str]]:
    warnings: list[str] = []
    with _open(source) as container:
        if not container.streams.audio:
            raise AudioError(NO_AUDIO_STREAM, "no audio stream in the file")
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        chunks: list[np.ndarray] = []
        resampler: av.AudioResampler | None = None
        channels = 0
        source_rate = stream.rate or 0
        try:
            for frame in _frames(container, stream, warnings):
                if resampler is None:
                    channels = frame.layout.nb_channels
                    source_rate = frame.sample_rate
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=rate)
                elif frame.layout.nb_channels != channels:
                    raise AudioError(
                        DECODE_ERROR,
                        f"could not decode: the channel count changes mid-stream "
                        f"({channels} to {frame.layout.nb_channels})",
                    )
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            if resampler is not None:
                chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        except av.FFmpegError as exc:
            raise AudioError(DECODE_ERROR, f"could not decode {codec} audio: {_ffmpeg_reason(exc)}") from exc
        info_format = container.format.name
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise AudioError(EMPTY, f"no audio samples could be decoded ({codec} stream is empty or corrupt)")
    planes = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    info = AudioInfo(
        sample_rate=source_rate,
        channels=channels,
        duration_ms=round(planes.shape[1] * 1000 / rate),
        codec=codec,
        format=info_format,
    )
    return list(planes), info, warnings


def _frames(
    container: av.container.InputContainer, stream: av.AudioStream, warnings: list[str]
) -> Iterator[av.AudioFrame]:
    """Decoded frames; a damaged packet after good audio becomes a warning, not a failure."""
    decoded_any = False
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as exc:
            # A truncated upload still has usable audio before the damage; keep it and say so.
            if not decoded_any:
                raise
            warnings.append(f"audio is damaged after {_seconds(packet, stream)}: {_ffmpeg_reason(exc)}")
            break
        for frame in frames:
            decoded_any = True
            yield frame


def _seconds(packet: av.Packet, stream: av.AudioStream) -> str:
    if packet.pts is None or stream.time_base is None:
        return "some point"
    return f"{float(packet.pts * stream.time_base):.1f} s"


def _ffmpeg_reason(exc: av.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _resample_planes(planes: np.ndarray, from_rate: int, to_rate: int) -> list[np.ndarray]:
    """Resample (channels, n) float32 planes with FFmpeg's resampler, the same one files go through."""
    if from_rate == to_rate:
        return [np.ascontiguousarray(p, dtype=np.float32) for p in planes]
    channels = planes.shape[0]
    layout = av.AudioLayout(f"{channels}c")
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=to_rate)
    out: list[np.ndarray] = []
    # Bounded frames keep FFmpeg's buffers small for hour-long PCM streams.
    step = max(from_rate, 1) * 10
    for start in range(0, planes.shape[1], step):
        block = np.ascontiguousarray(planes[:, start : start + step], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate = from_rate
        out.extend(f.to_ndarray() for f in resampler.resample(frame))
    out.extend(f.to_ndarray() for f in resampler.resample(None))
    if not out:
        return [np.zeros(0, dtype=np.float32) for _ in range(channels)]
    return list(np.concatenate(out, axis=1).astype(np.float32, copy=False))
