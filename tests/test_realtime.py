"""Real-time recognition over WebSocket: the official SDK and raw protocol tests, real speech, real model."""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dashscope
import httpx
import numpy as np
import pytest
from dashscope.audio.asr import Recognition, RecognitionCallback, RecognitionResult, VocabularyService
from dashscope.common.error import InvalidParameter, InvalidTask
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from hotasr.audio import decode_audio
from tests.readings import heard, words_of
from tests.servers import SHARED, Server

TINY = {"weights": "whisper-tiny.en"}
MODELS = {"fun-asr-realtime": TINY, "paraformer-realtime-v2": TINY, "paraformer-realtime-8k-v2": TINY}
JFK = SHARED / "data" / "en_misc" / "jfk.flac"
NIGHTFALL = SHARED / "data" / "librispeech_test_subset" / "test-clean" / "1089-134686-0002.wav"


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16(samples))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "HOTASR_MODELS": json.dumps(MODELS),
        "HOTASR_REALTIME_AUDIO_TIMEOUT_S": "3",
        "HOTASR_REALTIME_MAX_STREAMS": "3",
    }
    server = Server(tmp_path_factory.mktemp("rt"), env=env).start()
    server.key = server.create_key("rt")  # type: ignore[attr-defined]
    dashscope.base_http_api_url = server.url + "/api/v1"
    yield server
    server.stop()


@pytest.fixture
def sdk(rt: Server) -> str:
    dashscope.base_websocket_api_url = rt.url.replace("http://", "ws://") + "/api-ws/v1/inference"
    dashscope.base_http_api_url = rt.url + "/api/v1"
    dashscope.api_key = rt.key  # type: ignore[attr-defined]
    return rt.key  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def jfk_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "jfk16k.wav"
    path.write_bytes(wav_bytes(decode_audio(JFK).samples))
    return path


# -- the official SDK ------------------------------------------------------------------------------


def test_sdk_call_returns_final_sentences(sdk: str) -> None:
    result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None).call(
        str(NIGHTFALL))
    assert result.status_code == 200, result.message
    sentences = result.get_sentence()
    text = " ".join(s["text"] for s in sentences)
    for word in ("nightfall", "yellow", "lamps", "light", "squalid", "quarter"):
        assert word in words_of(text)
    first = sentences[0]
    assert first["end_time"] > first["begin_time"] >= 0 and first["sentence_end"] is True
    assert all(w["begin_time"] <= w["end_time"] for s in sentences for w in s["words"])
    assert result.get_usage(sentences[-1])["duration"] in (6, 7)  # 6.6 s of audio, billed in whole seconds


def test_sdk_call_with_vocabulary_id(sdk: str, jfk_wav: Path) -> None:
    service = VocabularyService()
    vid = service.create_vocabulary("fun-asr-realtime", "rt", [{"text": "Americans", "weight": 5, "lang": "en"}])
    other = service.create_vocabulary("fun-asr", "rtother", [{"text": "Americans", "weight": 5, "lang": "en"}])
    try:
        result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None,
                             vocabulary_id=vid).call(str(jfk_wav))
        assert result.status_code == 200, result.message
        text = " ".join(s["text"] for s in result.get_sentence())
        assert "Americans" in text
        assert heard(text, "ask not what your country can do for you")

        # A list made for another model does not apply, and the result says so (DashScope: no error).
        mismatched = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None,
                                 vocabulary_id=other).call(str(jfk_wav))
        assert mismatched.status_code == 200
        assert "target_model 'fun-asr'" in json.dumps(mismatched.output)
    finally:
        service.delete_vocabulary(vid)
        service.delete_vocabulary(other)


class Recorder(RecognitionCallback):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.error: RecognitionResult | None = None

    def on_open(self) -> None:
        self.calls.append("open")

    def on_event(self, result: RecognitionResult) -> None:
        self.calls.append("event")
        self.events.append(result.get_sentence())

    def on_complete(self) -> None:
        self.calls.append("complete")

    def on_error(self, result: RecognitionResult) -> None:
        self.calls.append("error")
        self.error = result

    def on_close(self) -> None:
        self.calls.append("close")


