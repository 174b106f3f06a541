"""Limits on untrusted audio, and the child process that decodes it.

Why: FFmpeg/PyAV are native code; one malformed or merely unusual file (a WAV with 8 channels
made PyAV read past its frame's plane pointers) used to end the server process for everyone, and
a tiny file whose header claims hours of audio made it allocate gigabytes. So:

- `AudioLimits` bounds what a file may declare and decode to (duration, channels, sample rate,
  decoded bytes), checked on the header before decoding and again while decoding, on every path
  (OpenAI, file tasks, real time, library and CLI).
- `run_isolated` runs the probe and the decode in a short-lived child process forked from a
  preloaded fork server, with an address-space and CPU-time limit. A child that dies (a signal,
  the memory limit) fails that one call with `AudioError(DECODE_CRASHED)`; the caller lives on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.spawn
import os
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hotasr.audio_errors import (
    BAD_HEADER,
    BAD_SAMPLE_RATE,
    DECODE_CRASHED,
    DECODE_ERROR,
    TOO_LARGE,
    TOO_LONG,
    TOO_MANY_CHANNELS,
    AudioError,
)

if TYPE_CHECKING:
    from hotasr.config import Settings

_BYTES_PER_SAMPLE = 4  # float32
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class AudioLimits:
    """What one recording may declare and cost. Defaults equal hotasr.config.Settings' defaults."""

    max_seconds: float = 4 * 3600  # max_audio_seconds
    max_channels: int = 32  # max_audio_channels
    min_sample_rate: int = 4000  # min_audio_sample_rate
    max_sample_rate: int = 384000  # max_audio_sample_rate
    max_decoded_mb: int = 2048  # decoded float32 samples handed back, all returned channels together
    decoder_memory_mb: int = 1024  # address space the decoder process may add to what it starts with
    decoder_cpu_seconds: int = 900  # CPU time one decode may take

    @classmethod
    def from_settings(cls, settings: Settings) -> AudioLimits:
        return cls(
            max_seconds=settings.max_audio_seconds,
            max_channels=settings.max_audio_channels,
            min_sample_rate=settings.min_audio_sample_rate,
            max_sample_rate=settings.max_audio_sample_rate,
            max_decoded_mb=settings.max_decoded_audio_mb,
            decoder_memory_mb=settings.decoder_memory_mb,
            decoder_cpu_seconds=settings.decoder_cpu_seconds,
        )

    def check_header(self, name: str, *, channels: int, sample_rate: int, seconds: float | None = None,
                     outputs: int = 1, output_rate: int = 16000) -> None:
        """Refuse what a header declares before any of it is decoded. `outputs`: how many decoded
        channels the caller keeps (1 for a downmix)."""
        if channels <= 0:
            raise AudioError(BAD_HEADER, f"{name}: the header declares {channels} audio channels")
        if channels > self.max_channels:
            raise AudioError(TOO_MANY_CHANNELS, f"{name} has {channels} audio channels; at most "
                             f"{self.max_channels} are accepted (max_audio_channels)")
        if sample_rate <= 0:
            raise AudioError(BAD_HEADER, f"{name}: the header declares a sample rate of {sample_rate} Hz")
        if not self.min_sample_rate <= sample_rate <= self.max_sample_rate:
            raise AudioError(BAD_SAMPLE_RATE, f"{name} declares a sample rate of {sample_rate} Hz; accepted: "
                             f"{self.min_sample_rate}..{self.max_sample_rate} Hz")
        if seconds is not None:
            self.check_decoded(name, round(seconds * output_rate), outputs, output_rate, declared=True)

    def check_decoded(self, name: str, samples: int, outputs: int = 1, output_rate: int = 16000, *,
                      declared: bool = False) -> None:
        """Refuse once `samples` (per channel, at `output_rate`) go past the limits."""
        seconds = samples / output_rate
        if seconds > self.max_seconds:
            what = "is" if declared else "decodes to more than"
            raise AudioError(TOO_LONG, f"{name} {what} {seconds:.0f} s of audio; the limit is "
                             f"{self.max_seconds:g} s (max_audio_seconds)")
        size = samples * outputs * _BYTES_PER_SAMPLE
        if size > self.max_decoded_mb * _MB:
            what = "would decode" if declared else "decodes"
            raise AudioError(TOO_LARGE, f"{name} {what} to more than {size // _MB} MB of samples; the limit is "
                             f"{self.max_decoded_mb} MB (max_decoded_audio_mb)")


# -- the decoder process ----------------------------------------------------------------------------

_context = multiprocessing.get_context("forkserver")
_preloaded = False
_preload_lock = threading.Lock()
_CHILD_NAME = "hotasr-decode"
_preparation_data = multiprocessing.spawn.get_preparation_data


