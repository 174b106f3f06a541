"""No input takes the server down: hostile audio (8+ channels, lying headers, empty and 0-second
files, pure noise) through every path, the OpenAI endpoint, file tasks (official dashscope SDK),
real time (WebSocket), the library and the CLI, on one real server that must keep serving."""

from __future__ import annotations

import ctypes
import io
import json
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dashscope
import numpy as np
import openai
import pytest
from dashscope.audio.asr import Transcription
from openai import OpenAI

import hotasr
from hotasr.audio import (
    BAD_HEADER,
    BAD_SAMPLE_RATE,
    DECODE_CRASHED,
    EMPTY,
    INVALID_CHANNEL,
    TOO_LARGE,
    TOO_LONG,
    TOO_MANY_CHANNELS,
    AudioError,
    AudioLimits,
    decode_audio,
    decode_channels,
    decode_pcm,
)
from hotasr.audio_guard import run_isolated
from hotasr.config import Settings
from hotasr.speech_gate import NO_SPEECH_WARNING, has_speech
from hotasr.storage.db import make_engine, make_sessions, migrate
from hotasr.streaming.audio_stream import open_stream
from hotasr.tasks.store import CRASHED_CODE, TaskStore
from tests.conftest import BACKENDS
from tests.engine_fixtures import MODEL_CACHE, encode
from tests.servers import Server
from tests.task_fixtures import ONE_TWO_THREE, FileServer, task_server
from tests.test_realtime import events_until_end, finish_task, open_ws, run_task

TINY = {"weights": "whisper-tiny.en"}
MODELS = {"fun-asr": TINY, "paraformer-v2": TINY, "fun-asr-realtime": TINY}
RATE = 16000


# -- hostile files -------------------------------------------------------------------------------


def wav(channels: list[np.ndarray], rate: int = RATE) -> bytes:
    """16-bit WAV with these channels (float samples in -1..1)."""
    frames = np.stack(channels, axis=1) if channels else np.zeros((0, 1))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(max(1, len(channels)))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def speech() -> np.ndarray:
    return decode_audio(ONE_TWO_THREE).samples  # "one two three", 2.7 s


def eight_channels() -> bytes:
    """The issue's 8-channel WAV, with speech on channel 3 so that a transcript can prove it decoded."""
    words = speech()
    silent = np.zeros_like(words)
    return wav([words if n == 3 else silent for n in range(8)])


def zero_channel_wav() -> bytes:
    data = bytearray(wav([np.zeros(3200)]))
    data[22:24] = struct.pack("<H", 0)  # fmt chunk: channels
    return bytes(data)


def flac_declaring(seconds: float) -> bytes:
    """A 1 s FLAC whose STREAMINFO claims `seconds` (0: unknown), like the issue's 3 MB '4.5 hour' FLAC."""
    data = bytearray(encode(np.zeros(RATE, np.float32), "flac", "flac", RATE))
    assert data[:4] == b"fLaC"
    field = int.from_bytes(data[18:26], "big")  # rate(20) channels(3) bits(5) total samples(36)
    field = (field & ~((1 << 36) - 1)) | round(seconds * RATE)
    data[18:26] = field.to_bytes(8, "big")
    return bytes(data)