def test_sdk_streaming_at_real_time_gives_interim_and_final_results(sdk: str) -> None:
    samples = decode_audio(NIGHTFALL).samples
    callback = Recorder()
    recognition = Recognition(model="paraformer-realtime-v2", format="pcm", sample_rate=16000, callback=callback)
    _stream_at_real_time(recognition, samples)
    assert callback.error is None, callback.error and callback.error.message
    assert callback.calls[0] == "open" and callback.calls[-2:] == ["complete", "close"]
    interims = [e for e in callback.events if e["end_time"] is None]
    finals = [e for e in callback.events if e["end_time"] is not None]
    assert interims, "no interim result while the sentence was spoken"
    assert all(e["sentence_end"] is False for e in interims) and finals[-1]["sentence_end"] is True
    assert "squalid" in words_of(" ".join(e["text"] for e in finals))


def _stream_at_real_time(recognition: Recognition, samples: np.ndarray) -> None:
    recognition.start()
    data = pcm16(samples)
    frame = 3200  # 100 ms, as the docs recommend
    started = time.monotonic()
    for i, offset in enumerate(range(0, len(data), frame)):
        time.sleep(max(0.0, started + i * 0.1 - time.monotonic()))
        recognition.send_audio_frame(data[offset : offset + frame])
    recognition.stop()


def test_a_pause_shorter_than_max_sentence_silence_keeps_one_sentence(sdk: str) -> None:
    """The final is decoded ahead when the speaker pauses; when speech resumes, that early result
    must be dropped: one final sentence with the words from both sides of the pause."""
    pause = np.zeros(int(0.7 * 16000), np.float32)
    tail = np.zeros(int(2.5 * 16000), np.float32)
    fellow_americans = decode_audio(JFK).samples[: int(2.9 * 16000)]  # "And so my fellow Americans", 0.8 s quiet
    samples = np.concatenate([fellow_americans, pause, decode_audio(NIGHTFALL).samples, tail])
    callback = Recorder()
    recognition = Recognition(model="paraformer-realtime-v2", format="pcm", sample_rate=16000,
                              callback=callback, max_sentence_silence=2000)
    _stream_at_real_time(recognition, samples)
    assert callback.error is None, callback.error and callback.error.message
    finals = [e for e in callback.events if e["end_time"] is not None and e["text"]]
    heard = words_of(" ".join(e["text"] for e in finals))
    assert "americans" in heard and "squalid" in heard, finals
    # Both halves come out (Whisper may split its text into sentences), and none of it twice.
    assert heard.count("americans") == 1 and heard.count("squalid") == 1, finals
    assert finals[-1]["end_time"] > 2_900 + 700


@pytest.mark.parametrize(
    ("kwargs", "code", "needle"),
    [
        ({"model": "no-such-model"}, "ModelNotFound", "not a known model"),
        ({"model": "fun-asr-realtime-2025-09-15"}, "ModelNotFound", "not served"),
        ({"model": "fun-asr"}, "InvalidParameter", "recorded files"),
        ({"format": "flac"}, "InvalidParameter", "format 'flac' is not supported"),
        ({"sample_rate": 8000}, "InvalidParameter", "takes 16000 Hz"),
        ({"vocabulary_id": "vocab-nope-" + "0" * 32}, "InvalidParameter", "not found"),
        ({"max_sentence_silence": 100}, "InvalidParameter", "max_sentence_silence must be 200..6000"),
    ],
)
def test_sdk_failures_reach_on_error(sdk: str, kwargs: dict[str, Any], code: str, needle: str) -> None:
    params = {"model": "fun-asr-realtime", "format": "pcm", "sample_rate": 16000, **kwargs}
    callback = Recorder()
    recognition = Recognition(callback=callback, **params)
    # The SDK's start() raises InvalidTask when its receiving thread has already ended on the
    # refusal by the time it looks (a race the SDK loses on a loaded machine); on_error came first.
    with contextlib.suppress(InvalidTask):
        recognition.start()
    # The server refuses the task on run-task; the SDK may stop itself before this frame goes out.
    with contextlib.suppress(InvalidParameter):
        recognition.send_audio_frame(b"\0" * 3200)
    deadline = time.monotonic() + 30
    while callback.error is None and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(InvalidParameter):  # the SDK has already stopped itself after the error
        recognition.stop()
    assert callback.error is not None, callback.calls
    assert callback.error.code == code and needle in callback.error.message
    result = Recognition(callback=None, **params).call(str(NIGHTFALL))
    assert result.status_code != 200 and result.code == code


