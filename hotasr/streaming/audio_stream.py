"""Incremental audio decoding for real-time streams: bytes in as they arrive, 16 kHz mono float32 out.

Raw PCM and WAV are converted directly (numpy only). Compressed formats (mp3, Ogg opus/speex,
ADTS aac, amr) go through PyAV in a child process per stream (hotasr.audio_guard), reading from a
blocking connection, because FFmpeg's demuxers pull data rather than accept pushes; a crash in
FFmpeg fails that stream only.

Every stream is held to the same `AudioLimits` as files (hotasr.audio_guard): channels and sample
rate as its header declares them, and its duration as it arrives. A header that declares 0
channels, audio past the limits, and a stream that ends without a single sample all raise
AudioError; the WebSocket adapter reports them as task-failed.
"""

from __future__ import annotations

import json
import queue
import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import av
import numpy as np

from hotasr.audio import DECODE_CRASHED, EMPTY, SAMPLE_RATE, TOO_LARGE, AudioError, AudioLimits
from hotasr.audio_guard import death_message, start_isolated

# The formats the real-time API documents, and the FFmpeg demuxer for each compressed one.
CONTAINER_FORMATS = {"mp3": "mp3", "opus": "ogg", "speex": "ogg", "aac": "aac", "amr": "amr"}
FORMATS = frozenset({"pcm", "wav", *CONTAINER_FORMATS})
_DECODERS = {"mp3": "mp3", "opus": "opus", "speex": "speex", "aac": "aac", "amr": "amrnb"}


class StreamDecoder(Protocol):
    def feed(self, data: bytes) -> np.ndarray: ...
    def finish(self) -> np.ndarray: ...


def unsupported_reason(fmt: str) -> str | None:
    """Why `fmt` cannot be streamed here, or None when it can."""
    if fmt not in FORMATS:
        return f"format {fmt!r} is not supported; use one of: {', '.join(sorted(FORMATS))}"
    decoder = _DECODERS.get(fmt)
    if decoder is not None:
        try:
            av.Codec(decoder, "r")
        except Exception:
            return f"format {fmt!r} is not supported: this build of FFmpeg has no {decoder} decoder"
    return None


def open_stream(fmt: str, sample_rate: int, limits: AudioLimits | None = None) -> StreamDecoder:
    """A decoder for one stream; `limits` default to AudioLimits() (the settings' defaults)."""
    limits = limits or AudioLimits()
    if fmt == "pcm":
        return PcmStream(sample_rate, limits=limits)
    if fmt == "wav":
        return WavStream(sample_rate, limits)
    return ContainerStream(fmt, limits)


class _Meter:
    """Counts a stream's 16 kHz samples against the duration limit; no samples at all is an error."""

    def __init__(self, limits: AudioLimits, what: str) -> None:
        self.limits = limits
        self.what = what  # e.g. "the wav stream"
        self.samples = 0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        self.samples += len(samples)
        self.limits.check_decoded(self.what, self.samples)
        return samples

    def finish(self, samples: np.ndarray) -> np.ndarray:
        self(samples)
        if self.samples == 0:
            raise AudioError(EMPTY, f"{self.what} ended without any audio (0 samples)")
        return samples