def noise(seconds: float = 6.25) -> np.ndarray:
    return np.random.default_rng(8).uniform(-1, 1, round(seconds * RATE)).astype(np.float32)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    files = {
        "8ch.wav": eight_channels(),
        "16ch.wav": wav([np.zeros(RATE)] * 16),
        "64ch.wav": wav([np.zeros(RATE)] * 64),
        "0ch.wav": zero_channel_wav(),
        "1hz.wav": wav([np.zeros(16000)], rate=1),  # 32 KB that "is" 4.4 hours
        "long.flac": flac_declaring(4.5 * 3600),
        "header-only.wav": wav([np.zeros(0)]),
        "noise.wav": wav([noise()]),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return {name: root / name for name in files}


# -- the decoder on its own ----------------------------------------------------------------------------


def test_eight_or_more_channels_decode(hostile: dict[str, Path]) -> None:
    # These segfaulted in PyAV's planar to_ndarray (8 data pointers in an AVFrame).
    decoded = decode_channels(hostile["8ch.wav"])
    assert decoded.info.channels == 8 and len(decoded.channels) == 8
    assert np.allclose(decoded.channels[3], speech(), atol=1e-3)
    assert not np.any(decoded.channels[0])
    only = decode_channels(hostile["8ch.wav"], channels=[3])
    assert np.array_equal(only.channels[3], decoded.channels[3]) and only.channels[0].size == 0
    assert np.allclose(decode_audio(hostile["8ch.wav"]).samples, decoded.channels[3] / 8, atol=1e-4)
    assert decode_audio(hostile["16ch.wav"]).info.channels == 16
    pcm = (np.zeros((RATE, 9)) + 0.25 * 32767).astype("<i2").tobytes()
    assert np.allclose(decode_pcm(pcm, 8000, channels=9, channel=8).samples[100:-100], 0.25, atol=1e-3)


def test_header_checks_refuse_before_decoding(hostile: dict[str, Path]) -> None:
    cases = {
        "64ch.wav": (TOO_MANY_CHANNELS, "64 audio channels"),
        "0ch.wav": (BAD_HEADER, "0 audio channels"),
        "1hz.wav": (BAD_SAMPLE_RATE, "1 Hz"),
        "long.flac": (TOO_LONG, "16200 s"),
        "header-only.wav": (EMPTY, "no audio samples"),
    }
    for name, (code, words) in cases.items():
        with pytest.raises(AudioError) as caught:
            decode_audio(hostile[name])
        assert caught.value.code == code and words in caught.value.message, (name, caught.value.message)
        if code != EMPTY:
            assert name in caught.value.message  # names the offending file
    with pytest.raises(AudioError) as caught:
        decode_channels(hostile["8ch.wav"], channels=[8])
    assert caught.value.code == INVALID_CHANNEL
    # A 2.7 s file is refused by a 0.5 s limit; 8 decoded channels (1.4 MB) by a 1 MB budget,
    # which one channel of them fits.
    with pytest.raises(AudioError, match="max_audio_seconds") as caught:
        decode_audio(hostile["8ch.wav"], limits=AudioLimits(max_seconds=0.5))
    assert caught.value.code == TOO_LONG
    with pytest.raises(AudioError, match="max_decoded_audio_mb") as caught:
        decode_channels(hostile["8ch.wav"], limits=AudioLimits(max_decoded_mb=1))
    assert caught.value.code == TOO_LARGE
    assert decode_channels(hostile["8ch.wav"], channels=[3], limits=AudioLimits(max_decoded_mb=1)).channels[3].size


def test_undeclared_duration_is_counted_while_decoding() -> None:
    unknown = flac_declaring(0)  # STREAMINFO: total samples unknown
    assert decode_audio(unknown).info.duration_ms == 1000
    with pytest.raises(AudioError, match="decodes to more than") as caught:
        decode_audio(unknown, limits=AudioLimits(max_seconds=0.25))
    assert caught.value.code == TOO_LONG


def test_a_crash_or_memory_blowup_in_the_decoder_fails_only_that_call() -> None:
    limits = AudioLimits()
    with pytest.raises(AudioError) as caught:
        run_isolated(ctypes.string_at, (0,), limits, "audio file 'poison.wav'")  # reads address 0: SIGSEGV
    assert caught.value.code == DECODE_CRASHED
    assert "poison.wav" in caught.value.message and "SIGSEGV" in caught.value.message
    with pytest.raises(AudioError) as caught:
        run_isolated(bytearray, (1 << 31,), AudioLimits(decoder_memory_mb=256), "the audio")
    assert caught.value.code == TOO_LARGE and "decoder_memory_mb" in caught.value.message
    assert run_isolated(len, (b"still here",), limits, "x") == 10  # and this process goes on


def _channels_of(path: Path) -> int:
    return decode_audio(path).info.channels


def test_a_pool_worker_may_decode_too(hostile: dict[str, Path]) -> None:
    # Daemonic Pool workers may not start children: they decode in-process, under the same limits.
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_channels_of, [hostile["8ch.wav"]]) == [8]
        with pytest.raises(AudioError) as caught:
            pool.map(_channels_of, [hostile["1hz.wav"]])
    assert caught.value.code == BAD_SAMPLE_RATE


def test_stream_headers_and_empty_streams_are_audio_errors(hostile: dict[str, Path]) -> None:
    stream = open_stream("wav", RATE)
    with pytest.raises(AudioError) as caught:  # was ZeroDivisionError
        stream.feed(hostile["0ch.wav"].read_bytes())
    assert caught.value.code == BAD_HEADER
    for fmt, data in [("wav", hostile["header-only.wav"].read_bytes()), ("wav", b""), ("pcm", b"")]:
        stream = open_stream(fmt, RATE)
        stream.feed(data)
        with pytest.raises(AudioError) as caught:
            stream.finish()
        assert caught.value.code == EMPTY and "without any audio" in caught.value.message
    with pytest.raises(AudioError) as caught:
        open_stream("wav", RATE).feed(hostile["64ch.wav"].read_bytes())
    assert caught.value.code == TOO_MANY_CHANNELS
    stream = open_stream("pcm", RATE, AudioLimits(max_seconds=1))
    stream.feed(bytes(2 * RATE))
    with pytest.raises(AudioError) as caught:
        stream.feed(bytes(2 * RATE))
    assert caught.value.code == TOO_LONG