def test_wrong_key_fails_the_handshake(rt: Server) -> None:
    callback = Recorder()
    recognition = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=callback,
                              api_key="sk-wrong")
    result = recognition.call(str(NIGHTFALL))
    assert result.status_code in (401, 403)


# -- raw protocol ---------------------------------------------------------------------------------


def ws_url(server: Server, slash: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/api-ws/v1/inference" + slash


def open_ws(server: Server, slash: str = "") -> ClientConnection:
    return connect(ws_url(server, slash), additional_headers={"Authorization": f"bearer {server.key}"},  # type: ignore[attr-defined]
                   open_timeout=10, max_size=None)


def run_task(ws: ClientConnection, **params: Any) -> str:
    task_id = uuid.uuid4().hex
    model = params.pop("model", "fun-asr-realtime")
    ws.send(json.dumps({
        "header": {"streaming": "duplex", "task_id": task_id, "action": "run-task"},
        "payload": {"model": model, "task": "asr", "task_group": "audio", "function": "recognition", "input": {},
                    "parameters": {"format": "pcm", "sample_rate": 16000, **params}}}))
    return task_id


def finish_task(ws: ClientConnection, task_id: str) -> None:
    ws.send(json.dumps({"header": {"streaming": "duplex", "task_id": task_id, "action": "finish-task"},
                        "payload": {"input": {}}}))


def events_until_end(ws: ClientConnection, timeout: float = 60) -> list[dict[str, Any]]:
    events = []
    while True:
        event = json.loads(ws.recv(timeout=timeout))
        events.append(event)
        if event["header"]["event"] in ("task-finished", "task-failed"):
            return events


def test_connection_reuse_and_trailing_slash(rt: Server) -> None:
    audio = pcm16(decode_audio(NIGHTFALL).samples)
    with open_ws(rt, "/") as ws:
        for _ in range(2):
            task_id = run_task(ws, unknown_parameter={"ignored": True})
            assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
            for offset in range(0, len(audio), 12800):
                ws.send(audio[offset : offset + 12800])
            finish_task(ws, task_id)
            events = events_until_end(ws)
            assert events[-1]["header"] == {"task_id": task_id, "event": "task-finished", "attributes": {}}
            assert events[-1]["payload"]["output"] == {}
            finals = [e["payload"]["output"]["sentence"] for e in events[:-1]
                      if e["payload"]["output"]["sentence"]["sentence_end"]]
            assert "nightfall" in words_of(" ".join(f["text"] for f in finals))
            assert all(e["payload"]["usage"] is None for e in events[:-1]
                       if not e["payload"]["output"]["sentence"]["sentence_end"])


def test_8k_model_takes_8k_audio(rt: Server) -> None:
    samples = decode_audio(NIGHTFALL, sample_rate=8000).samples
    with open_ws(rt) as ws:
        task_id = run_task(ws, model="paraformer-realtime-8k-v2", sample_rate=8000)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(pcm16(samples))
        finish_task(ws, task_id)
        events = events_until_end(ws)
    assert events[-1]["header"]["event"] == "task-finished"
    assert "nightfall" in words_of(" ".join(e["payload"]["output"]["sentence"]["text"] for e in events[:-1]))


def test_compressed_formats_stream(rt: Server, tmp_path: Path) -> None:
    import av

    samples = decode_audio(NIGHTFALL).samples
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 16000
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=16000)
        for f in resampler.resample(frame):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    data = buffer.getvalue()
    with open_ws(rt) as ws:
        task_id = run_task(ws, format="opus")
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        for offset in range(0, len(data), 4000):
            ws.send(data[offset : offset + 4000])
        finish_task(ws, task_id)
        events = events_until_end(ws)
    assert events[-1]["header"]["event"] == "task-finished"
    assert "lamps" in words_of(" ".join(e["payload"]["output"]["sentence"]["text"] for e in events[:-1]))


def test_corrupt_audio_fails_the_task(rt: Server) -> None:
    with open_ws(rt) as ws:
        task_id = run_task(ws, format="mp3")
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(b"this is not mp3 audio at all" * 200)
        finish_task(ws, task_id)
        failed = events_until_end(ws)[-1]["header"]
    assert failed["event"] == "task-failed" and failed["error_code"] == "InvalidAudio"
    assert "mp3" in failed["error_message"]


