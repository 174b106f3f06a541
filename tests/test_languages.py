"""A language per sentence (issue #19), the parts that need no model: DashScope's candidate
languages, Chinese written as DashScope writes it, bilingual hotword lists."""

from __future__ import annotations

from types import SimpleNamespace

from hotasr.catalog import get_model
from hotasr.chinese import han_text, sentence_end
from hotasr.engine.segments import add_sentences, segment_sentences
from hotasr.hotwords import Hotword, hotwords_for_language
from hotasr.postprocess import apply_text_options
from hotasr.recognize import candidate_languages, expected_languages
from hotasr.transcript import Sentence, Transcript, Word, join_pieces


def model(name: str):
    info = get_model(name)
    assert info is not None
    return info


def test_candidates_follow_dashscopes_rules_per_family() -> None:
    # Paraformer v2: every hint is a candidate; Fun-ASR: the first hint only, forced.
    assert candidate_languages(model("paraformer-v2"), ["zh", "en"]) == ("zh", "en")
    assert candidate_languages(model("paraformer-realtime-v2"), ["zh", "en"]) == ("zh", "en")
    assert candidate_languages(model("fun-asr"), ["en", "zh"]) == ("en",)
    # No hint: the model's own languages.
    assert candidate_languages(model("fun-asr"), []) == ("zh", "en", "ja")
    assert candidate_languages(model("fun-asr-realtime"), []) == ("zh", "en", "ja")
    assert "en" in candidate_languages(model("paraformer-v2"), [])  # type: ignore[operator]
    assert candidate_languages(model("paraformer-8k-v2"), []) == ("zh",)
    assert candidate_languages(model("sensevoice-v1"), []) is None  # many: any the engine knows
    assert candidate_languages(model("paraformer-v2"), ["zh", "en"], language="en") == ("en",)


def test_without_hints_mandarin_and_english_are_expected() -> None:
    """No hint: all the model's languages are candidates, but zh and en (Paraformer v2's default
    hints) count as heard from the first sentence on; hints, or a known language, expect none."""
    assert expected_languages(model("paraformer-realtime-v2"), []) == ("zh", "en")
    assert expected_languages(model("fun-asr"), []) == ("zh", "en")
    assert expected_languages(model("paraformer-8k-v2"), []) == ("zh",)
    assert expected_languages(model("sensevoice-v1"), []) == ()  # many languages: nothing expected
    assert expected_languages(model("paraformer-v2"), ["zh", "ja"]) == ()
    assert expected_languages(model("paraformer-v2"), [], language="de") == ()


def test_chinese_text_has_full_width_marks_and_an_end() -> None:
    assert han_text("我用 iPhone 15 Pro, 很好") == "我用iPhone 15 Pro，很好。"
    assert han_text("欢迎来到 Speech Lab") == "欢迎来到Speech Lab。"
    assert han_text("价格是3.5元,对吗") == "价格是3.5元，对吗？"
    assert han_text("你好. 世界!") == "你好。世界！"
    assert sentence_end("好的！") == ""


def words(*tokens: str, step: float = 0.2) -> list[SimpleNamespace]:
    return [SimpleNamespace(word=t, start=i * step, end=(i + 1) * step) for i, t in enumerate(tokens)]


def segment(tokens: list[SimpleNamespace]) -> SimpleNamespace:
    return SimpleNamespace(words=tokens, text="".join(t.word for t in tokens), start=0.0, end=tokens[-1].end)


def test_latin_words_inside_chinese_keep_their_spaces_and_words_agree_with_the_text() -> None:
    # faster-whisper splits unspaced text token by token: "iPhone" may come as "i" + "Phone".
    tokens = words("我", "买", "了", " i", "Phone", " 15", " Pro", ",", "在", " Speech", " Lab", "?")
    sentences = segment_sentences(segment(tokens), "zh", simplify=True)
    assert [s.text for s in sentences] == ["我买了iPhone 15 Pro，在Speech Lab？"]
    sentence = sentences[0]
    assert sentence.language == "zh"
    assert [w.text for w in sentence.words] == ["我", "买", "了", "iPhone", "15", "Pro", "在", "Speech", "Lab"]
    assert join_pieces([w.text + w.punctuation for w in sentence.words], "zh") == sentence.text


def test_a_chinese_sentence_without_a_mark_gets_one_and_loses_it_without_punctuation() -> None:
    sentences = segment_sentences(segment(words("零零后", "会", "成为", "购房", "主力")), "zh", simplify=True)
    assert sentences[0].text == "零零后会成为购房主力。" and sentences[0].words[-1].punctuation == "。"
    stripped = apply_text_options(sentences[0], "zh", punctuation=False)
    assert stripped is not None and stripped.text == "零零后会成为购房主力"
    mixed = Sentence(0, 1000, "我用iPhone 15 Pro，很好。", [], language="zh")
    assert apply_text_options(mixed, None, punctuation=False).text == "我用iPhone 15 Pro很好"  # type: ignore[union-attr]


