"""One Chinese recording through the SDK with the default (multilingual whisper-base) model and a
Chinese hotword list: the full path a Chinese user takes, result JSON included."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dashscope
import pytest
from dashscope.audio.asr import Transcription, VocabularyService

from tests.servers import Server, unavailable
from tests.task_fixtures import DATA, FileServer

ZH_DAMO = DATA / "zh_misc" / "asr_example.wav"  # 欢迎大家来体验达摩院推出的语音识别模型


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("data"), env={"HOTASR_ALLOW_PRIVATE_URLS": "1"}).start()
    yield srv
    srv.stop()


def test_chinese_file_with_vocabulary(server: Server, tmp_path: Path) -> None:
    if not ZH_DAMO.is_file():
        unavailable(f"test data {ZH_DAMO}")
    files = FileServer(extra=(ZH_DAMO,))
    try:
        dashscope.base_http_api_url = server.url + "/api/v1"
        dashscope.api_key = server.create_key("zh")
        vocabulary_id = VocabularyService().create_vocabulary(
            target_model="fun-asr", prefix="zh", vocabulary=[{"text": "达摩院", "weight": 4, "lang": "zh"}]
        )
        response = Transcription.call(model="fun-asr", file_urls=[files.url(ZH_DAMO.name)],
                                      vocabulary_id=vocabulary_id, language_hints=["zh"])
        assert response.output.task_status == "SUCCEEDED", json.dumps(response.output, ensure_ascii=False)
        url = response.output["results"][0]["transcription_url"]
        with urllib.request.urlopen(url, timeout=30) as result:
            raw = result.read()
        doc = json.loads(raw)
        assert "达摩院" in raw.decode()  # stored as UTF-8 text, not \\u escapes
        text = doc["transcripts"][0]["text"]
        assert "达摩院" in text and "语音识别" in text, text
        assert " " not in text  # Chinese is joined without spaces
        assert doc["properties"]["original_sampling_rate"] == 16000
    finally:
        files.stop()