def test_wav_header_must_match_sample_rate(rt: Server) -> None:
    with open_ws(rt) as ws:
        run_task(ws, format="wav")
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(wav_bytes(np.zeros(8000, np.float32), rate=8000))
        failed = events_until_end(ws)[-1]["header"]
    assert failed["event"] == "task-failed" and "8000 Hz but sample_rate is 16000" in failed["error_message"]


def test_no_audio_times_out_then_closes(rt: Server) -> None:
    with open_ws(rt) as ws:
        task_id = run_task(ws)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        failed = json.loads(ws.recv(timeout=30))["header"]
        assert failed == {"task_id": task_id, "event": "task-failed", "error_code": "CLIENT_ERROR",
                          "error_message": "request timeout after 3 seconds.", "attributes": {}}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)


def active_streams(server: Server) -> float:
    text = httpx.get(server.url + "/metrics").text
    return float(re.search(r"^hotasr_realtime_active_streams (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]


def test_early_disconnect_frees_the_stream(rt: Server) -> None:
    with open_ws(rt) as ws:
        run_task(ws)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(pcm16(decode_audio(NIGHTFALL).samples[:32000]))
        assert active_streams(rt) == 1
        ws.close()  # mid-sentence, no finish-task
    deadline = time.monotonic() + 20
    while active_streams(rt) != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert active_streams(rt) == 0


def test_stream_limit_answers_throttling(rt: Server) -> None:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(open_ws(rt)) for _ in range(4)]
        for ws in sockets[:3]:
            run_task(ws)
            assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        run_task(sockets[3])
        failed = json.loads(sockets[3].recv(timeout=30))["header"]
        assert failed["event"] == "task-failed" and failed["error_code"] == "Throttling"


def test_silence_heartbeat_and_pings(rt: Server) -> None:
    silence = pcm16(np.zeros(16000 * 12, np.float32))
    with open_ws(rt) as ws:
        ws.ping().wait(timeout=5)  # the server answers WebSocket pings
        task_id = run_task(ws, heartbeat=True)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(silence)
        beat = json.loads(ws.recv(timeout=30))["payload"]["output"]["sentence"]
        assert beat["heartbeat"] is True and beat["end_time"] is None  # SDK call() must not count it
        finish_task(ws, task_id)
        assert events_until_end(ws)[-1]["header"]["event"] == "task-finished"


def test_minute_of_silence_without_heartbeat_fails(rt: Server) -> None:
    with open_ws(rt) as ws:
        run_task(ws)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(pcm16(np.zeros(16000 * 61, np.float32)))
        failed = events_until_end(ws)[-1]["header"]
    assert failed["error_code"] == "CLIENT_ERROR" and "no speech for 60 seconds" in failed["error_message"]


def test_bad_key_is_refused_at_the_handshake(rt: Server) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(rt), additional_headers={"Authorization": "Bearer sk-nope"}, open_timeout=10)
    assert info.value.response.status_code in (401, 403)


def test_browser_clients_authenticate_with_a_subprotocol(rt: Server) -> None:
    with connect(ws_url(rt), subprotocols=[Subprotocol(f"bearer.{rt.key}")], open_timeout=10) as ws:  # type: ignore[attr-defined]
        assert ws.subprotocol == f"bearer.{rt.key}"  # type: ignore[attr-defined]
        run_task(ws)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
    with pytest.raises(InvalidStatus):
        connect(ws_url(rt), subprotocols=[Subprotocol("bearer.sk-nope")], open_timeout=10)


def test_audio_before_run_task_is_an_error(rt: Server) -> None:
    with open_ws(rt) as ws:
        ws.send(b"\0" * 3200)
        failed = json.loads(ws.recv(timeout=10))["header"]
        assert failed["event"] == "task-failed" and "before run-task" in failed["error_message"]


