"""`recognize`, `hotasr.transcribe` and `hotasr transcribe`: DashScope's request rules on real speech."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import hotasr
from hotasr.audio import SAMPLE_RATE, decode_audio, resample
from hotasr.client import Client
from hotasr.config import ModelRoute, Settings
from hotasr.hotwords import Hotword, HotwordError
from hotasr.recognize import ModelNotServed, recognize
from tests.engine_fixtures import (
    JFK,
    JFK_PHRASE,
    MODEL_CACHE,
    ZH_DAMO,
    encode,
    jfk_samples,
    need,
    tiny_settings,
)
from tests.readings import heard
from tests.servers import Server

__all__ = ["jfk_samples", "tiny_settings"]  # fixtures, imported for pytest


@pytest.fixture(scope="module")
def short(jfk_samples: np.ndarray) -> np.ndarray:
    return jfk_samples[: 7 * SAMPLE_RATE]  # "And so my fellow Americans, ask not what your country can do for you"


# -- recognize: the request-level rules --------------------------------------------------------


def test_unknown_and_unserved_models_are_refused(tiny_settings: Settings, short: np.ndarray) -> None:
    with pytest.raises(ModelNotServed, match="'whisper-xl' is not a known model name"):
        recognize(short, model="whisper-xl", settings=tiny_settings)
    only_fun = Settings(model_cache_dir=MODEL_CACHE, models={"fun-asr": ModelRoute(weights="whisper-tiny.en")})
    with pytest.raises(ModelNotServed, match="'paraformer-v2' is not served"):
        recognize(short, model="paraformer-v2", settings=only_fun)


def test_vocabulary_for_another_model_does_not_apply(tiny_settings: Settings, short: np.ndarray) -> None:
    transcript = recognize(
        short, model="fun-asr", settings=tiny_settings, hotwords=[Hotword("Americans", 4)],
        vocabulary_target_model="paraformer-v2", biasing="prompt",
    )
    assert heard(transcript.text, JFK_PHRASE)
    assert transcript.warnings == [
        "the vocabulary was created for target_model 'paraformer-v2', not 'fun-asr'; its 1 hotword is not applied"
    ]


def test_models_without_hotword_support_ignore_the_list(tiny_settings: Settings, short: np.ndarray) -> None:
    transcript = recognize(
        short, model="paraformer-v1", settings=tiny_settings, hotwords=[Hotword("Americans", 4), Hotword("JFK", 2)]
    )
    assert heard(transcript.text, JFK_PHRASE)
    assert transcript.warnings == ["model 'paraformer-v1' does not support hotwords; 2 hotwords are not applied"]


def test_language_hints_skip_terms_of_other_languages(tiny_settings: Settings, short: np.ndarray) -> None:
    terms = [Hotword("Americans", 4, "en"), Hotword("赛德克巴莱", 4, "zh"), Hotword("fellow", 3)]
    transcript = recognize(
        short, model="fun-asr", settings=tiny_settings, hotwords=terms, language_hints=["en"], biasing="prompt"
    )
    assert heard(transcript.text, JFK_PHRASE) and transcript.language == "en"
    # The zh term is dropped by the hint before it can reach the English-only model.
    assert transcript.warnings == [
        "1 hotword is skipped because their lang is not in language_hints ['en']: '赛德克巴莱' (zh)"
    ]


def test_an_8k_model_name_takes_telephone_audio(
    tiny_settings: Settings, tmp_path: Path, jfk_samples: np.ndarray
) -> None:
    eight_k = resample(jfk_samples, SAMPLE_RATE, 8000)
    phone = tmp_path / "call.wav"
    phone.write_bytes(encode(resample(eight_k, 8000, SAMPLE_RATE), "wav", "pcm_s16le", 8000))
    decoded = decode_audio(phone)
    assert decoded.info.sample_rate == 8000
    transcript = recognize(decoded.samples, model="paraformer-8k-v2", settings=tiny_settings, biasing="none")
    assert heard(transcript.text, JFK_PHRASE)
    assert transcript.duration_ms == 11000


# -- the library API ---------------------------------------------------------------------------


def test_library_transcribe_from_path_bytes_and_array(tiny_settings: Settings, jfk_samples: np.ndarray) -> None:
    path = need(JFK)
    from_path = hotasr.transcribe(path, settings=tiny_settings, hotwords=[{"text": "Americans", "weight": 4}])
    assert heard(from_path.text, JFK_PHRASE)
    assert from_path.sentences and from_path.sentences[0].words

    from_bytes = hotasr.transcribe(path.read_bytes(), settings=tiny_settings, biasing="none", channel=1)
    assert heard(from_bytes.text, JFK_PHRASE)

    at_44k = resample(jfk_samples, SAMPLE_RATE, 44100)
    from_array = hotasr.transcribe(at_44k, sample_rate=44100, settings=tiny_settings, biasing="none")
    assert heard(from_array.text, JFK_PHRASE)


def test_library_transcribe_validates_the_hotword_list(tiny_settings: Settings, short: np.ndarray) -> None:
    with pytest.raises(HotwordError, match=r'vocabulary\[0\] \("Americans"\): weight must be from 1 to 5'):
        hotasr.transcribe(short, settings=tiny_settings, hotwords=[{"text": "Americans", "weight": 9}])
    # fun-asr accepts zh/en/ja only (DashScope's rule for the family).
    with pytest.raises(HotwordError, match=r"lang .ko. is not supported"):
        hotasr.transcribe(short, settings=tiny_settings, hotwords=[{"text": "서울", "weight": 3, "lang": "ko"}])
    with pytest.raises(ModelNotServed):
        hotasr.transcribe(short, model="nope", settings=tiny_settings)
    with pytest.raises(hotasr.audio.AudioError, match="file is empty"):
        hotasr.transcribe(b"", settings=tiny_settings)


# -- the command -------------------------------------------------------------------------------


def _app() -> typer.Typer:
    from hotasr.cli.transcribe import transcribe_command

    app = typer.Typer()
    app.command("transcribe")(transcribe_command)
    app.command("noop")(lambda: None)  # two commands, so "transcribe" is a sub-command as in `hotasr`
    return app


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    models = {name: {"weights": "whisper-tiny.en"} for name in ("fun-asr", "paraformer-v2")}
    monkeypatch.setenv("HOTASR_MODELS", json.dumps(models))
    monkeypatch.setenv("HOTASR_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.delenv("HOTASR_API_KEY", raising=False)
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    runner = CliRunner()
    app = _app()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["transcribe", *args])

    return run


def test_cli_text_json_and_srt(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = tmp_path / "jfk.mp3"
    clip.write_bytes(encode(decode_audio(need(JFK)).samples, "mp3", "libmp3lame", 16000))
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps([{"text": "Americans", "weight": 4, "lang": "en"},
                                 {"text": "赛德克巴莱", "weight": 3, "lang": "zh"}], ensure_ascii=False))

    text = cli(str(clip), "--hotwords", str(terms), "--biasing", "prompt")
    assert text.exit_code == 0, text.output
    assert heard(text.stdout, JFK_PHRASE)
    assert "English-only model whisper-tiny.en" in text.stderr and "赛德克巴莱" in text.stderr

    as_json = cli(str(clip), "--format", "json", "--biasing", "none")
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["language"] == "en" and heard(payload["text"], JFK_PHRASE)
    word = payload["sentences"][0]["words"][0]
    assert set(word) == {"begin_time", "end_time", "text", "punctuation"}

    srt = cli(str(clip), "--format", "srt", "--biasing", "none")
    assert srt.exit_code == 0 and srt.stdout.startswith("1\n00:00:00,")
    assert " --> 00:00:" in srt.stdout


def test_cli_errors_are_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF but not really a wave file" * 10)
    results = {
        "missing file": (cli(str(tmp_path / "nope.wav")), "audio file not found"),
        "bad audio": (cli(str(garbage)), "could not"),
        "bad json": (cli(str(garbage), "--hotwords", str(broken)), "is not valid JSON"),
        "bad weight": (None, None),
        "unknown model": (cli(str(garbage), "--model", "nope"), "'nope' is not a known model name"),
        "no key": (cli(str(garbage), "--vocabulary-id", "vocab-x-1"), "needs an API key"),
    }
    bad_weight = tmp_path / "weight.json"
    bad_weight.write_text(json.dumps([{"text": "Americans", "weight": 7}]))
    results["bad weight"] = (cli(str(garbage), "--hotwords", str(bad_weight)), "weight must be from 1 to 5")
    for name, (result, words) in results.items():
        assert result.exit_code == 1, (name, result.output)
        assert words in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), name
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)


def test_cli_transcribes_on_a_real_server(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `--server`: the file is uploaded and transcribed there, with the server's stored list.
    tiny = {"weights": "whisper-tiny.en"}
    server = Server(tmp_path / "data", env={"HOTASR_MODELS": json.dumps({"fun-asr": tiny, "paraformer-v2": tiny})})
    server.start()
    try:
        key = server.create_key("engine-tests")
        client = Client(server.url, key)
        for_paraformer = client.vocabulary(
            "create_vocabulary", target_model="paraformer-v2", prefix="eng",
            vocabulary=[{"text": "Americans", "weight": 4, "lang": "en"}],
        )["vocabulary_id"]
        clip = tmp_path / "jfk.flac"
        clip.write_bytes(need(JFK).read_bytes())

        matching = cli(str(clip), "--model", "paraformer-v2", "--vocabulary-id", for_paraformer,
                       "--server", server.url, "--api-key", key, "--format", "srt")
        assert matching.exit_code == 0, matching.output
        assert matching.stdout.startswith("1\n00:00:")
        assert heard(matching.stdout, JFK_PHRASE) and "target_model" not in matching.stderr

        other = cli(str(clip), "--model", "fun-asr", "--vocabulary-id", for_paraformer,
                    "--server", server.url, "--api-key", key)
        assert other.exit_code == 0, other.output
        assert "created for target_model 'paraformer-v2', not 'fun-asr'" in other.stderr

        missing = cli(str(clip), "--vocabulary-id", "vocab-eng-missing", "--server", server.url, "--api-key", key)
        assert missing.exit_code == 1 and "vocab-eng-missing" in missing.stderr

        local_only = cli(str(clip), "--biasing", "prompt", "--server", server.url, "--api-key", key)
        assert local_only.exit_code == 1 and "in-process only" in local_only.stderr
    finally:
        server.stop()


def test_chinese_through_the_library_on_base() -> None:
    from tests.engine_fixtures import settings_for

    transcript = hotasr.transcribe(
        need(ZH_DAMO), model="paraformer-v2", language="zh", settings=settings_for("whisper-base"),
        hotwords=[{"text": "达摩院", "weight": 4, "lang": "zh"}, {"text": "Dashwood", "weight": 4, "lang": "en"}],
    )
    assert transcript.language == "zh" and "达摩院" in transcript.text
    assert any("'Dashwood' (en)" in w and "language_hints ['zh']" in w for w in transcript.warnings)


def test_digital_silence_gives_no_words(tiny_settings) -> None:  # type: ignore[no-untyped-def]
    # Whisper alone writes "You" for silence; nothing audible means no speech to transcribe.
    transcript = hotasr.transcribe(np.zeros(3 * 16000, np.float32), settings=tiny_settings)
    assert transcript.sentences == [] and transcript.text == "" and transcript.duration_ms == 3000
