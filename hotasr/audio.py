"""Decode any audio PyAV's bundled FFmpeg can read into float32 mono 16 kHz numpy arrays.

Every failure is an `AudioError(code, message)` whose message names the problem in words a user
understands ("file is empty", "no audio stream", "channel 3 requested but the file has 2"), so
adapters can pass it on verbatim instead of a traceback.

Files are probed and decoded in a child process under `AudioLimits` (hotasr.audio_guard): a
native crash in FFmpeg fails only that decode, and what the header declares (channels, sample
rate, duration) is refused before any of it is decoded. The child streams the samples it keeps
(a downmix, or the channels asked for) into files that this process maps back in, so neither
side ever holds more than the result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from hotasr.audio_errors import (
    BAD_HEADER,
    BAD_SAMPLE_RATE,
    DECODE_CRASHED,
    DECODE_ERROR,
    EMPTY,
    INVALID_CHANNEL,
    INVALID_PCM,
    NO_AUDIO_STREAM,
    NOT_FOUND,
    TOO_LARGE,
    TOO_LONG,
    TOO_MANY_CHANNELS,
    UNSUPPORTED,
    AudioError,
)
from hotasr.audio_guard import AudioLimits, run_isolated

__all__ = [
    "BAD_HEADER",
    "BAD_SAMPLE_RATE",
    "DECODE_CRASHED",
    "DECODE_ERROR",
    "EMPTY",
    "INVALID_CHANNEL",
    "INVALID_PCM",
    "NOT_FOUND",
    "NO_AUDIO_STREAM",
    "SAMPLE_RATE",
    "TOO_LARGE",
    "TOO_LONG",
    "TOO_MANY_CHANNELS",
    "UNSUPPORTED",
    "AudioError",
    "AudioInfo",
    "AudioLimits",
    "AudioSource",
    "DecodedAudio",
    "DecodedChannels",
    "decode_audio",
    "decode_channels",
    "decode_pcm",
    "is_silent",
    "resample",
]

SAMPLE_RATE = 16000

AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


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
    # One float32 SAMPLE_RATE array per source channel; with `decode_channels(channels=...)`, the
    # channels not asked for are empty arrays (they were never decoded into memory).
    channels: list[np.ndarray]
    info: AudioInfo
    warnings: list[str] = field(default_factory=list)


SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS


def is_silent(samples: np.ndarray) -> bool:
    """No sample above -60 dBFS: nothing a person could hear, let alone speech."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK


def decode_audio(
    source: AudioSource,
    *,
    channel: int | None = None,
    sample_rate: int = SAMPLE_RATE,
    limits: AudioLimits | None = None,
) -> DecodedAudio:
    """Decode `source` (path, bytes or binary file) to mono float32 at `sample_rate`.

    `channel` picks one source channel (0-based); None averages all channels into one.
    `limits` default to AudioLimits() (the defaults of the server's settings).
    """
    keep = None if channel is None else [channel]
    arrays, info, warnings = _decode_isolated(source, sample_rate, keep, limits or AudioLimits())
    return DecodedAudio(arrays[0], info, warnings)


def decode_channels(
    source: AudioSource,
    *,
    channels: Sequence[int] | None = None,
    sample_rate: int = SAMPLE_RATE,
    limits: AudioLimits | None = None,
) -> DecodedChannels:
    """Decode every channel separately (recorded-file recognition gives one transcript per channel).

    `channels`: only these source channels are decoded (the others come back empty); None: all.
    A channel the file does not have raises AudioError(INVALID_CHANNEL) before decoding.
    """
    keep = list(channels) if channels is not None else None
    arrays, info, warnings = _decode_isolated(source, sample_rate, keep, limits or AudioLimits(), every=True)
    if keep is None:
        return DecodedChannels(arrays, info, warnings)
    planes = [np.zeros(0, np.float32) for _ in range(info.channels)]
    for number, samples in zip(keep, arrays, strict=True):
        planes[number] = samples
    return DecodedChannels(planes, info, warnings)