def test_concurrent_streams_share_the_model(rt: Server) -> None:
    audio = pcm16(decode_audio(NIGHTFALL).samples)
    texts: list[str] = []

    def stream() -> None:
        with open_ws(rt) as ws:
            task_id = run_task(ws)
            json.loads(ws.recv(timeout=60))
            for offset in range(0, len(audio), 6400):
                ws.send(audio[offset : offset + 6400])
            finish_task(ws, task_id)
            events = events_until_end(ws, timeout=120)
            texts.append(" ".join(e["payload"]["output"]["sentence"]["text"] for e in events[:-1]
                                  if e["payload"]["output"]["sentence"]["sentence_end"]))

    threads = [threading.Thread(target=stream) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(texts) == 2 and all("nightfall" in words_of(t) for t in texts)


# -- empty and undecodable audio, malformed messages mid-task ---------------------------------------


def closed_with_a_close_frame(ws: ClientConnection) -> int:
    """The close code the server sent; fails when the connection was dropped without one (1006)."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=30)
    assert closed.value.rcvd is not None, "no close frame: the connection was dropped"
    return closed.value.rcvd.code


@pytest.mark.parametrize(
    ("fmt", "frames", "code"),
    [
        ("pcm", [], "BadRequest.EmptyInput"),
        ("pcm", [b"\x01"], "BadRequest.EmptyInput"),  # half a sample: 0 s of audio
        ("wav", [wav_bytes(np.zeros(0, np.float32))], "BadRequest.EmptyInput"),  # header only
        ("wav", [wav_bytes(np.zeros(0, np.float32))[:30]], "InvalidAudio"),  # not even a whole header
    ],
    ids=["no-frames", "one-byte", "header-only-wav", "truncated-wav-header"],
)
def test_empty_audio_fails_the_task(rt: Server, fmt: str, frames: list[bytes], code: str) -> None:
    with open_ws(rt) as ws:
        task_id = run_task(ws, format=fmt)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        for frame in frames:
            ws.send(frame)
        finish_task(ws, task_id)
        events = events_until_end(ws)
        assert [e["header"]["event"] for e in events] == ["task-failed"]  # no result, no task-finished
        assert events[0]["header"]["task_id"] == task_id and events[0]["header"]["error_code"] == code
        assert closed_with_a_close_frame(ws) == 1000


def test_sdk_call_on_an_empty_wav_file_is_an_error(sdk: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(wav_bytes(np.zeros(0, np.float32)))
    result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None).call(str(path))
    assert result.status_code != 200 and result.code == "BadRequest.EmptyInput", result
    assert "without any audio" in result.message


def test_a_wav_header_with_zero_channels_fails_the_task(rt: Server) -> None:
    header = bytearray(wav_bytes(np.zeros(1600, np.float32)))
    header[22:24] = (0).to_bytes(2, "little")  # fmt chunk: NumChannels
    with open_ws(rt) as ws:
        task_id = run_task(ws, format="wav")
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(bytes(header))
        finish_task(ws, task_id)
        failed = events_until_end(ws)[-1]["header"]
        assert failed["event"] == "task-failed" and failed["error_code"] == "InvalidAudio", failed
        assert closed_with_a_close_frame(ws) == 1000
    assert httpx.get(rt.url + "/health").status_code == 200


@pytest.mark.parametrize("garbage", ["[]", '{"header": {"action": "run-task", "task_id": "a\\udc00"}}',
                                     '{"header": {"action": "finish-task", "task_id": "x"}, "payload": 5}'])
def test_a_malformed_message_mid_task_fails_that_task_and_frees_its_stream(rt: Server, garbage: str) -> None:
    with open_ws(rt) as ws:
        task_id = run_task(ws)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        ws.send(pcm16(np.zeros(3200, np.float32)))
        ws.send(garbage)
        failed = events_until_end(ws)[-1]["header"]
        assert failed["event"] == "task-failed" and failed["task_id"] == task_id
        assert failed["error_code"] == "InvalidParameter"
        assert closed_with_a_close_frame(ws) == 1000
    deadline = time.monotonic() + 20
    while active_streams(rt) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_streams(rt) == 0


# -- fair real time: timeouts that chatter cannot reset, connections per key -----------------------


def test_continue_task_does_not_keep_a_silent_stream_alive(rt: Server) -> None:
    """The audio timeout (3 s on this server) runs from the last audio frame, whatever else comes."""
    with open_ws(rt) as ws:
        task_id = run_task(ws)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        last_audio = time.monotonic()  # before the send: the server cannot have the frame any earlier
        ws.send(pcm16(np.zeros(1600, np.float32)))
        context = {"header": {"streaming": "duplex", "task_id": task_id, "action": "continue-task"},
                   "payload": {"input": {"context": "still here"}}}
        failed = None
        while failed is None and time.monotonic() < last_audio + 60:
            ws.send(json.dumps(context))
            with contextlib.suppress(TimeoutError):
                failed = json.loads(ws.recv(timeout=0.2))["header"]
        assert failed is not None, "continue-task kept a stream without audio open for 60 s"
        assert time.monotonic() - last_audio >= 3  # not before its time either
        assert failed == {"task_id": task_id, "event": "task-failed", "error_code": "CLIENT_ERROR",
                          "error_message": "request timeout after 3 seconds.", "attributes": {}}
        assert closed_with_a_close_frame(ws) == 1000


IDLE_CLOSE_S = 5


@pytest.fixture(scope="module")
def fair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with 2 streams (so 2 per key and 4 connections per key) that closes a connection
    without a task after IDLE_CLOSE_S."""
    env = {"HOTASR_MODELS": json.dumps(MODELS), "HOTASR_REALTIME_MAX_STREAMS": "2",
           "HOTASR_REALTIME_IDLE_CLOSE_S": str(IDLE_CLOSE_S)}
    server = Server(tmp_path_factory.mktemp("fair"), env=env).start()
    yield server
    server.stop()


def connect_as(server: Server, key: str) -> ClientConnection:
    return connect(ws_url(server), additional_headers={"Authorization": f"bearer {key}"}, open_timeout=10)


def is_served(ws: ClientConnection) -> bool:
    """Whether the connection is served (a bad message gets InvalidParameter), not refused at once."""
    with contextlib.suppress(ConnectionClosed):
        ws.send("{}")
    return bool(json.loads(ws.recv(timeout=10))["header"]["error_code"] == "InvalidParameter")


def test_an_idle_connection_is_closed_even_while_it_pings(fair: Server) -> None:
    key = fair.create_key("idle")
    opened = time.monotonic()  # before the server's clock starts
    with connect_as(fair, key) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() < opened + 60:
                ws.ping().wait(timeout=10)  # answered: the connection is alive, yet idle
                with contextlib.suppress(TimeoutError):
                    ws.recv(timeout=0.2)
        assert IDLE_CLOSE_S <= time.monotonic() - opened < 60
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_a_key_holds_a_bounded_number_of_connections(fair: Server) -> None:
    key, other = fair.create_key("conns"), fair.create_key("others")
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect_as(fair, key)) for _ in range(4)]  # twice key_max_streams (2)
        with connect_as(fair, key) as refused:
            failed = json.loads(refused.recv(timeout=10))["header"]
            assert failed["event"] == "task-failed" and failed["error_code"] == "Throttling.RateQuota"
            assert "4 open real-time connections" in failed["error_message"]
            assert closed_with_a_close_frame(refused) == 1000
        with connect_as(fair, other) as ws:  # other keys are not affected
            assert is_served(ws)
        held[0].close()
        deadline = time.monotonic() + 30  # the server frees the slot once it sees the close
        while True:
            with connect_as(fair, key) as ws:
                if is_served(ws):
                    break
            assert time.monotonic() < deadline, "a closed connection still counts against its key"
            time.sleep(0.1)