class _Resampler:
    """Stateful resampling to 16 kHz mono: chunk edges leave no clicks, unlike per-chunk resampling."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._av = None if rate == SAMPLE_RATE else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def __call__(self, mono: np.ndarray) -> np.ndarray:
        if self._av is None or not len(mono):
            return mono
        frame = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.rate
        return _concat(f.to_ndarray().reshape(-1) for f in self._av.resample(frame))

    def flush(self) -> np.ndarray:
        if self._av is None:
            return np.zeros(0, np.float32)
        return _concat(f.to_ndarray().reshape(-1) for f in self._av.resample(None))


def _concat(parts: object) -> np.ndarray:
    arrays = [np.asarray(p, dtype=np.float32) for p in parts]  # type: ignore[attr-defined]
    return np.concatenate(arrays) if arrays else np.zeros(0, np.float32)


class PcmStream:
    """Signed 16-bit little-endian PCM at the declared rate."""

    def __init__(self, sample_rate: int, channels: int = 1, limits: AudioLimits | None = None,
                 what: str = "pcm stream") -> None:
        limits = limits or AudioLimits()
        limits.check_header(f"the {what}", channels=channels, sample_rate=sample_rate)
        self.channels = channels
        self._frame_bytes = 2 * channels
        self._carry = b""  # a frame split across two messages
        self._resample = _Resampler(sample_rate)
        self._meter = _Meter(limits, f"the {what}")

    def feed(self, data: bytes) -> np.ndarray:
        data = self._carry + data
        usable = len(data) - len(data) % self._frame_bytes
        self._carry = data[usable:]
        samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1)
        return self._meter(self._resample(samples))

    def finish(self) -> np.ndarray:
        return self._meter.finish(self._resample.flush())


class WavStream:
    """A RIFF/WAVE stream: the SDK sends the file as is, header in the first frame(s)."""

    def __init__(self, declared_rate: int, limits: AudioLimits | None = None) -> None:
        self.declared_rate = declared_rate
        self.limits = limits or AudioLimits()
        self._header = b""
        self._pcm: PcmStream | None = None

    def feed(self, data: bytes) -> np.ndarray:
        if self._pcm is not None:
            return self._pcm.feed(data)
        self._header += data
        parsed = _parse_wav_header(self._header)
        if parsed is None:
            if len(self._header) > 1 << 16:
                raise AudioError("INVALID_WAV", "no 'data' chunk in the first 64 KiB of the wav stream")
            return np.zeros(0, np.float32)
        rate, channels, offset = parsed
        if rate != self.declared_rate:
            raise AudioError(
                "SAMPLE_RATE_MISMATCH",
                f"the wav header says {rate} Hz but sample_rate is {self.declared_rate}",
            )
        # Checked before any sample is read: a header with 0 channels or 500 of them fails here.
        self._pcm = PcmStream(rate, channels, self.limits, "wav stream")
        rest, self._header = self._header[offset:], b""
        return self._pcm.feed(rest)

    def finish(self) -> np.ndarray:
        if self._pcm is None:
            if self._header:
                raise AudioError("INVALID_WAV", "the stream ended before a complete wav header")
            raise AudioError(EMPTY, "the wav stream ended without any audio (0 bytes)")
        return self._pcm.finish()


def _parse_wav_header(head: bytes) -> tuple[int, int, int] | None:
    """(sample rate, channels, offset of PCM data) once the header is complete, else None."""
    if len(head) < 12:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioError("INVALID_WAV", "format is wav but the stream does not start with a RIFF/WAVE header")
    pos, fmt = 12, None
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            if body + 16 > len(head):
                return None
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[body : body + 16])
            # WAVE_FORMAT_EXTENSIBLE (0xFFFE) wraps PCM too; its subformat GUID starts with the tag.
            if tag == 0xFFFE and body + 26 <= len(head):
                tag = struct.unpack("<H", head[body + 24 : body + 26])[0]
            if tag != 1 or bits != 16:
                raise AudioError("UNSUPPORTED_WAV", f"wav must be 16-bit PCM; this one is format {tag}, {bits}-bit")
            fmt = (rate, channels)
        elif chunk == b"data":
            if fmt is None:
                raise AudioError("INVALID_WAV", "wav 'data' chunk comes before its 'fmt ' chunk")
            return fmt[0], fmt[1], body
        pos = body + size + (size & 1)
    return None


class _Pipe:
    """A file-like object whose read() blocks until bytes arrive or the writer closes it."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def write(self, data: bytes) -> None:
        with self._cond:
            self._chunks.append(data)
            self._cond.notify()

    def close_writer(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def read(self, size: int = -1) -> bytes:
        with self._cond:
            while not self._chunks and not self._closed:
                self._cond.wait()
            if not self._chunks:
                return b""
            data = self._chunks.popleft()
            if 0 <= size < len(data):
                self._chunks.appendleft(data[size:])
                data = data[:size]
            return data


def decode_container(source: object, fmt: str, limits: AudioLimits, emit: Callable[[np.ndarray], None]) -> None:
    """Decode the compressed stream `source` (a file-like object) and pass 16 kHz mono float32
    pieces to `emit`; AudioError for what cannot be decoded or is past the limits."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    try:
        with av.open(source, mode="r", format=CONTAINER_FORMATS[fmt]) as container:
            if not container.streams.audio:
                raise AudioError("NO_AUDIO_STREAM", f"the {fmt} stream has no audio")
            context = container.streams.audio[0].codec_context
            limits.check_header(f"the {fmt} stream", channels=context.channels, sample_rate=context.sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    emit(out.to_ndarray().reshape(-1).astype(np.float32))
            for out in resampler.resample(None):
                emit(out.to_ndarray().reshape(-1).astype(np.float32))
    except AudioError:
        raise
    except MemoryError:
        raise AudioError(TOO_LARGE, f"decoding the {fmt} stream needs more memory than the decoder may use "
                         "(decoder_memory_mb)") from None
    except Exception as exc:  # FFmpeg errors: corrupt or mislabelled audio
        raise AudioError("DECODE_ERROR", f"could not decode the {fmt} stream: {exc}") from None


# Messages between a ContainerStream and its decoder process. To the child: the stream's bytes,
# then b"" for its end. From the child: b"S" + float32 samples, b"E" + JSON [code, message], b"D" (done).
_SAMPLES, _ERROR, _DONE = b"S", b"E", b"D"


class _ConnectionReader:
    """The decoder process's view of the stream: a file-like object over the connection."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._buffer = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        if not self._buffer and not self._ended:
            self._buffer = self._connection.recv_bytes()
            self._ended = not self._buffer
        size = len(self._buffer) if size < 0 else size
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _decode_in_child(connection: Any, fmt: str, limits: AudioLimits) -> None:
    """The decoder process of one ContainerStream (hotasr.audio_guard.start_isolated)."""
    try:
        decode_container(_ConnectionReader(connection), fmt, limits,
                         lambda samples: connection.send_bytes(_SAMPLES + samples.tobytes()))
        connection.send_bytes(_DONE)
    except AudioError as exc:
        connection.send_bytes(_ERROR + json.dumps([exc.code, exc.message]).encode())
    except (BrokenPipeError, EOFError, OSError):
        pass  # the stream's owner is gone


class ContainerStream:
    """Compressed audio decoded by FFmpeg in a child process (a native crash fails this stream
    only, as AudioError DECODE_CRASHED), fed and drained by two background threads so that feed()
    never blocks. In a daemonic process, which may not start children, FFmpeg runs in a thread here.
    """

    def __init__(self, fmt: str, limits: AudioLimits | None = None) -> None:
        self.fmt = fmt
        self.limits = limits or AudioLimits()
        self._meter = _Meter(self.limits, f"the {fmt} stream")
        self._out: deque[np.ndarray] = deque()
        self._error: AudioError | None = None
        self._done = threading.Event()
        self._inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._child: Any = None
        threading.Thread(target=self._start, name=f"decode-{fmt}", daemon=True).start()

    # -- background threads -------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the decoder process (a fork: not on the caller's event loop), then feed it."""
        try:
            started = start_isolated(_decode_in_child, (self.fmt, self.limits), self.limits)
        except Exception as exc:  # could not fork: fail the stream, not the server
            reason = f"could not start the audio decoder for the {self.fmt} stream: {exc}"
            return self._fail(AudioError(DECODE_CRASHED, reason))
        if started is None:
            return self._decode_here()
        connection, self._child = started
        threading.Thread(target=self._receive, args=(connection,), name=f"decoded-{self.fmt}", daemon=True).start()
        while True:
            data = self._inbox.get()
            try:
                connection.send_bytes(data)
            except OSError:
                return  # the child is gone; _receive reports why
            if not data:
                return

    def _receive(self, connection: Any) -> None:
        try:
            while True:
                message = connection.recv_bytes()
                kind, body = message[:1], message[1:]
                if kind == _SAMPLES:
                    self._out.append(np.frombuffer(body, dtype=np.float32))
                elif kind == _ERROR:
                    code, text = json.loads(body)
                    return self._fail(AudioError(code, text))
                else:
                    return self._done.set()
        except (EOFError, OSError):
            self._child.join(timeout=5)
            self._fail(AudioError(DECODE_CRASHED, death_message(f"the {self.fmt} stream", self._child.exitcode)))
        finally:
            connection.close()

    def _decode_here(self) -> None:
        pipe = _Pipe()
        threading.Thread(target=self._pump, args=(pipe,), name=f"feed-{self.fmt}", daemon=True).start()
        try:
            decode_container(pipe, self.fmt, self.limits, self._out.append)
        except AudioError as exc:
            return self._fail(exc)
        self._done.set()

    def _pump(self, pipe: _Pipe) -> None:
        while data := self._inbox.get():
            pipe.write(data)
        pipe.close_writer()

    def _fail(self, error: AudioError) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    # -- the caller's side -------------------------------------------------------------------------

    def _drain(self) -> np.ndarray:
        if self._error is not None:
            raise self._error
        parts = []
        while self._out:
            parts.append(self._out.popleft())
        try:
            return self._meter(_concat(parts))
        except AudioError:
            self.close()  # stop the decoder: nothing more of this stream is wanted
            raise

    def feed(self, data: bytes) -> np.ndarray:
        if data:
            self._inbox.put(bytes(data))
        return self._drain()

    def finish(self) -> np.ndarray:
        self._inbox.put(b"")
        self._done.wait(timeout=30)
        samples = self._drain()
        if self._meter.samples == 0:
            raise AudioError(EMPTY, f"the {self.fmt} stream ended without any audio (0 samples)")
        return samples

    def close(self) -> None:
        self._inbox.put(b"")
        child = self._child
        if child is not None and not self._done.is_set() and child.is_alive():
            child.terminate()  # an abandoned stream: its decoder has nothing more to do
