"""The OpenAI-compatible API, driven by the official `openai` client against a real server and real speech."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.readings import heard, words_of
from tests.servers import HANG_S, SHARED, Server

TINY = {"weights": "whisper-tiny.en"}
JFK = SHARED / "data" / "en_misc" / "jfk.flac"  # "And so my fellow Americans, ask not what your country can do ..."
# tiny.en hears "Hester Prynne" as "has to print" unless "Prynne" is a hotword (tests/test_biasing.py).
PRYNNE = SHARED / "data" / "librispeech_test_subset" / "test-clean" / "1221-135766-0002.wav"
SRT_TIME = re.compile(r"^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$")
VTT_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}$")


@pytest.fixture(scope="module")
def oa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"HOTASR_MODELS": json.dumps({"fun-asr": TINY, "paraformer-v2": TINY})}
    server = Server(tmp_path_factory.mktemp("openai"), env=env).start()
    server.key = server.create_key("openai")  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(oa: Server) -> OpenAI:
    return OpenAI(base_url=oa.url + "/v1", api_key=oa.key, max_retries=0, timeout=HANG_S)  # type: ignore[attr-defined]


def create_vocabulary(server: Server, target_model: str, items: list[dict[str, Any]]) -> str:
    body = {"model": "speech-biasing", "input": {"action": "create_vocabulary", "target_model": target_model,
                                                  "prefix": "oa", "vocabulary": items}}
    response = httpx.post(server.url + "/api/v1/services/audio/asr/customization", json=body,
                          headers={"Authorization": f"Bearer {server.key}"})  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return str(response.json()["output"]["vocabulary_id"])


def kennedy(text: str) -> bool:
    return heard(text, "ask not what your country can do for you")


def transcribe(client: OpenAI, path: Path = JFK, **kwargs: Any) -> Any:
    with path.open("rb") as audio:
        return client.audio.transcriptions.create(file=audio, **{"model": "whisper-1", **kwargs})


def test_models(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "whisper-1" and {"fun-asr", "paraformer-v2"} <= set(ids)
    assert "fun-asr-realtime" not in ids  # not configured on this server
    assert client.models.retrieve("paraformer-v2").id == "paraformer-v2"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4o")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_json_default_and_ignored_temperature(client: OpenAI) -> None:
    result = transcribe(client, temperature=0.7)  # whisper-1 means fun-asr
    assert kennedy(result.text)
    assert getattr(result, "warnings", None) is None  # nothing to warn about


def test_text_srt_vtt(client: OpenAI) -> None:
    text = transcribe(client, model="fun-asr", response_format="text")
    assert isinstance(text, str) and kennedy(text)
    srt = transcribe(client, model="paraformer-v2", response_format="srt")
    blocks = [b.splitlines() for b in srt.strip().split("\n\n")]
    assert [int(b[0]) for b in blocks] == list(range(1, len(blocks) + 1))
    assert all(SRT_TIME.match(b[1]) for b in blocks)
    assert kennedy(" ".join(" ".join(b[2:]) for b in blocks))
    vtt = transcribe(client, response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n")
    cues = [c.splitlines() for c in vtt.split("\n\n")[1:] if c.strip()]
    assert cues and all(VTT_TIME.match(c[0]) for c in cues)
    last_end = cues[-1][0].split(" --> ")[1]
    assert "00:00:09.000" < last_end <= "00:00:11.100"  # the speech ends near the end of the 11 s clip


def test_verbose_json_granularities(client: OpenAI) -> None:
    both = transcribe(client, response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert both.language == "english" and 10.5 < both.duration < 11.5 and kennedy(both.text)
    assert both.segments and both.segments[0].start >= 0 and both.segments[-1].end <= both.duration + 0.05
    words = [w.word.lower().strip(",.") for w in both.words]
    assert "country" in words and all(w.start <= w.end for w in both.words)
    starts = [w.start for w in both.words]
    assert starts == sorted(starts)
    only_words = transcribe(client, PRYNNE, response_format="verbose_json", timestamp_granularities=["word"])
    assert only_words.words and only_words.segments is None
    default = transcribe(client, PRYNNE, response_format="verbose_json")
    assert default.segments and default.words is None


def test_vocabulary_id(oa: Server, client: OpenAI) -> None:
    same = create_vocabulary(oa, "fun-asr", [{"text": "fellow Americans", "weight": 4, "lang": "en"}])
    result = transcribe(client, extra_body={"vocabulary_id": same, "language": "en"})
    assert kennedy(result.text) and getattr(result, "warnings", None) is None
    # The list is really looked up: one made for another model is reported as not applied.
    other = create_vocabulary(oa, "paraformer-v2", [{"text": "fellow Americans", "weight": 4}])
    result = transcribe(client, response_format="verbose_json", extra_body={"vocabulary_id": other})
    assert kennedy(result.text)
    assert any("created for target_model 'paraformer-v2'" in w for w in result.warnings)
    with pytest.raises(openai.NotFoundError) as caught:
        transcribe(client, extra_body={"vocabulary_id": "vocab-oa-" + "0" * 32})
    assert caught.value.body["param"] == "vocabulary_id"  # type: ignore[index]


def test_hotwords_change_what_is_recognized(oa: Server, client: OpenAI) -> None:
    prynne = json.dumps([{"text": "Prynne", "weight": 5, "lang": "en"}])
    assert "prynne" in words_of(transcribe(client, PRYNNE, language="en", extra_body={"hotwords": prynne}).text)
    none = transcribe(client, PRYNNE, language="en", extra_body={"hotwords": prynne, "biasing": "none"})
    assert "prynne" not in words_of(none.text)
    stored = create_vocabulary(oa, "fun-asr", [{"text": "Prynne", "weight": 5}])
    assert "prynne" in words_of(transcribe(client, PRYNNE, response_format="text",
                                           extra_body={"vocabulary_id": stored}))


def test_inline_hotwords_and_biasing(client: OpenAI) -> None:
    terms = [{"text": "Americans", "weight": 5, "lang": "en"}, {"text": "赛德克巴莱", "weight": 4, "lang": "zh"}]
    result = transcribe(client, language="en", extra_body={"hotwords": json.dumps(terms), "biasing": "prompt"})
    assert kennedy(result.text)
    # Inline terms go through the same language rule as stored lists: the zh one is skipped, said so.
    assert any("赛德克巴莱" in w and "language_hints" in w for w in result.warnings)
    # A prompt is only a hint: with a hotword list it is ignored, and the answer says so.
    prompted = transcribe(client, prompt="JFK inaugural address", extra_body={"hotwords": json.dumps(terms[:1])})
    assert any("prompt was ignored" in w for w in prompted.warnings)
    assert kennedy(transcribe(client, prompt="JFK inaugural address").text)


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        ({"hotwords": json.dumps([{"text": "Americans", "weight": 9}])}, "hotwords",
         'vocabulary[0] ("Americans"): weight must be from 1 to 5, got 9'),
        ({"hotwords": "[{oops"}, "hotwords", "hotwords must be a JSON list"),
        ({"hotwords": "[]", "vocabulary_id": "vocab-x-1"}, "hotwords", "not both"),
        ({"biasing": "magic"}, "biasing", "biasing must be one of none, prompt, hotasr"),
        ({"response_format": "diarized_json"}, "response_format", "response_format must be one of"),
        ({"timestamp_granularities[]": "char"}, "timestamp_granularities", "word and/or segment"),
    ],
)
def test_bad_fields(client: OpenAI, fields: dict[str, str], param: str, message: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, extra_body=fields)
    error = caught.value.body
    assert error["param"] == param and message in error["message"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"  # type: ignore[index]


def test_corrupt_and_empty_files(client: OpenAI, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, corrupt)
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "file"  # type: ignore[index]
    assert "could not be decoded" in caught.value.body["message"]  # type: ignore[index]
    assert "Traceback" not in caught.value.response.text
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, empty)
    assert caught.value.body["code"] == "empty_file"  # type: ignore[index]


def test_wrong_key_and_unknown_model(oa: Server, client: OpenAI) -> None:
    wrong = OpenAI(base_url=oa.url + "/v1", api_key="sk-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        transcribe(wrong)
    assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    for model in ("gpt-4o-transcribe", "fun-asr-realtime"):  # unknown name; known but not configured here
        with pytest.raises(openai.NotFoundError) as caught:
            transcribe(client, model=model)
        assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
        assert model in caught.value.body["message"]  # type: ignore[index]


def test_raw_http_errors_keep_openai_shape(oa: Server) -> None:
    auth = {"Authorization": f"Bearer {oa.key}"}  # type: ignore[attr-defined]
    as_json = httpx.post(oa.url + "/v1/audio/transcriptions", json={"model": "whisper-1"}, headers=auth)
    assert as_json.status_code == 400 and "multipart/form-data" in as_json.json()["error"]["message"]
    no_file = httpx.post(oa.url + "/v1/audio/transcriptions", data={"model": "whisper-1"},
                         files={"other": ("a.txt", b"x")}, headers=auth)
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    no_model = httpx.post(oa.url + "/v1/audio/transcriptions", files={"file": ("a.flac", JFK.read_bytes())},
                          headers=auth)
    assert no_model.status_code == 400 and no_model.json()["error"]["param"] == "model"
    unknown = httpx.get(oa.url + "/v1/audio/translations", headers=auth)
    assert unknown.status_code == 404 and set(unknown.json()["error"]) == {"message", "type", "param", "code"}
    # curl users: plain multipart with the field names of OpenAI's docs works the same.
    srt = httpx.post(oa.url + "/v1/audio/transcriptions", headers=auth, timeout=HANG_S,
                     data={"model": "paraformer-v2", "response_format": "srt"},
                     files={"file": ("jfk.flac", JFK.read_bytes(), "audio/flac")})
    assert srt.status_code == 200 and srt.headers["content-type"].startswith("text/plain")
    assert srt.text.startswith("1\n00:00:00,")