def _without_main(name: str) -> dict[str, Any]:
    """multiprocessing's start data, minus the parent's __main__ for our decoder processes.

    multiprocessing re-runs the parent's main script in every child (as __mp_main__): for the
    `hotasr` console script that is the whole CLI's imports per decode, and a library user's script
    without an `if __name__ == "__main__"` guard would run again. The decoder needs only what the
    fork server preloaded (hotasr.audio).
    """
    data = _preparation_data(name)
    if name == _CHILD_NAME:
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
    return data


multiprocessing.spawn.get_preparation_data = _without_main  # only processes named _CHILD_NAME change


def _ensure_preload() -> None:
    # The fork server imports the decoder once; each decode is then a cheap fork, not a new Python.
    global _preloaded
    with _preload_lock:
        if not _preloaded:
            _context.set_forkserver_preload(["hotasr.audio"])
            _preloaded = True


def run_isolated(fn: Callable[..., Any], args: tuple[Any, ...], limits: AudioLimits, name: str) -> Any:
    """`fn(*args)` in a child process under `limits`' memory and CPU limits; its (small, picklable)
    result, or the AudioError it raised. A child that dies raises AudioError(DECODE_CRASHED).
    In a daemonic process (a multiprocessing.Pool worker), which may not start children, `fn` runs
    here instead."""
    if multiprocessing.current_process().daemon:
        # multiprocessing forbids children here (e.g. hotasr.transcribe inside a Pool worker):
        # decode in this process, with the same limits on what the header declares and decodes.
        return fn(*args)
    receiver, sender = _context.Pipe(duplex=False)
    child = _start_child(_child_main, sender, fn, args, limits)  # its death reads as EOF on receiver
    try:
        outcome = receiver.recv()
    except (EOFError, OSError):
        outcome = None
    finally:
        receiver.close()
        child.join()
    if outcome is None:
        raise AudioError(DECODE_CRASHED, death_message(name, child.exitcode))
    kind, *rest = outcome
    if kind == "error":
        raise AudioError(*rest)
    return rest[0]


def death_message(name: str, exitcode: int | None) -> str:
    """Why a decoder process ended without an answer, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            sig = signal.Signals(-exitcode)
        except ValueError:
            how = f"signal {-exitcode}"
        else:
            how = "it ran out of CPU time (decoder_cpu_seconds)" if sig == signal.SIGXCPU else sig.name
        return f"the audio decoder crashed on {name} ({how}); the audio cannot be decoded"
    return f"the audio decoder stopped on {name} without an answer (exit status {exitcode})"


def start_isolated(fn: Callable[..., None], args: tuple[Any, ...], limits: AudioLimits) -> tuple[Any, Any] | None:
    """`fn(connection, *args)` in a child process under `limits`' memory and CPU limits, for
    decoders that live as long as a stream. Returns (this side's duplex Connection, the child
    Process), or None in a daemonic process, which may not start children."""
    if multiprocessing.current_process().daemon:
        return None
    mine, theirs = _context.Pipe(duplex=True)
    return mine, _start_child(_serve_main, theirs, fn, args, limits)


def _start_child(main: Callable[..., None], connection: Any, fn: Callable[..., Any], args: tuple[Any, ...],
                 limits: AudioLimits) -> Any:
    """A decoder child running `main(connection, fn, args, memory_mb, cpu_seconds)`. This process
    closes its copy of `connection`: the child holds the only one, so its death reads as EOF."""
    _ensure_preload()
    child = _context.Process(
        target=main, args=(connection, fn, args, limits.decoder_memory_mb, limits.decoder_cpu_seconds),
        name=_CHILD_NAME, daemon=True,
    )
    child.start()
    connection.close()
    return child


def _serve_main(connection: Any, fn: Callable[..., None], args: tuple[Any, ...], memory_mb: int,
                cpu_seconds: int) -> None:
    _limit(memory_mb, cpu_seconds)
    fn(connection, *args)


def _child_main(sender: Any, fn: Callable[..., Any], args: tuple[Any, ...], memory_mb: int,
                cpu_seconds: int) -> None:
    try:
        _limit(memory_mb, cpu_seconds)
        outcome: tuple[Any, ...] = ("ok", fn(*args))
    except AudioError as exc:
        outcome = ("error", exc.code, exc.message)
    except MemoryError:
        outcome = ("error", TOO_LARGE, "decoding this audio needs more memory than the decoder may use "
                   f"({memory_mb} MB, decoder_memory_mb)")
    except Exception as exc:  # a bug or an unexpected FFmpeg error: one line, not a traceback
        outcome = ("error", DECODE_ERROR, f"could not decode: {type(exc).__name__}: {exc}")
    sender.send(outcome)
    sender.close()


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    mapped = _address_space()
    if memory_mb > 0 and mapped:
        limit = mapped + memory_mb * _MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_seconds > 0:
        used = resource.getrusage(resource.RUSAGE_SELF)
        start = int(used.ru_utime + used.ru_stime)
        resource.setrlimit(resource.RLIMIT_CPU, (start + cpu_seconds, start + cpu_seconds + 5))


def _address_space() -> int:
    """This process's mapped bytes now (the forked child starts with the fork server's)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0
