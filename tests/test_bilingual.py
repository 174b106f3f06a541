"""Mandarin and English in one recording (issue #19): each sentence in its own language, through
the library, a file task and real time (the official SDK), on real speech with whisper-base.

The audio is built at test time: one AISHELL sentence, a pause, one LibriSpeech sentence. Whisper's
words differ between CPUs, so the checks are per sentence and loose: the Mandarin part has Han
characters, the English part Latin words (a keyword among them) and none.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dashscope
import numpy as np
import pytest
from dashscope.audio.asr import Recognition, Transcription

import hotasr
from hotasr.audio import SAMPLE_RATE, decode_audio
from hotasr.engine.whisper import WhisperEngine
from hotasr.hotwords import Hotword
from hotasr.recognize import recognize
from hotasr.transcript import Sentence, join_pieces
from tests.engine_fixtures import DATA, need, settings_for
from tests.servers import Server
from tests.task_fixtures import FileServer

ZH = DATA / "aishell_sample_S0252" / "wav" / "BAC009S0252W0495.wav"  # 北京东四环七车连撞道路拥堵近四个小时
EN = DATA / "librispeech_test_subset" / "test-other" / "367-130732-0008.flac"  # PUT THIS IN A DOUBLE BOILER ...
EN_KEYWORD = "boiler"
EN_SECOND = DATA / "librispeech_test_subset" / "test-other" / "2033-164914-0004.flac"  # BY ALLAH REPLIED THE FIREMAN
EN_SECOND_KEYWORDS = ("fireman", "allah")  # either, as CPUs read it
HAN = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def bilingual() -> np.ndarray:
    """~8 s: a Mandarin sentence, 0.6 s of silence, an English sentence."""
    zh, en = decode_audio(need(ZH)).samples, decode_audio(need(EN)).samples
    return np.concatenate([zh, np.zeros(round(0.6 * SAMPLE_RATE), np.float32), en]).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm16(samples))
    return path


@pytest.fixture(scope="module")
def three_stretches(bilingual: np.ndarray) -> np.ndarray:
    """`bilingual`, then 2 s of silence and a second English sentence: its two English stretches are
    too far apart to be joined and have one encoder window length."""
    second = decode_audio(need(EN_SECOND)).samples
    return np.concatenate([bilingual, np.zeros(2 * SAMPLE_RATE, np.float32), second]).astype(np.float32)


@pytest.fixture(scope="module")
def bilingual_wav(bilingual: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("bilingual") / "zh_then_en.wav", bilingual)


def check_halves(texts: list[str], languages: list[str | None] | None = None) -> None:
    """Mandarin first (Han characters), then English (Latin words, the keyword, no Han)."""
    chinese = [i for i, t in enumerate(texts) if HAN.search(t)]
    english = [i for i, t in enumerate(texts) if LATIN_WORD.search(t) and not HAN.search(t)]
    assert chinese and english, texts
    assert max(chinese) < min(english), texts
    assert EN_KEYWORD in " ".join(texts[i] for i in english).lower(), texts
    if languages is not None:
        assert {languages[i] for i in chinese} == {"zh"} and {languages[i] for i in english} == {"en"}, languages


def check_chinese_style(sentence: Sentence) -> None:
    """DashScope's Chinese: a full-width mark at the end, none of ASCII's, words that make the text."""
    assert sentence.text[-1] in "。？！", sentence.text
    assert not re.search(r"[,?!;:]", sentence.text), sentence.text
    assert join_pieces([w.text + w.punctuation for w in sentence.words], "zh") == sentence.text


@pytest.fixture(scope="module")
def base() -> Any:
    return settings_for("whisper-base")


def test_a_file_keeps_both_languages_without_hints(bilingual: np.ndarray, base: Any) -> None:
    transcript = hotasr.transcribe(bilingual, settings=base, biasing="none")  # fun-asr: zh, en, ja
    sentences = transcript.sentences
    check_halves([s.text for s in sentences], [s.language for s in sentences])
    for sentence in sentences:
        if sentence.language == "zh":
            check_chinese_style(sentence)
    assert not transcript.warnings
    # The transcript's text joins them as each language writes: a space only before the English.
    assert HAN.search(transcript.text) and EN_KEYWORD in transcript.text.lower()


def test_paraformer_hints_are_candidates_and_fun_asr_takes_the_first(bilingual: np.ndarray, base: Any) -> None:
    both = recognize(bilingual, model="paraformer-v2", settings=base, language_hints=["zh", "en"], biasing="none")
    check_halves([s.text for s in both.sentences], [s.language for s in both.sentences])
    # Fun-ASR: only the first hint counts, and it is forced on every sentence.
    forced = recognize(bilingual, model="fun-asr", settings=base, language_hints=["en", "zh"], biasing="none")
    assert forced.sentences and {s.language for s in forced.sentences} == {"en"}


def test_a_bilingual_list_applies_each_term_to_its_language(
    bilingual: np.ndarray, base: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    graphs: list[tuple[str, ...]] = []
    search = WhisperEngine._search

    def spy(self: WhisperEngine, graph: Any, *args: Any, **kwargs: Any) -> Any:
        if graph is not None and not graph.empty:
            graphs.append(tuple(h.text for h in graph.applied))
        return search(self, graph, *args, **kwargs)

    monkeypatch.setattr(WhisperEngine, "_search", spy)
    terms = [Hotword("东四环", 4, "zh"), Hotword("拥堵", 3, None), Hotword("double boiler", 4, "en"),
             Hotword("Seediq Bale", 3, None)]
    transcript = recognize(bilingual, model="paraformer-v2", settings=base, hotwords=terms)
    check_halves([s.text for s in transcript.sentences], [s.language for s in transcript.sentences])
    # The Mandarin sentence was decoded with the Chinese terms only, the English one with the English ones.
    assert ("东四环", "拥堵") in graphs and ("double boiler", "Seediq Bale") in graphs, graphs
    assert not [w for w in transcript.warnings if "skipped" in w]


def test_speech_that_gives_no_words_is_a_warning_with_its_time(
    bilingual: np.ndarray, base: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    decode = WhisperEngine._decode

    def deaf_to_english(self: WhisperEngine, samples: np.ndarray, read: Any, *args: Any) -> Any:
        return ([], "en") if read.language == "en" else decode(self, samples, read, *args)

    monkeypatch.setattr(WhisperEngine, "_decode", deaf_to_english)
    transcript = recognize(bilingual, model="paraformer-v2", settings=base, biasing="none")
    assert transcript.sentences and all(s.language == "zh" for s in transcript.sentences)
    lost = [w for w in transcript.warnings if "gave no words" in w]
    assert len(lost) == 1, transcript.warnings
    begin, end = (float(x) for x in re.findall(r"(\d+\.\d)", lost[0])[:2])
    english_starts = (len(decode_audio(ZH).samples) / SAMPLE_RATE) + 0.6
    assert english_starts - 0.5 < begin < english_starts + 1.5 and end > len(bilingual) / SAMPLE_RATE - 1, lost


@pytest.mark.parametrize("hints", [None, ["en"]], ids=["joined stretch", "one language forced"])
@pytest.mark.parametrize("alone_too", [False, True])
def test_speech_a_decode_skips_is_decoded_alone_or_reported(
    base: Any, monkeypatch: pytest.MonkeyPatch, alone_too: bool, hints: list[str] | None,
) -> None:
    """Two English sentences half a second apart, decoded together: as one stretch of the bilingual
    path (no language given), or in the one read of a recording whose language is forced (Fun-ASR's
    first hint). When that decode leaves the second out (as Whisper left out a short Mandarin phrase
    inside an English stretch, and forced Mandarin left out Mandarin sentences between English
    ones), the second is decoded on its own, and if that gives nothing too, its time range is a
    warning."""
    first = decode_audio(need(EN)).samples
    second = decode_audio(need(EN_SECOND)).samples
    audio = np.concatenate([first, np.zeros(round(0.5 * SAMPLE_RATE), np.float32), second]).astype(np.float32)
    first_ms = len(first) * 1000 / SAMPLE_RATE
    decode = WhisperEngine._decode
    reads: list[float] = []

    def skips_the_second(self: WhisperEngine, samples: np.ndarray, read: Any, *args: Any) -> Any:
        reads.append(read.offset_s)
        if read.offset_s * 1000 > first_ms:  # the second sentence decoded on its own
            return ([], "en") if alone_too else decode(self, samples, read, *args)
        sentences, language = decode(self, samples, read, *args)
        # Only what ends within the first sentence: one sentence running over both goes too, and
        # the first is then decoded on its own as well.
        return [s for s in sentences if s.end_ms + read.offset_s * 1000 <= first_ms + 300], language

    monkeypatch.setattr(WhisperEngine, "_decode", skips_the_second)
    transcript = recognize(audio, model="fun-asr", settings=base, biasing="none", language_hints=hints)
    assert reads[0] * 1000 < first_ms < reads[-1] * 1000, reads  # both together, then the second alone
    text = transcript.text.lower()
    assert EN_KEYWORD in text
    lost = [w for w in transcript.warnings if "gave no words" in w]
    if alone_too:
        assert not any(k in text for k in EN_SECOND_KEYWORDS) and len(lost) == 1, transcript.warnings
        begin = float(re.findall(r"(\d+\.\d)", lost[0])[0])
        assert first_ms / 1000 - 0.5 < begin < first_ms / 1000 + 1.5, lost
    else:
        assert any(k in text for k in EN_SECOND_KEYWORDS) and not lost, (text, transcript.warnings)
        assert [s.begin_ms for s in transcript.sentences] == sorted(s.begin_ms for s in transcript.sentences)


def test_skipped_speech_in_another_language_than_the_one_forced_is_reported_not_translated(
    base: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decoded on its own in the language forced, a Mandarin sentence would come out translated:
    speech the one-language decode skipped that is clearly in another language is a warning that
    names the language, and nothing is written for it."""
    zh = decode_audio(need(ZH)).samples
    audio = np.concatenate([zh, np.zeros(round(1.5 * SAMPLE_RATE), np.float32),
                            decode_audio(need(EN)).samples]).astype(np.float32)
    zh_ms = len(zh) * 1000 / SAMPLE_RATE
    decode = WhisperEngine._decode

    def skips_the_mandarin(self: WhisperEngine, samples: np.ndarray, read: Any, *args: Any) -> Any:
        sentences, language = decode(self, samples, read, *args)
        return [s for s in sentences if s.begin_ms + read.offset_s * 1000 >= zh_ms], language

    monkeypatch.setattr(WhisperEngine, "_decode", skips_the_mandarin)
    transcript = recognize(audio, model="fun-asr", settings=base, biasing="none", language_hints=["en"])
    assert EN_KEYWORD in transcript.text.lower()
    assert all(s.begin_ms >= zh_ms for s in transcript.sentences), transcript.sentences
    [other] = [w for w in transcript.warnings if "sounds like" in w]
    assert "'zh'" in other and "'en'" in other and float(re.findall(r"(\d+\.\d)", other)[0]) < 1.0, other