def test_a_crash_in_a_compressed_streams_decoder_fails_that_stream_only() -> None:
    import os
    import signal
    import time

    data = encode(speech(), "mp3", "mp3", RATE)
    doomed, healthy = open_stream("mp3", RATE), open_stream("mp3", RATE)
    doomed.feed(data[:4000])
    deadline = time.monotonic() + 30
    while getattr(doomed, "_child", None) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the decoder process starts in the background
    os.kill(doomed._child.pid, signal.SIGSEGV)  # type: ignore[attr-defined]  # what a poison stream does to FFmpeg
    with pytest.raises(AudioError) as caught:
        doomed.feed(data[4000:])
        doomed.finish()
    assert caught.value.code == DECODE_CRASHED and "mp3 stream" in caught.value.message
    pieces = [healthy.feed(data[n : n + 4000]) for n in range(0, len(data), 4000)]
    decoded = np.concatenate([*pieces, healthy.finish()])
    assert abs(len(decoded) - len(speech())) < RATE // 10  # mp3 padding aside, all of it
    healthy.close()


def test_speech_gate_hears_speech_not_noise() -> None:
    assert has_speech(speech())
    assert not has_speech(noise(30))
    assert not has_speech(np.zeros(RATE * 5, np.float32))


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_file_whose_decode_keeps_killing_its_worker_fails_and_is_not_retried(database_url: str) -> None:
    from hotasr.accounts import AccountService
    from hotasr.tasks.models import FAILED, TaskParameters
    from tests.test_transcription_units import LEASE, TTL

    engine = make_engine(database_url)
    migrate(engine)
    store = TaskStore(make_sessions(engine))
    accounts = AccountService(store._sessions)
    account = accounts.authenticate(accounts.create_key("poison").secret)
    assert account is not None
    urls = ["http://example.com/poison.wav", "http://example.com/fine.wav"]
    task_id = store.create(account, "fun-asr", urls, TaskParameters(), []).task_id

    def dies_decoding(owner: str, index: int) -> Any:
        record = store.claim_next(owner, LEASE)
        assert record is not None and record.task_id == task_id
        assert store.save_progress(task_id, owner, record.subtasks, decoding=index)  # the runner, before decoding
        assert store.get(task_id).subtasks[index] is None  # type: ignore[union-attr]  # in progress, not done
        # The worker dies in the decoder; the janitor hands the task out again.
        assert store.recover(5, TTL, is_dead=lambda dead: dead == owner).requeued == [task_id]
        return record

    # Once may be a kill (a deploy, the OOM killer): the file is decoded again.
    dies_decoding("host:1:a", 0)
    # A graceful stop mid-decode does not count (the pool releases the task).
    second = store.claim_next("host:2:b", LEASE)
    assert second is not None and second.subtasks == [None, None]
    assert store.save_progress(task_id, "host:2:b", second.subtasks, decoding=0)
    assert store.release(task_id, "host:2:b")
    # A second death in the same file's decode: it fails with a clear code, the rest goes on.
    dies_decoding("host:3:c", 0)
    last = store.claim_next("host:4:d", LEASE)
    assert last is not None
    poisoned = last.subtasks[0]
    assert poisoned is not None and poisoned.status == FAILED and poisoned.code == CRASHED_CODE
    assert "2 times" in (poisoned.message or "")
    assert last.subtasks[1] is None  # the other file still runs


# -- every path, one server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = task_server(tmp_path_factory.mktemp("data"), HOTASR_MODELS=json.dumps(MODELS),
                      HOTASR_REALTIME_AUDIO_TIMEOUT_S="5").start()
    srv.key = srv.create_key("poison")  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def files(hostile: dict[str, Path]) -> Iterator[FileServer]:
    server = FileServer(extra=tuple(hostile.values()))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> OpenAI:
    dashscope.base_http_api_url = server.url + "/api/v1"
    dashscope.api_key = server.key  # type: ignore[attr-defined]
    return OpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0, timeout=120)  # type: ignore[attr-defined]


def openai_transcribe(client: OpenAI, path: Path) -> Any:
    with path.open("rb") as audio:
        return client.audio.transcriptions.with_raw_response.create(
            file=audio, model="whisper-1", response_format="verbose_json")


def openai_error(client: OpenAI, path: Path) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_transcribe(client, path)
    return caught.value.body  # type: ignore[return-value]


def task_results(urls: list[str], **parameters: Any) -> list[dict[str, Any]]:
    response = Transcription.call(model="fun-asr", file_urls=urls, **parameters)
    assert response.status_code == 200, response
    return list(response.output["results"])


def realtime(server: Server, data: bytes, fmt: str = "wav") -> list[dict[str, Any]]:
    with open_ws(server) as ws:
        task_id = run_task(ws, format=fmt)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        for offset in range(0, len(data), 16000):
            ws.send(data[offset : offset + 16000])
        finish_task(ws, task_id)
        return events_until_end(ws)