def test_a_key_may_not_hold_more_streams_than_the_server() -> None:
    from pydantic import ValidationError

    from hotasr.config import Settings

    with pytest.raises(ValidationError, match=r"key_max_streams \(10\) exceeds realtime_max_streams \(8\)"):
        Settings(key_max_streams=10, realtime_max_streams=8)
    defaults = Settings(realtime_max_streams=3)
    assert (defaults.key_max_streams, defaults.key_max_connections) == (3, 6)
    explicit = Settings(realtime_max_streams=8, key_max_streams=2, key_max_connections=3)
    assert (explicit.key_max_streams, explicit.key_max_connections) == (2, 3)


@pytest.mark.parametrize("frame", [b"\x01", b""], ids=["one-byte", "empty"])
def test_frames_of_a_few_bytes_are_refused(rt: Server, frame: bytes) -> None:
    """Each message costs the server CPU whatever it holds: audio must come 10 ms a frame or more
    on average, not a byte at a time (1-byte frames cost 50-100x the CPU of 100 ms frames)."""
    with open_ws(rt) as ws:
        task_id = run_task(ws)
        assert json.loads(ws.recv(timeout=60))["header"]["event"] == "task-started"
        with contextlib.suppress(ConnectionClosed):  # the server may close while frames are still going out
            for _ in range(2000):
                ws.send(frame)
        failed = events_until_end(ws)[-1]["header"]
        assert failed["task_id"] == task_id and failed["error_code"] == "InvalidParameter"
        assert "at least 10 ms of audio a frame" in failed["error_message"]
        assert closed_with_a_close_frame(ws) == 1000