def test_a_character_the_decode_left_unfinished_is_left_out() -> None:
    """Whisper's tokens are bytes: a decode that ends inside a character's bytes leaves U+FFFD
    ("致\ufffd" for 灵山神箭, AISHELL S0252 W0112, in a bilingual file)."""
    sentences = segment_sentences(segment(words("灵", "山", "致", "\ufffd")), "zh", simplify=True)
    assert [s.text for s in sentences] == ["灵山致。"]
    assert all("\ufffd" not in w.text + w.punctuation for w in sentences[0].words)
    bare = SimpleNamespace(words=None, text=" 致\ufffd", start=0.0, end=1.0)
    assert [s.text for s in segment_sentences(bare, "zh", simplify=True)] == ["致。"]


def test_chinese_written_in_an_english_decode_is_written_as_chinese() -> None:
    """A Mandarin sentence around an English title can be detected as English (AISHELL W0040,
    "打开Call Me Maybe"); Whisper then writes the Chinese anyway, which reads as Chinese does."""
    sentences = segment_sentences(segment(words(" 打開", " call", " me", " maybe")), "en", simplify=True)
    assert [(s.text, s.language) for s in sentences] == [("打开call me maybe。", "zh")]


def test_english_sentences_are_untouched() -> None:
    sentences = segment_sentences(segment(words(" Hello", ",", " world", ".")), "en", simplify=False)
    assert [s.text for s in sentences] == ["Hello, world."]


def test_a_hyphenated_word_stays_one_word() -> None:
    """faster-whisper opens a word at a mark ("flour" + "-fatten", "i" + ".e."); the sentence writes
    it whole."""
    tokens = words(" Flour", "-fatten", " the", " sauce", ",", " a", " well", "-known", " trick", ",", " i", ".e.",
                   " a", " \"real\"", " one", ".")
    sentences = segment_sentences(segment(tokens), "en", simplify=False)
    assert [s.text for s in sentences] == ['Flour-fatten the sauce, a well-known trick, i.e. a "real" one.']
    assert [w.text for w in sentences[0].words][:5] == ["Flour-fatten", "the", "sauce", "a", "well-known"]


def test_a_title_ends_no_sentence() -> None:
    tokens = words(" And", " Mr", ".", " John", " Dashwood", " had", " leisure", ".", " He", " was", " not", ".")
    sentences = segment_sentences(segment(tokens), "en", simplify=False)
    assert [s.text for s in sentences] == ["And Mr. John Dashwood had leisure.", "He was not."]


def timed_segment(start: float, *tokens: str) -> SimpleNamespace:
    shifted = [SimpleNamespace(word=t.word, start=t.start + start, end=t.end + start) for t in words(*tokens)]
    return SimpleNamespace(words=shifted, text="".join(t.word for t in shifted), start=start, end=shifted[-1].end)


def test_a_sentence_a_whisper_segment_leaves_open_goes_on_into_the_next() -> None:
    """Whisper's segments end at its timestamps, not at sentences: "... differs from most" / "if not
    from all the arts ..." is one sentence, and so is one cut after "Mr."; a segment that starts a
    sentence (upper case) after one without a mark, or one in another language, starts its own."""
    segments = [timed_segment(0.0, " Printing", " differs", " from", " most"),
                timed_segment(1.0, " if", " not", " from", " all", ".", " And", " Mr", "."),
                timed_segment(3.0, " John", " Dashwood", " came"),
                timed_segment(4.0, " Then", " he", " left", ".")]
    sentences: list[Sentence] = []
    for seg in segments:
        add_sentences(sentences, segment_sentences(seg, "en", simplify=False))
    assert [s.text for s in sentences] == ["Printing differs from most if not from all.",
                                           "And Mr. John Dashwood came", "Then he left."]
    first = sentences[0]
    assert (first.begin_ms, first.end_ms) == (0, 1800)  # to the end of "all"
    assert [w.text for w in first.words] == ["Printing", "differs", "from", "most", "if", "not", "from", "all"]
    assert join_pieces([w.text + w.punctuation for w in first.words], "en") == first.text
    # Chinese sentences always end in a mark; a lower-case word in another language's sentence starts its own.
    mixed: list[Sentence] = []
    add_sentences(mixed, segment_sentences(timed_segment(0.0, " the", " end"), "en", simplify=False))
    add_sentences(mixed, segment_sentences(timed_segment(1.0, " iPhone", "很好"), "zh", simplify=True))
    assert [s.text for s in mixed] == ["the end", "iPhone很好。"]


def test_a_bilingual_transcripts_text_spaces_only_where_a_language_does() -> None:
    transcript = Transcript([
        Sentence(0, 1000, "你好。", [Word(0, 1000, "你好", "。")], language="zh"),
        Sentence(1000, 2000, "再见。", [], language="zh"),
        Sentence(2000, 3000, "Hello there.", [], language="en"),
        Sentence(3000, 4000, "谢谢。", [], language="zh"),
    ], "zh")
    assert transcript.text == "你好。再见。 Hello there. 谢谢。"


