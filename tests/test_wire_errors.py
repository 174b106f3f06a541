"""Domain errors and their wire forms: every domain error has a row in each protocol's table, and a
task's failed files and transcripts render as DashScope's shapes, whether stored now or before."""

from __future__ import annotations

import json

import pytest

from hotasr import errors
from hotasr.api import wire_errors
from hotasr.api.dashscope_shapes import channel_document, file_document, result_file_bytes, subtask_code
from hotasr.audio_errors import EMPTY, INVALID_CHANNEL, TOO_LONG, UNSUPPORTED
from hotasr.tasks.models import FAILED, FileTranscript, Subtask
from hotasr.tasks.store import CRASHED_CODE, CRASHED_MESSAGE
from hotasr.transcript import Sentence, Transcript, Word, transcript_from_dict, transcript_to_dict

TABLES = {"DashScope HTTP": wire_errors.DASHSCOPE_HTTP, "DashScope WebSocket": wire_errors.DASHSCOPE_WS,
          "OpenAI": wire_errors.OPENAI}


@pytest.mark.parametrize("protocol", list(TABLES))
def test_every_domain_error_has_a_row_in_each_protocol_table(protocol: str) -> None:
    classes = set(errors.all_error_classes())
    table = TABLES[protocol]
    assert classes - set(table) == set(), f"{protocol}: no row for these domain errors"
    assert set(table) - classes == set(), f"{protocol}: rows for classes that are not domain errors"


def test_domain_errors_carry_no_wire_code() -> None:
    for cls in errors.all_error_classes():
        assert cls.code == cls.__name__  # a stable name of hotasr's own, not a DashScope or OpenAI code
        assert errors.error_class(cls.__name__) is cls


def test_audio_reasons_refine_dashscope_codes_and_become_openai_codes() -> None:
    assert wire_errors.dashscope_http(errors.AudioError(UNSUPPORTED, "x")) == (400, "BadRequest.UnsupportedFileFormat")
    assert wire_errors.dashscope_http(errors.AudioError(TOO_LONG, "x")) == (400, "InvalidFile.TooLong")
    assert wire_errors.dashscope_http(errors.AudioError("SOMETHING_NEW", "x")) == (400, "InvalidFile.DecodeFailed")
    assert wire_errors.dashscope_ws(errors.AudioError(EMPTY, "x")) == "BadRequest.EmptyInput"
    assert wire_errors.dashscope_ws(errors.AudioError(UNSUPPORTED, "x")) == "InvalidAudio"
    assert wire_errors.openai(errors.AudioError(TOO_LONG, "x")) == (400, "invalid_request_error", "audio_too_long")


def test_a_subclass_outside_the_hierarchy_takes_its_ancestors_row() -> None:
    class Special(errors.RateLimited):
        pass

    assert wire_errors.dashscope_http(Special("x")) == (429, "Throttling.RateQuota")
    del errors._CLASSES["Special"]


def test_failed_files_keep_their_domain_error_and_render_dashscope_codes() -> None:
    crashed = Subtask.failed("http://a/x.wav", errors.PoisonFile(CRASHED_MESSAGE))
    assert crashed.code == CRASHED_CODE and subtask_code(crashed) == "InvalidFile.DecodeCrashed"
    channel = Subtask.failed("http://a/x.wav", errors.AudioError(INVALID_CHANNEL, "channel_id 3 ..."))
    assert subtask_code(Subtask.from_dict(channel.to_dict())) == "InvalidParameter"
    assert subtask_code(Subtask.failed("u", errors.ModelNotServed("m", "gone"))) == "ModelNotFound"
    assert subtask_code(Subtask.failed("u", errors.NoSpeech("none"))) == "SUCCESS_WITH_NO_VALID_FRAGMENT"
    # Rows written before tasks kept domain errors hold DashScope's code, served as it is.
    for legacy in ("InvalidFile.DownloadFailed", "InternalError", "InvalidFile.DecodeCrashed", "InvalidParameter",
                   "SUCCESS_WITH_NO_VALID_FRAGMENT", "BadRequest.UnsupportedFileFormat"):
        old = Subtask.from_dict({"file_url": "u", "subtask_status": FAILED, "code": legacy, "message": "m"})
        assert subtask_code(old) == legacy


def _transcript() -> Transcript:
    words = [Word(0, 400, "Hello", ","), Word(400, 900, "world", ".")]
    return Transcript([Sentence(0, 900, " Hello, world.", words, speaker_id=1, language="en"),
                       Sentence(1000, 1500, "你好", [], language="zh"), Sentence(1600, 1700, " ")],
                      "en", 2000, ["a warning"])


def test_a_transcript_survives_its_neutral_form() -> None:
    transcript = _transcript()
    assert transcript_from_dict(json.loads(json.dumps(transcript_to_dict(transcript)))) == transcript


def test_a_stored_file_transcript_is_served_as_dashscope_json_and_older_results_as_stored() -> None:
    file = FileTranscript("http://a/x.wav", "pcm_s16le", 2, 16000, 2000,
                          [(0, _transcript()), (1, Transcript([], None, 2000))], ["w1", "w2"])
    stored = json.dumps(file.to_dict(), ensure_ascii=False).encode()
    served = result_file_bytes(stored)
    expected = {
        "file_url": "http://a/x.wav",
        "properties": {"audio_format": "pcm_s16le", "channels": [0, 1], "original_sampling_rate": 16000,
                       "original_duration_in_milliseconds": 2000},
        "transcripts": [channel_document(0, _transcript()), channel_document(1, Transcript([], None, 2000))],
        "warnings": ["w1", "w2"],
    }
    assert served == json.dumps(expected, ensure_ascii=False).encode()
    assert json.loads(served) == file_document(file)
    first = json.loads(served)["transcripts"][0]
    assert first["text"] == "Hello, world. 你好" and [s["sentence_id"] for s in first["sentences"]] == [1, 2]
    assert first["sentences"][0] == {"begin_time": 0, "end_time": 900, "text": "Hello, world.", "sentence_id": 1,
                                     "speaker_id": 1, "words": [
                                         {"begin_time": 0, "end_time": 400, "text": "Hello", "punctuation": ","},
                                         {"begin_time": 400, "end_time": 900, "text": "world", "punctuation": "."}]}
    older = json.dumps(expected, ensure_ascii=False).encode()
    assert result_file_bytes(older) is older