def test_stretches_decoded_side_by_side_read_as_one_at_a_time(
    three_stretches: np.ndarray, base: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A recording's stretches are decoded a few at a time on threads whose beam searches share
    CTranslate2's generate calls (`hotasr.engine.batching`): the same sentences as decoded one at a
    time. Here the two English stretches step together."""
    from hotasr.engine import whisper
    from hotasr.engine.batching import GenerationBatcher

    groups: list[int] = []
    run = GenerationBatcher._run

    def spy(self: GenerationBatcher, group: list[Any]) -> None:
        groups.append(len(group))
        run(self, group)

    monkeypatch.setattr(GenerationBatcher, "_run", spy)
    side_by_side = recognize(three_stretches, model="fun-asr", settings=base, biasing="none")
    assert max(groups) >= 2, groups
    monkeypatch.setattr(whisper, "_BATCH_STRETCHES", 1)
    one_at_a_time = recognize(three_stretches, model="fun-asr", settings=base, biasing="none")

    def read(transcript: Any) -> list[tuple[str, str | None, list[str]]]:
        return [(s.text, s.language, [w.text for w in s.words]) for s in transcript.sentences]

    assert read(side_by_side) == read(one_at_a_time)
    assert side_by_side.warnings == one_at_a_time.warnings
    check_halves([s.text for s in side_by_side.sentences][:2])


def test_stretches_side_by_side_stop_together_when_cancelled(
    three_stretches: np.ndarray, base: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request cancelled while its stretches wait for a batch ends with DecodeCancelled, and no
    thread is left waiting."""
    import threading

    from hotasr.engine import CancelToken, DecodeCancelled
    from hotasr.engine.batching import GenerationBatcher

    cancel = CancelToken()
    run = GenerationBatcher._run

    def cancelled_first(self: GenerationBatcher, group: list[Any]) -> None:
        cancel.cancel()  # as the caller would, while the decodes wait for this batch
        run(self, group)

    monkeypatch.setattr(GenerationBatcher, "_run", cancelled_first)
    before = threading.active_count()
    with pytest.raises(DecodeCancelled):
        recognize(three_stretches, model="fun-asr", settings=base, biasing="none", cancel=cancel)
    assert threading.active_count() == before


def test_a_batched_generation_longer_than_its_own_bound_allows_is_made_again_alone(base: Any) -> None:
    """Calls share a batch whose length bound is the longest of theirs: a call whose result reaches
    its own, shorter bound gets what it would have got alone (cut at that bound)."""
    import threading

    import ctranslate2

    from hotasr.engine import load_engine
    from hotasr.engine.batching import GenerationBatcher

    engine = load_engine(base.models["fun-asr"], base)
    whisper_model = engine.model  # type: ignore[attr-defined]
    model = whisper_model.model
    tokenizer = whisper_model.hf_tokenizer
    prompt = [tokenizer.token_to_id(t) for t in ("<|startoftranscript|>", "<|en|>", "<|transcribe|>")]
    encodings = []
    for path in (EN, EN_SECOND):
        features = whisper_model.feature_extractor(decode_audio(need(path)).samples)[:, :1000]
        window = np.pad(features, ((0, 0), (0, 1000 - features.shape[1])))[None]  # one window length
        encodings.append(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(window))))
    bounds = (len(prompt) + 3, 200)  # the first is cut after three tokens
    alone = [model.generate(e, [prompt], beam_size=5, max_length=b)[0].sequences_ids[0]
             for e, b in zip(encodings, bounds, strict=True)]
    batcher = GenerationBatcher(model, 2, prompt[0])
    together: list[list[int]] = [[], []]

    def generate(index: int) -> None:
        try:
            result = batcher.generate(encodings[index], [prompt], beam_size=5, max_length=bounds[index])
            together[index] = result[0].sequences_ids[0]
        finally:
            batcher.leave()

    threads = [threading.Thread(target=generate, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert together == alone and len(alone[0]) == 3 and len(alone[1]) > 3, (together, alone)
    assert batcher.batches == 1  # both in one call (and the first again, alone)


# -- the official SDK, against a server ------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("data"), env={"HOTASR_ALLOW_PRIVATE_URLS": "1"}).start(timeout=180)
    srv.key = srv.create_key("bilingual")  # type: ignore[attr-defined]
    dashscope.base_http_api_url = srv.url + "/api/v1"
    dashscope.base_websocket_api_url = srv.url.replace("http://", "ws://") + "/api-ws/v1/inference"
    dashscope.api_key = srv.key  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def test_sdk_file_task_keeps_both_languages(server: Server, bilingual_wav: Path) -> None:
    files = FileServer(extra=(bilingual_wav,))
    try:
        response = Transcription.call(model="paraformer-v2", file_urls=[files.url(bilingual_wav.name)],
                                      language_hints=["zh", "en"])
        assert response.output.task_status == "SUCCEEDED", json.dumps(response.output, ensure_ascii=False)
        with urllib.request.urlopen(response.output["results"][0]["transcription_url"], timeout=30) as result:
            doc = json.loads(result.read())
    finally:
        files.stop()
    sentences = doc["transcripts"][0]["sentences"]
    check_halves([s["text"] for s in sentences])
    for sentence in sentences:
        if HAN.search(sentence["text"]):
            assert sentence["text"][-1] in "。？！", sentence
            words = "".join(w["text"] + w["punctuation"] for w in sentence["words"])
            assert words == sentence["text"], sentence
    assert "warnings" not in doc


def test_sdk_real_time_keeps_both_languages(server: Server, bilingual_wav: Path) -> None:
    recognition = Recognition(model="paraformer-realtime-v2", format="wav", sample_rate=16000, callback=None,
                              language_hints=["zh", "en"])
    result = recognition.call(str(bilingual_wav))
    assert result.status_code == 200, result.message
    finals = [s for s in result.get_sentence() if s["text"]]
    check_halves([s["text"] for s in finals])
    chinese = [s for s in finals if HAN.search(s["text"])]
    assert all(s["text"][-1] in "。？！" for s in chinese), chinese  # punctuated like file results


def test_sdk_real_time_hints_zh_en_keep_english_english(server: Server, tmp_path: Path) -> None:
    # DashScope's documented default hints: English speech must not be forced into Chinese.
    english = write_wav(tmp_path / "english.wav", decode_audio(need(EN)).samples)
    recognition = Recognition(model="paraformer-realtime-v2", format="wav", sample_rate=16000, callback=None,
                              language_hints=["zh", "en"])
    result = recognition.call(str(english))
    assert result.status_code == 200, result.message
    text = " ".join(s["text"] for s in result.get_sentence())
    assert not HAN.search(text) and EN_KEYWORD in text.lower(), text


def test_openai_endpoint_keeps_both_languages(server: Server, bilingual_wav: Path) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key=server.key, max_retries=0, timeout=120)  # type: ignore[attr-defined]
    with bilingual_wav.open("rb") as audio:
        result = client.audio.transcriptions.create(file=audio, model="whisper-1", response_format="verbose_json")
    check_halves([s.text for s in result.segments or []])
