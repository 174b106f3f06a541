"""DashScope's JSON shapes, built in one place: words, sentences, a file's transcript (docs/dashscope-protocol.md §5.3),
a task's output (§5.2), a real-time result (§4.2), and DashScope's times.

The core hands out dataclasses (`Transcript`, `TaskRecord`, `FileTranscript`, `SentenceEvent`);
the adapters turn them into these shapes here, and nowhere else. Key order is part of the shape:
clients see these documents byte for byte as they were built before this module existed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hotasr.api.wire_errors import dashscope_stored_code
from hotasr.tasks.models import FAILED, FINISHED, SUCCEEDED, FileTranscript, Subtask, TaskRecord
from hotasr.transcript import Sentence, Transcript, Word

# -- times ------------------------------------------------------------------------------------------


def wire_time(moment: datetime, *, millis: bool = False) -> str:
    """`YYYY-MM-DD HH:MM:SS` (with `.mmm` for tasks' times) in the server's local time, as DashScope
    shows it. A naive time is UTC (SQLite hands back naive values; hotasr always stores UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if millis else local.strftime("%Y-%m-%d %H:%M:%S")


def task_time(moment: datetime | None) -> str | None:
    """A task's time (submit, scheduled, end): milliseconds, null when it has none yet."""
    return None if moment is None else wire_time(moment, millis=True)


# -- words and sentences ----------------------------------------------------------------------------


def word_json(word: Word) -> dict[str, Any]:
    return {"begin_time": word.begin_ms, "end_time": word.end_ms, "text": word.text, "punctuation": word.punctuation}


def word_from_json(data: dict[str, Any]) -> Word:
    return Word(data["begin_time"], data["end_time"], data["text"], data.get("punctuation", ""))


def file_sentence_json(number: int, sentence: Sentence) -> dict[str, Any]:
    """A sentence of a file's transcript: numbered from 1, speaker_id with diarization."""
    out: dict[str, Any] = {
        "begin_time": sentence.begin_ms,
        "end_time": sentence.end_ms,
        "text": sentence.text.strip(),
        "sentence_id": number,
    }
    if sentence.speaker_id is not None:
        out["speaker_id"] = sentence.speaker_id
    out["words"] = [word_json(w) for w in sentence.words]
    return out


def realtime_result_json(
    sentence_id: int, begin_ms: int, end_ms: int | None, text: str, words: list[Word], *,
    heartbeat: bool, warnings: list[str], audio_seconds: int,
) -> dict[str, Any]:
    """The payload of a `result-generated` event: one interim (end_ms None) or final sentence."""
    sentence: dict[str, Any] = {
        "begin_time": begin_ms,
        "end_time": end_ms,  # null while interim: the SDK tells finals by a non-null end_time
        "text": text,
        "heartbeat": heartbeat,
        "sentence_end": end_ms is not None,
        "sentence_id": sentence_id,
        "words": [word_json(w) for w in words],
    }
    if warnings:
        # Hotwords that could not apply are never silent. Inside the sentence, because SDK call()
        # keeps only the sentence dicts of a result.
        sentence["warnings"] = warnings
    final = end_ms is not None
    return {"output": {"sentence": sentence}, "usage": {"duration": audio_seconds} if final else None}


# -- a file's transcript (docs/dashscope-protocol.md §5.3) ------------------------------------------


def channel_document(channel: int, transcript: Transcript) -> dict[str, Any]:
    """One channel's transcript: its text, speech duration and non-empty sentences."""
    sentences = transcript.spoken
    speech_ms = sum(max(0, s.end_ms - s.begin_ms) for s in sentences)
    return {
        "channel_id": channel,
        "content_duration_in_milliseconds": min(speech_ms, transcript.duration_ms or speech_ms),
        "text": transcript.text,
        "sentences": [file_sentence_json(n, s) for n, s in enumerate(sentences, start=1)],
    }


def file_document(file: FileTranscript) -> dict[str, Any]:
    """The document behind a sub-task's transcription_url."""
    document: dict[str, Any] = {
        "file_url": file.file_url,
        "properties": {
            "audio_format": file.codec,
            "channels": list(range(file.channels)),
            "original_sampling_rate": file.sample_rate,
            "original_duration_in_milliseconds": file.duration_ms,
        },
        "transcripts": [channel_document(channel, t) for channel, t in file.transcripts],
    }
    if file.warnings:
        document["warnings"] = file.warnings
    return document


_STORED_PREFIX = json.dumps({"format": FileTranscript.FORMAT})[:-1].encode()


def result_file_bytes(stored: bytes) -> bytes:
    """What a transcription_url answers for a stored result: a `FileTranscript` rendered as DashScope
    JSON, or (a result stored by an earlier version, already DashScope JSON) the bytes as stored."""
    if not stored.startswith(_STORED_PREFIX):
        return stored
    file = FileTranscript.from_dict(json.loads(stored))
    return json.dumps(file_document(file), ensure_ascii=False).encode()


def transcript_from_document(result: dict[str, Any]) -> Transcript:
    """A file's transcript document (docs/dashscope-protocol.md §5.3) as a Transcript; channels are merged by time."""
    sentences = [
        Sentence(s["begin_time"], s["end_time"], s["text"], [word_from_json(w) for w in s.get("words", [])],
                 s.get("speaker_id"))
        for channel in result.get("transcripts", [])
        for s in channel.get("sentences", [])
    ]
    sentences.sort(key=lambda s: s.begin_ms)
    duration = result.get("properties", {}).get("original_duration_in_milliseconds", 0)
    return Transcript(sentences, result.get("language"), duration, list(result.get("warnings", [])))


# -- tasks (docs/dashscope-protocol.md §5.2) --------------------------------------------------------


def subtask_code(subtask: Subtask) -> str | None:
    """A failed file's DashScope code (its domain error through the table, or as stored before)."""
    return dashscope_stored_code(subtask.error, subtask.code)


def task_metrics(record: TaskRecord) -> dict[str, int]:
    done = [s for s in record.subtasks if s is not None]
    succeeded = sum(1 for s in done if s.status == SUCCEEDED)
    return {"TOTAL": len(record.file_urls), "SUCCEEDED": succeeded, "FAILED": len(done) - succeeded}


def task_output(record: TaskRecord, result_url: Callable[[str], str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(output, usage) of a task query; `result_url` signs a stored result's key into a URL."""
    subtasks = [s for s in record.subtasks if s is not None]
    output: dict[str, Any] = {
        "task_id": record.task_id,
        "task_status": record.status,
        "submit_time": task_time(record.submit_time),
    }
    if record.scheduled_time:
        output["scheduled_time"] = task_time(record.scheduled_time)
    if record.end_time:
        output["end_time"] = task_time(record.end_time)
    if record.status in FINISHED and subtasks:
        results = []
        for subtask in subtasks:
            item: dict[str, Any] = {"file_url": subtask.file_url}
            if subtask.status == SUCCEEDED and subtask.result_key:
                item["transcription_url"] = result_url(subtask.result_key)
            else:
                item["code"] = subtask_code(subtask)
                item["message"] = subtask.message
            item["subtask_status"] = subtask.status
            results.append(item)
        output["results"] = results
    if record.status == FAILED:
        first = next((s for s in subtasks if s.status == FAILED), None)
        if first is not None:
            output["code"], output["message"] = subtask_code(first), first.message
    output["task_metrics"] = task_metrics(record)
    if record.warnings:
        output["warnings"] = record.warnings  # hotasr extra: what the server did not do as asked
    usage = {"duration": record.usage_seconds} if record.status == SUCCEEDED else None
    return output, usage


def task_list_item(record: TaskRecord) -> dict[str, Any]:
    """A task in a page of `GET /api/v1/tasks`."""
    return {
        "task_id": record.task_id,
        "task_status": record.status,
        "status": record.status,
        "model_name": record.model,
        "submit_time": task_time(record.submit_time),
        "scheduled_time": task_time(record.scheduled_time),
        "end_time": task_time(record.end_time),
        "task_metrics": {"TOTAL": len(record.file_urls),
                         "SUCCEEDED": sum(1 for s in record.subtasks if s and s.status == SUCCEEDED),
                         "FAILED": sum(1 for s in record.subtasks if s and s.status == FAILED)},
    }
