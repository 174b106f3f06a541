"""Real-time load generator: N concurrent WebSocket streams of real speech, each sent at real-time pace.

Every stream plays LibriSpeech utterances one after another, each followed by 1.5 s of silence,
in 100 ms PCM frames, each sent once its audio has happened (as a microphone would: the stream's
sample 0 is at t0, a frame goes out at t0 + its end). Reported per N:
- final latency: from the moment an utterance's speech ends to the arrival of its last final
  sentence (includes the end-of-sentence silence the server must wait for);
- first-interim latency: from the moment its speech starts to the first result for it;
- RTF: server decode seconds / audio seconds (from /metrics), and errors (task-failed, lost results).

Where speech starts and ends in a clip is measured from the signal, not by the server's VAD: the
first and last 10 ms frame louder than the clip's noise floor (its 10th-percentile frame) + 15 dB.
LibriSpeech clips carry 0.1-0.6 s of silence before and after their speech; editions before this
one measured from the clip's first and last frames instead (and sent frames 100 ms early, each
clip's short last frame as a whole one).

    .venv/bin/python bench/realtime_load.py --streams 1,2,3 [--model fun-asr-realtime] [--silence-ms 500] \
        [--utterances 3]

Starts its own server with the default configuration (Whisper base) on a loopback port.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hotasr.audio import decode_audio
from hotasr.streaming.vad import window_levels
from tests.servers import SHARED, Server

FRAME_S = 0.1
GAP_S = 1.5
TEST_CLEAN = SHARED / "data/librispeech_test_subset/test-clean"
UTTERANCES = [TEST_CLEAN / f"{name}.wav" for name in ("1089-134686-0002", "1221-135766-0002", "1995-1837-0001")]


def utterances(count: int) -> list[Path]:
    """The three above first (earlier editions used only them), then the rest of test-clean in order."""
    rest = sorted(p for p in TEST_CLEAN.iterdir() if p.suffix in (".wav", ".flac") and p not in UTTERANCES)
    return [*UTTERANCES, *rest][:count]


SPEECH_ABOVE_FLOOR_DB = 15


def speech_span(samples: np.ndarray) -> tuple[int, int]:
    """(start, end) of the speech in a clip, in ms: its first and last 10 ms frame louder than the
    clip's noise floor by SPEECH_ABOVE_FLOOR_DB."""
    level = window_levels(samples[: len(samples) // 160 * 160].reshape(-1, 160))
    loud = np.nonzero(level > np.percentile(level, 10) + SPEECH_ABOVE_FLOOR_DB)[0]
    return int(loud[0]) * 10, (int(loud[-1]) + 1) * 10


@dataclass
class StreamResult:
    final_latencies: list[float] = field(default_factory=list)
    interim_latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    audio_s: float = 0.0
    send_lags: list[float] = field(default_factory=list)  # how late each frame left this client


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def run_stream(url: str, key: str, model: str, silence_ms: int, clips: list[np.ndarray]) -> StreamResult:
    result = StreamResult()
    spans: list[tuple[int, int, int, int]] = []  # stream ms: (clip start, clip end, speech start, speech end)
    arrivals: list[tuple[float, dict[str, object]]] = []
    done = threading.Event()
    with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=30, max_size=None) as ws:
        task_id = uuid.uuid4().hex
        ws.send(json.dumps({"header": {"streaming": "duplex", "task_id": task_id, "action": "run-task"},
                            "payload": {"model": model, "task": "asr", "task_group": "audio",
                                        "function": "recognition", "input": {},
                                        "parameters": {"format": "pcm", "sample_rate": 16000,
                                                       "max_sentence_silence": silence_ms}}}))
        started = json.loads(ws.recv(timeout=120))
        if started["header"]["event"] != "task-started":
            result.errors.append(started["header"].get("error_message", "no task-started"))
            return result

        def receive() -> None:
            try:
                while True:
                    event = json.loads(ws.recv(timeout=300))
                    kind = event["header"]["event"]
                    if kind == "result-generated":
                        arrivals.append((time.monotonic(), event["payload"]["output"]["sentence"]))
                    elif kind == "task-failed":
                        result.errors.append(f"{event['header']['error_code']}: {event['header']['error_message']}")
                        return
                    elif kind == "task-finished":
                        return
            except Exception as exc:
                result.errors.append(f"receive: {exc}")
            finally:
                done.set()

        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        audio_ms, t0 = 0, time.monotonic()
        frame = int(16000 * FRAME_S)
        sent = 0  # samples
        for clip in clips:
            speech_start, speech_end = speech_span(clip)
            clip_ms = len(clip) * 1000 // 16000
            spans.append((audio_ms, audio_ms + clip_ms, audio_ms + speech_start, audio_ms + speech_end))
            padded = np.concatenate([clip, np.zeros(int(16000 * GAP_S), np.float32)])
            for offset in range(0, len(padded), frame):
                chunk = padded[offset : offset + frame]  # a clip's last frame may be short
                sent += len(chunk)
                due = t0 + sent / 16000
                time.sleep(max(0.0, due - time.monotonic()))
                ws.send(pcm16(chunk))
                result.send_lags.append(time.monotonic() - due)
            audio_ms += len(padded) * 1000 // 16000
        ws.send(json.dumps({"header": {"streaming": "duplex", "task_id": task_id, "action": "finish-task"},
                            "payload": {"input": {}}}))
        done.wait(300)
        result.audio_s = audio_ms / 1000
    for a_start, a_end, speech_start, speech_end in spans:
        mine = [(t, s) for t, s in arrivals if a_start - 500 <= int(s["begin_time"]) < a_end]  # type: ignore[call-overload]
        finals = [t for t, s in mine if s["end_time"] is not None]
        if not finals:
            result.errors.append(f"no final result for the utterance at {a_start} ms")
            continue
        result.final_latencies.append(max(finals) - (t0 + speech_end / 1000))
        result.interim_latencies.append(min(t for t, _ in mine) - (t0 + speech_start / 1000))
    return result


def metric(server: Server, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    match = re.search(rf'^{name}{{path="realtime"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,2,3")
    parser.add_argument("--model", default="fun-asr-realtime")
    parser.add_argument("--silence-ms", type=int, default=500)
    parser.add_argument("--utterances", type=int, default=3, help="per stream, played one after another (at most 13)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/realtime_load.json"))
    args = parser.parse_args()
    clips = [decode_audio(path).samples for path in utterances(args.utterances)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), env={"HOTASR_REALTIME_MAX_STREAMS": "64"}).start()
        try:
            key = server.create_key("bench")
            url = server.url.replace("http://", "ws://") + "/api-ws/v1/inference"
            run_stream(url, key, args.model, args.silence_ms, clips[:1])  # warm-up: model load, first join
            for n in (int(x) for x in args.streams.split(",")):
                decode0 = metric(server, "hotasr_decode_seconds_total")
                audio0 = metric(server, "hotasr_audio_seconds_total")
                results: list[StreamResult] = []

                def one_stream(out: list[StreamResult] = results) -> None:
                    out.append(run_stream(url, key, args.model, args.silence_ms, clips))

                threads = [threading.Thread(target=one_stream) for _ in range(n)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                decode = metric(server, "hotasr_decode_seconds_total") - decode0
                audio = metric(server, "hotasr_audio_seconds_total") - audio0
                finals = [x for r in results for x in r.final_latencies]
                interims = [x for r in results for x in r.interim_latencies]
                errors = [e for r in results for e in r.errors]
                rows.append({
                    "streams": n, "utterances": len(finals),
                    "final_p50_s": round(statistics.median(finals), 2) if finals else None,
                    "final_p95_s": round(p(finals, 0.95), 2),
                    "first_interim_p50_s": round(statistics.median(interims), 2) if interims else None,
                    "first_interim_p95_s": round(p(interims, 0.95), 2),
                    "rtf": round(decode / audio, 3) if audio else None,
                    "errors": len(errors), "error_samples": errors[:3],
                    # The client shares the machine with the server: a late frame delays its results.
                    "client_send_lag_p95_s": round(p([x for r in results for x in r.send_lags], 0.95), 3),
                    "client_send_lag_max_s": round(max((x for r in results for x in r.send_lags), default=0.0), 3),
                    "finals_s": [round(x, 2) for x in finals],  # per utterance, streams one after another
                    "first_interims_s": [round(x, 2) for x in interims],
                })
                print(json.dumps(rows[-1]), flush=True)
        finally:
            server.stop()
            # HOTASR_LOG_LEVEL=DEBUG in the environment logs every decode (kind, audio span, cost).
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.with_suffix(".server.log").write_text("".join(server.output))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\nmachine: {machine}; model {args.model} (default config: Whisper base), "
          f"max_sentence_silence {args.silence_ms} ms, frames of {FRAME_S * 1000:.0f} ms at real-time pace\n")
    print("| streams | utterances | final p50 s | final p95 s | first interim p50 s | first interim p95 s "
          "| RTF | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['streams']} | {r['utterances']} | {r['final_p50_s']} | {r['final_p95_s']} | "
              f"{r['first_interim_p50_s']} | {r['first_interim_p95_s']} | {r['rtf']} | {r['errors']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "model": args.model, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
