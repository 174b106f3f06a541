"""Chinese hotwords heard right but spelled with other characters are respelled, strictly."""

from __future__ import annotations

from hotasr.biasing.homophones import HomophoneCorrector
from hotasr.hotwords import Hotword
from hotasr.transcript import Sentence, Transcript, Word


def corrector(*terms: str) -> HomophoneCorrector:
    return HomophoneCorrector([Hotword(t, 4) for t in terms])


def test_a_name_written_with_homophones_becomes_the_hotword() -> None:
    assert corrector("张雨霏").correct_text("记者张雨菲报道。") == "记者张雨霏报道。"


def test_toneless_match_for_three_characters_and_more() -> None:
    # 加 jia1 against 家 jia1 and 口 kou3: same syllables; 政 zheng4 / 正 zheng4.
    assert corrector("张家口市政府").correct_text("张加口市正府发布") == "张家口市政府发布"


def test_longer_terms_match_any_reading_with_fuzzy_pinyin() -> None:
    # 都 reads du1 in the place name 新都 and dou1 in pypinyin's context: any reading counts.
    assert corrector("新都店").correct_text("心肚店") == "新都店"
    # Accent merges: ling/lin (-ng), she/se (sh/s), zhen/zheng.
    assert corrector("灵山侠侣").correct_text("林山霞律") == "灵山侠侣"
    assert corrector("灵舍不同").correct_text("零色不同") == "灵舍不同"
    assert corrector("樊振东").correct_text("马龙和反正东经过") == "马龙和樊振东经过"
    # ... but not other syllables: 侯诺侯 hou-nuo-hou is not 候若洪 hou-ruo-hong.
    assert corrector("候若洪").correct_text("侯诺侯我们") == "侯诺侯我们"


def test_two_character_terms_need_the_tones_too() -> None:
    # 故意 gu4 yi4 is a common word, 古一 gu3 yi1 a name: toneless they would collide.
    assert corrector("古一").correct_text("他是故意的") == "他是故意的"
    # 顿 dun4 against 敦 dun1 (敦煌 as pypinyin reads it in context): different tone, left alone.
    assert corrector("敦煌").correct_text("顿黄的壁画") == "顿黄的壁画"
    assert corrector("敦煌").correct_text("蹲煌的壁画") == "敦煌的壁画"


def test_different_sounds_and_correct_text_are_left_alone() -> None:
    c = corrector("张雨霏", "张家口市政府", "张家口")
    assert c.correct_text("张雨飞来了") == "张雨霏来了"  # fei1 = fei1
    assert c.correct_text("张宇航来了") == "张宇航来了"  # different syllables
    # Already right: the longer term stays, and the shorter one does not rewrite part of it.
    assert c.correct_text("张家口市政府和张家口") == "张家口市政府和张家口"


def test_a_run_that_cuts_a_common_word_is_not_a_name() -> None:
    # 附近医 fu-jin-yi sounds like the name 付敬懿 fu-jing-yi, but it ends inside 医院 (hospital).
    assert corrector("付敬懿").correct_text("两名伤者被送往附近医院。") == "两名伤者被送往附近医院。"
    # The same name misspelled where it cuts no word is respelled.
    assert corrector("付敬懿").correct_text("记者附近医报道。") == "记者付敬懿报道。"


def test_punctuation_and_latin_break_a_match() -> None:
    assert corrector("张雨霏").correct_text("张雨，菲") == "张雨，菲"
    assert corrector("张雨霏").correct_text("张雨 fei") == "张雨 fei"


def test_terms_that_are_not_all_han_or_too_short_do_not_apply() -> None:
    assert not corrector("霏", "iPhone手机", "hello")
    assert corrector("霏", "iPhone手机").correct_text("菲") == "菲"


def test_transcript_words_are_respelled_and_keep_their_times() -> None:
    words = [Word(0, 300, "记者"), Word(300, 500, "张"), Word(500, 900, "雨菲", "，"), Word(900, 1200, "报道", "。")]
    transcript = Transcript([Sentence(0, 1200, "记者张雨菲，报道。", words)], language="zh")
    assert corrector("张雨霏").correct(transcript) == 1
    sentence = transcript.sentences[0]
    assert sentence.text == "记者张雨霏，报道。"
    assert [(w.begin_ms, w.end_ms, w.text) for w in sentence.words] == [
        (0, 300, "记者"), (300, 500, "张"), (500, 900, "雨霏"), (900, 1200, "报道")
    ]


def test_a_list_builds_its_corrector_once() -> None:
    """A compiled list holds its corrector (built on first use: ~10 ms for 500 terms, on every decode
    of a real-time stream otherwise), and the engine's cache gives the same list the same object."""
    from hotasr.biasing.compiled import HotwordCache

    class Vocabulary:  # the one thing the cache asks of a tokenizer without compiling a graph
        def get_vocab(self) -> dict[str, int]:
            return {}

    cache = HotwordCache(Vocabulary(), multilingual=True)  # type: ignore[arg-type]
    terms = (Hotword("张雨霏", 4), Hotword("樊振东", 5))
    compiled = cache.get(terms)
    assert cache.get(list(terms)) is compiled and compiled.corrector is compiled.corrector
    assert cache.get(terms[:1]) is not compiled
    assert compiled.corrector.correct_text("张雨菲夺冠") == "张雨霏夺冠"
