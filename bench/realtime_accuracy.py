"""Hotword accuracy of real-time finals against the recorded-file path, on the same utterances.

Runs `hotasr.evaluation.evaluate` twice in one process on one manifest: once through
`hotasr.recognize` (the recorded-file path, model `fun-asr`), once through a server's real-time
WebSocket API (model `fun-asr-realtime`), where each utterance's list is created as a vocabulary,
the audio is streamed in 100 ms frames (as fast as the server takes them, or at real-time pace with
`--pace`), the final sentences are joined, and the vocabulary is deleted. Both models are Whisper
base in the default configuration. Both paths get the same samples: each clip with 1.5 s of silence
after it, which the stream needs for its last sentence to end by voice activity. (Editions before
2026-11-22 gave the recorded-file path the bare clip; those 1.5 s alone move its hotword recall by
one occurrence of 136.)

    .venv/bin/python bench/realtime_accuracy.py [--manifest bench/sets/librispeech_n100.jsonl] [--limit N]
        [--modes none,hotasr] [--pace]

At full speed a stream's decodes queue behind its audio and interims are mostly skipped; `--pace`
streams as a microphone would, so interims (and the words they settle for later decodes) come as
they do in use.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hotasr.audio import SAMPLE_RATE, decode_audio
from hotasr.evaluation.runner import EvalReport, evaluate
from hotasr.hotwords import Hotword
from hotasr.transcript import Sentence, Transcript
from tests.servers import Server

CUSTOMIZATION = "/api/v1/services/audio/asr/customization"
FRAME = SAMPLE_RATE // 10
TAIL_S = 1.5  # silence after the speech, so the last sentence ends by voice activity


class RealtimeRecognizer:
    """The evaluation runner's recognizer, done over the real-time API of a running server."""

    def __init__(self, server: Server, key: str, pace: bool = False) -> None:
        self.server = server
        self.key = key
        self.pace = pace
        self.http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def __call__(
        self, samples: np.ndarray, *, model: str, settings: Any, hotwords: Sequence[Hotword] = (),
        language_hints: Sequence[str] | None = None, biasing: str = "hotasr",
    ) -> Transcript:
        vocabulary_id = self._create(model, hotwords) if hotwords and biasing == "hotasr" else None
        try:
            texts = self._stream(samples, model, vocabulary_id, language_hints)
        finally:
            if vocabulary_id:
                self._call({"action": "delete_vocabulary", "vocabulary_id": vocabulary_id})
        language = language_hints[0] if language_hints else None
        return Transcript([Sentence(0, 0, t) for t in texts], language)

    def _call(self, data: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(CUSTOMIZATION, json={"model": "speech-biasing", "input": data})
        response.raise_for_status()
        return response.json()["output"]

    def _create(self, model: str, hotwords: Sequence[Hotword]) -> str:
        items = [{"text": h.text, "weight": h.weight, **({"lang": h.lang} if h.lang else {})} for h in hotwords]
        output = self._call({"action": "create_vocabulary", "target_model": model, "prefix": "rtacc",
                             "vocabulary": items})
        return str(output["vocabulary_id"])

    def _stream(
        self, samples: np.ndarray, model: str, vocabulary_id: str | None, hints: Sequence[str] | None
    ) -> list[str]:
        url = self.server.url.replace("http://", "ws://") + "/api-ws/v1/inference"
        parameters: dict[str, Any] = {"format": "pcm", "sample_rate": SAMPLE_RATE}
        if vocabulary_id:
            parameters["vocabulary_id"] = vocabulary_id
        if hints:
            parameters["language_hints"] = list(hints)
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
        task_id = uuid.uuid4().hex
        finals: list[str] = []
        with connect(url, additional_headers={"Authorization": f"Bearer {self.key}"}, max_size=None) as ws:
            ws.send(json.dumps({"header": {"streaming": "duplex", "task_id": task_id, "action": "run-task"},
                                "payload": {"model": model, "task": "asr", "task_group": "audio",
                                            "function": "recognition", "input": {}, "parameters": parameters}}))
            event = json.loads(ws.recv(timeout=120))
            if event["header"]["event"] != "task-started":
                raise RuntimeError(event["header"].get("error_message", "no task-started"))
            started = time.perf_counter()
            for number, offset in enumerate(range(0, len(pcm), FRAME * 2)):
                if self.pace and (wait := started + number * FRAME / SAMPLE_RATE - time.perf_counter()) > 0:
                    time.sleep(wait)
                ws.send(pcm[offset : offset + FRAME * 2])
            ws.send(json.dumps({"header": {"streaming": "duplex", "task_id": task_id, "action": "finish-task"},
                                "payload": {"input": {}}}))
            while True:
                event = json.loads(ws.recv(timeout=300))
                kind = event["header"]["event"]
                if kind == "task-finished":
                    return finals
                if kind == "task-failed":
                    raise RuntimeError(f"{event['header']['error_code']}: {event['header']['error_message']}")
                sentence = event["payload"]["output"]["sentence"]
                if sentence.get("end_time") is not None and sentence.get("text"):
                    finals.append(sentence["text"])


def with_tail(path: Path) -> np.ndarray:
    """The clip as both paths get it: followed by TAIL_S of silence."""
    samples = decode_audio(path).samples
    return np.concatenate([samples, np.zeros(int(TAIL_S * SAMPLE_RATE), np.float32)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="bench/sets/librispeech_n100.jsonl")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--modes", default="none,hotasr")
    parser.add_argument("--pace", action="store_true", help="stream at real-time pace (default: as fast as taken)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/realtime_accuracy"))
    args = parser.parse_args()
    modes = args.modes.split(",")
    files = evaluate(args.manifest, model="fun-asr", modes=modes, limit=args.limit, audio_loader=with_tail)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), env={"HOTASR_PRELOAD_MODELS": "1"}).start()
        try:
            recognizer = RealtimeRecognizer(server, server.create_key("bench"), pace=args.pace)
            realtime = evaluate(args.manifest, model="fun-asr-realtime", modes=modes, limit=args.limit,
                                recognizer=recognizer, audio_loader=with_tail)  # type: ignore[arg-type]
        finally:
            server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, report in (("file", files), ("realtime", realtime)):
        (args.out / f"{name}.json").write_text(report.to_json())
    print(table(files, realtime))


def table(files: EvalReport, realtime: EvalReport) -> str:
    lines = ["| path | mode | WER | U-WER | B-WER | hotword recall | hotword precision |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for path, report in (("recorded file (`fun-asr`)", files), ("real-time finals (`fun-asr-realtime`)", realtime)):
        for mode in report.modes:
            d = report.score(mode).to_dict()
            lines.append(f"| {path} | {mode} | {_num(d['WER'])} | {_num(d['U-WER'])} | {_num(d['B-WER'])} | "
                         f"{_num(d['hotword_recall'], 3)} | {_num(d['hotword_precision'], 3)} |")
    return "\n".join(lines)


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