def peak_rss_mb(server: Server) -> float:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


def alive(server: Server, pid: int) -> None:
    assert server.process is not None and server.process.pid == pid and server.process.poll() is None


def test_eight_channels_on_every_path_then_the_server_still_serves(
    server: Server, files: FileServer, client: OpenAI, hostile: dict[str, Path]
) -> None:
    assert server.process is not None
    pid = server.process.pid
    path = hostile["8ch.wav"]

    # OpenAI endpoint: the downmix (speech at 1/8) is transcribed, not a crash.
    response = openai_transcribe(client, path)
    assert response.http_response.status_code == 200
    assert response.parse().text.strip()
    alive(server, pid)

    # File task through the official SDK: channel 3 has the words; channel 0 is silent.
    [result] = task_results([files.url(path.name)], channel_id=[3])
    assert result["subtask_status"] == "SUCCEEDED", result
    [silent] = task_results([files.url(path.name)])
    assert silent["code"] == "SUCCESS_WITH_NO_VALID_FRAGMENT", silent
    alive(server, pid)

    # Real time: the WebSocket takes the same file as a wav stream.
    events = realtime(server, path.read_bytes())
    assert events[-1]["header"]["event"] == "task-finished", events[-1]
    alive(server, pid)

    # The library, in this very process, and the CLI.
    settings = Settings(model_cache_dir=MODEL_CACHE, models={"fun-asr": TINY})  # type: ignore[arg-type]
    assert hotasr.transcribe(path, settings=settings, channel=3).text.strip()
    cli = server.cli("transcribe", "--model", "fun-asr", "--channel", "3", str(path), check=False)
    assert cli.returncode == 0 and cli.stdout.strip(), cli.stderr

    # And after all that, an ordinary request on the same server process.
    normal = openai_transcribe(client, ONE_TWO_THREE)
    assert normal.http_response.status_code == 200 and normal.parse().text.strip()
    alive(server, pid)


def test_lying_headers_are_refused_on_every_path_before_the_memory_is_spent(
    server: Server, files: FileServer, client: OpenAI, hostile: dict[str, Path]
) -> None:
    before = peak_rss_mb(server)
    expected = {  # file: (AudioError code, OpenAI code, task code)
        "1hz.wav": (BAD_SAMPLE_RATE, "sample_rate_out_of_range", "InvalidFile.DecodeFailed"),
        "long.flac": (TOO_LONG, "audio_too_long", "InvalidFile.TooLong"),
        "64ch.wav": (TOO_MANY_CHANNELS, "too_many_channels", "InvalidFile.DecodeFailed"),
        "0ch.wav": (BAD_HEADER, "invalid_header", "InvalidFile.DecodeFailed"),
        "header-only.wav": (EMPTY, "empty_file", "InvalidFile.DecodeFailed"),
    }
    names = list(expected)
    results = task_results([files.url(name) for name in names])
    for name, result in zip(names, results, strict=True):
        code, openai_code, task_code = expected[name]
        body = openai_error(client, hostile[name])
        assert body["code"] == openai_code and body["param"] == "file", (name, body)
        assert result["subtask_status"] == "FAILED" and result["code"] == task_code, (name, result)
        with pytest.raises(AudioError) as caught:
            hotasr.transcribe(hostile[name])
        assert caught.value.code == code
    # The real-time path: a 0-channel header and a header with no audio fail the task, in words.
    for name, words, wire in [("0ch.wav", "0 audio channels", "InvalidAudio"),
                              ("header-only.wav", "without any audio", "BadRequest.EmptyInput")]:
        events = realtime(server, hostile[name].read_bytes())
        failed = events[-1]["header"]
        assert failed["event"] == "task-failed" and failed["error_code"] == wire, failed
        assert words in failed["error_message"]
    # 4.4 "hours" at 1 Hz cost the server 2.9 GB before; now the header is all that is read.
    assert peak_rss_mb(server) - before < 300


def test_noise_gives_no_text_and_a_warning(
    server: Server, files: FileServer, client: OpenAI, hostile: dict[str, Path]
) -> None:
    response = openai_transcribe(client, hostile["noise.wav"])
    body = json.loads(response.http_response.text)
    assert body["text"] == "" and body["segments"] == []
    assert NO_SPEECH_WARNING in body["warnings"]
    [result] = task_results([files.url("noise.wav")])
    assert result["code"] == "SUCCESS_WITH_NO_VALID_FRAGMENT" and "no speech was detected" in result["message"]
    settings = Settings(model_cache_dir=MODEL_CACHE, models={"fun-asr": TINY})  # type: ignore[arg-type]
    transcript = hotasr.transcribe(hostile["noise.wav"], settings=settings)
    assert transcript.sentences == [] and NO_SPEECH_WARNING in transcript.warnings