def test_each_term_of_a_bilingual_list_biases_sentences_of_its_language() -> None:
    terms = [Hotword("赛德克巴莱", 4, "zh"), Hotword("Seediq Bale", 4, "en"), Hotword("魏德圣", 4, None),
             Hotword("Taiwan", 4, None)]
    assert [h.text for h in hotwords_for_language(terms, "zh")] == ["赛德克巴莱", "魏德圣"]
    assert [h.text for h in hotwords_for_language(terms, "en")] == ["Seediq Bale", "Taiwan"]
    assert hotwords_for_language(terms, None) == terms


def test_audio_the_vad_finds_no_speech_in_is_still_decoded(monkeypatch) -> None:
    """Quiet or noisy speech the VAD misses is decoded whole (as before #19), not dropped."""
    import numpy as np

    from hotasr.engine import DecodeRequest, whisper
    from hotasr.engine.faster_whisper_adapter import EncoderMemo

    engine = object.__new__(whisper.WhisperEngine)
    engine.multilingual = True
    decoded: list[int] = []

    def decode(self, samples, read, warnings, progress):
        decoded.append(len(samples))
        return [Sentence(0, 1000, "hello", language="en")], "en"

    monkeypatch.setattr(whisper, "speech_segments", lambda samples: [])
    monkeypatch.setattr(whisper.WhisperEngine, "_decode", decode)
    samples = np.ones(16000, np.float32)
    read = whisper._Read(DecodeRequest(samples, biasing="none"), ("zh", "en"), None, EncoderMemo())
    sentences = engine._decode_sentences(samples, read, [])
    assert decoded == [16000] and [s.text for s in sentences] == ["hello"]


def test_a_language_not_heard_yet_needs_stronger_evidence(monkeypatch) -> None:
    """A stream's later sentences are detected with the languages heard so far weighed up: a short
    English phrase that Whisper finds a little likelier to be Russian stays English once English
    was heard, while clear Russian speech is still Russian."""
    import numpy as np
    from faster_whisper import WhisperModel

    from hotasr.engine.faster_whisper_adapter import DecodePass, PassPlan

    probabilities: list[tuple[str, float]] = []
    monkeypatch.setattr(WhisperModel, "detect_language", lambda self, **kwargs: (*probabilities[0], probabilities))

    def detected(heard: tuple[str, ...], *found: tuple[str, float]) -> str:
        probabilities[:] = found
        plan = PassPlan(candidates=("zh", "en", "ru"), heard=heard, unheard_weight=0.1)
        return DecodePass(SimpleNamespace(), plan).detect_language(features=np.zeros((80, 10), np.float32))[0]

    unsure = (("ru", 0.5), ("en", 0.3), ("zh", 0.2))
    assert detected((), *unsure) == "ru"
    assert detected(("zh", "en"), *unsure) == "en"
    assert detected(("zh",), *unsure) == "zh"  # 2.5 times likelier is not enough for a new language
    assert detected(("en",), ("ru", 0.95), ("en", 0.04), ("zh", 0.01)) == "ru"


def test_a_sentence_said_again_by_a_biased_decode_counts_as_a_loop() -> None:
    """A biased decode can say a whole sentence over (each repeat earns its terms' bonus again),
    too short a loop for faster-whisper's retry test; the engine then decodes without the list."""
    from hotasr.engine.whisper import _says_a_sentence_again

    def said(*texts: str) -> bool:
        return _says_a_sentence_again([Sentence(0, 1000, text) for text in texts])

    assert said("海昌极地海洋世界西门。", "海昌极地海洋世界西门。")
    assert said("凡正东则先后战胜了戈齐。", "凡正东则先后戈齐。", "凡正东则先后戈齐。")
    assert said("Thank you very much.", "thank you very much!")
    # Or within one sentence: "replied he" (1.2 s of LibriSpeech) as a real-time final with a list.
    assert said("replied he replied he") and said("Of a truth.", "Replied he, replied he.")
    assert not said("replied he replied") and not said("Very, very.")
    assert not said("海昌极地海洋世界西门。", "海昌极地海洋世界东门。")
    # Short ones may well be said twice ("好的。好的。", "Yes. Yes."); longer ones meant twice
    # ("Thou also. Thou also.") cost a decode without the list, which says them twice too.
    assert not said("好的。", "好的。") and not said("Yes.", "Yes.") and not said("海昌极地海洋世界西门。")


def test_a_sentence_that_says_the_start_of_the_one_before_again_counts_as_said_again() -> None:
    """Whisper may read a long sentence's start again, cut short, over the silence after it; a
    short restart ("We should go now. We should") or a sentence that goes elsewhere is speech."""
    from hotasr.engine.whisper import _says_a_sentence_again

    def said(*texts: str) -> bool:
        return _says_a_sentence_again([Sentence(0, 1000, text) for text in texts])

    whole = "God, as a direct consequence of the sin which man thus punished, had given her a lovely child."
    assert said(whole, "God, as a direct consequence of the sin which man")
    assert said("凡正东则先后战胜了戈齐的军队。", "凡正东则先后战胜了戈齐的")
    assert not said("We should go now.", "We should")
    assert not said(whole, "God, as a direct consequence of the storm, came home.")
    assert not said("God, as a direct consequence", whole)  # the later one goes on: a restart