def decode_pcm(
    data: bytes | bytearray | memoryview,
    sample_rate: int,
    *,
    channels: int = 1,
    channel: int | None = None,
    target_rate: int = SAMPLE_RATE,
    limits: AudioLimits | None = None,
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
    frames = len(raw) // frame_bytes
    (limits or AudioLimits()).check_header(
        "the PCM audio", channels=channels, sample_rate=sample_rate, seconds=frames / sample_rate,
        outputs=channels, output_rate=target_rate,  # every channel is resampled here
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
        return np.asarray(np.mean(np.stack(planes), axis=0, dtype=np.float32))
    _check_channel(channel, channels)
    return np.ascontiguousarray(planes[channel])


def _check_channel(channel: int, channels: int) -> None:
    if not 0 <= channel < channels:
        have = f"{channels} channel" + ("" if channels == 1 else "s")
        raise AudioError(
            INVALID_CHANNEL,
            f"channel {channel} requested but the file has {have} (channels are numbered from 0)",
        )


# -- this process: hand the file to the decoder process, map its output back in ----------------------


def _decode_isolated(
    source: AudioSource, rate: int, keep: list[int] | None, limits: AudioLimits, *, every: bool = False
) -> tuple[list[np.ndarray], AudioInfo, list[str]]:
    """Arrays (a downmix; the `keep` channels; or with `every`, all channels), the info, warnings."""
    name = _name(source)
    with tempfile.TemporaryDirectory(prefix="hotasr-decode-") as scratch:
        path = _materialize(source, Path(scratch), name)
        info, warnings, outputs = run_isolated(
            _decode_file, (str(path), scratch, rate, keep, every, limits, name), limits, name
        )
        arrays = [np.fromfile(out, dtype=np.float32) for out in outputs]
    return arrays, AudioInfo(**info), warnings


def _name(source: AudioSource) -> str:
    """How messages name the audio: the file name, or "the audio" for bytes and streams."""
    if isinstance(source, str | os.PathLike):
        return f"audio file {Path(source).name!r}"
    return "the audio"


def _materialize(source: AudioSource, scratch: Path, name: str) -> Path:
    """A path the decoder process can open: the file itself, or the bytes written to `scratch`."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise AudioError(NOT_FOUND, f"audio file not found: {path}")
        if path.stat().st_size == 0:
            raise AudioError(EMPTY, f"file is empty (0 bytes): {path}")
        return path.resolve()
    data = bytes(source) if isinstance(source, bytes | bytearray | memoryview) else source.read()
    if not data:
        raise AudioError(EMPTY, "file is empty (0 bytes)")
    path = scratch / "input"
    path.write_bytes(data)
    return path


# -- the decoder process (hotasr.audio_guard.run_isolated) -------------------------------------------


def _decode_file(
    path: str, scratch: str, rate: int, keep: list[int] | None, every: bool, limits: AudioLimits, name: str
) -> tuple[dict[str, object], list[str], list[str]]:
    """Probe, check against `limits`, decode; the samples go to float32 files in `scratch`.
    Returns (AudioInfo fields, warnings, output files)."""
    warnings: list[str] = []
    with _open(path) as container:
        if not container.streams.audio:
            raise AudioError(NO_AUDIO_STREAM, "no audio stream in the file")
        stream = container.streams.audio[0]
        context = stream.codec_context
        codec = context.name
        declared = context.channels
        source_rate = context.sample_rate or stream.rate or 0
        wanted = keep if keep is not None else (list(range(declared)) if every else None)
        outputs = 1 if wanted is None else len(wanted)
        limits.check_header(name, channels=declared, sample_rate=source_rate,
                            seconds=_declared_seconds(container, stream), outputs=outputs, output_rate=rate)
        for number in wanted or ():
            _check_channel(number, declared)
        files = [os.path.join(scratch, f"out{n}.f32") for n in range(outputs)]
        sinks = [open(f, "wb") for f in files]  # noqa: SIM115 - closed below, whatever happens
        try:
            channels, source_rate, written = _decode_stream(
                container, stream, rate, wanted, sinks, limits, name, warnings, declared, source_rate
            )
        except av.FFmpegError as exc:
            raise AudioError(DECODE_ERROR, f"could not decode {codec} audio: {_ffmpeg_reason(exc)}") from None
        finally:
            for sink in sinks:
                sink.close()
        info_format = container.format.name
    if written == 0:
        raise AudioError(EMPTY, f"no audio samples could be decoded ({codec} stream is empty or corrupt)")
    info = AudioInfo(sample_rate=source_rate, channels=channels, duration_ms=round(written * 1000 / rate),
                     codec=codec, format=info_format)
    return asdict(info), warnings, files


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    rate: int,
    wanted: list[int] | None,
    sinks: Sequence[BinaryIO],
    limits: AudioLimits,
    name: str,
    warnings: list[str],
    channels: int,
    source_rate: int,
) -> tuple[int, int, int]:
    """Decode, resample to `rate` and write each kept channel (or the downmix) to its sink, checking
    the limits as the samples come. Returns (channels, source rate, samples written per sink)."""
    resampler: av.AudioResampler | None = None
    written = 0

    def write(frames: list[av.AudioFrame]) -> None:
        nonlocal written
        for out in frames:
            # Packed (interleaved) float32: PyAV's planar to_ndarray reads past its frame's 8
            # plane pointers on files with 8 or more channels and crashes the process.
            block = out.to_ndarray().reshape(-1, channels)
            written += block.shape[0]
            limits.check_decoded(name, written, len(sinks), rate)
            if wanted is None:
                mono = block[:, 0] if channels == 1 else block.mean(axis=1, dtype=np.float32)
                sinks[0].write(np.ascontiguousarray(mono, dtype=np.float32).tobytes())
            else:
                for sink, number in zip(sinks, wanted, strict=True):
                    sink.write(np.ascontiguousarray(block[:, number], dtype=np.float32).tobytes())

    for frame in _frames(container, stream, warnings):
        if resampler is None:
            if frame.layout.nb_channels != channels:  # the header lied: check what is really there
                channels = frame.layout.nb_channels
                limits.check_header(name, channels=channels, sample_rate=frame.sample_rate)
                for number in wanted or ():
                    _check_channel(number, channels)
            source_rate = frame.sample_rate
            limits.check_header(name, channels=channels, sample_rate=source_rate)
            resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=rate)
        elif frame.layout.nb_channels != channels:
            raise AudioError(
                DECODE_ERROR,
                f"could not decode: the channel count changes mid-stream ({channels} to {frame.layout.nb_channels})",
            )
        write(resampler.resample(frame))
    if resampler is not None:
        write(resampler.resample(None))
    return channels, source_rate, written


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """The duration the container or stream declares, without decoding; None when none is declared."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _open(path: str) -> av.container.InputContainer:
    try:
        return av.open(path, mode="r")
    except av.error.InvalidDataError as exc:
        raise AudioError(UNSUPPORTED, "unsupported or corrupt audio: the format could not be recognized") from exc
    except av.error.EOFError as exc:
        raise AudioError(
            DECODE_ERROR, "could not decode: the file ends before any audio (truncated or corrupt)"
        ) from exc
    except av.FFmpegError as exc:
        raise AudioError(DECODE_ERROR, f"could not open audio: {_ffmpeg_reason(exc)}") from exc


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


def _seconds(packet: av.Packet[Any], stream: av.AudioStream) -> str:
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
    layout = av.AudioLayout(f"{channels} channels")  # "Nc" has no default layout for some N (9, 33, ...)
    # Packed frames: planar ones with 8 or more channels crash PyAV (see _decode_stream).
    resampler = av.AudioResampler(format="flt", layout=layout, rate=to_rate)
    out: list[np.ndarray] = []
    # Bounded frames keep FFmpeg's buffers small for hour-long PCM streams.
    step = max(from_rate, 1) * 10
    for start in range(0, planes.shape[1], step):
        block = np.ascontiguousarray(planes[:, start : start + step].T, dtype=np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="flt", layout=layout)
        frame.sample_rate = from_rate
        out.extend(f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame))
    out.extend(f.to_ndarray().reshape(-1, channels) for f in resampler.resample(None))
    if not out:
        return [np.zeros(0, dtype=np.float32) for _ in range(channels)]
    return list(np.ascontiguousarray(np.concatenate(out, axis=0).T, dtype=np.float32))
