"""English hotwords heard right but spelled otherwise are respelled, and nothing else is."""

from __future__ import annotations

from hotasr.biasing.respelling import SoundsAlikeRespeller, sound_key, whole_words
from hotasr.hotwords import Hotword
from hotasr.transcript import Sentence, Transcript, Word

# Words a Whisper vocabulary holds whole (as `whole_words` reads them from its tokens).
KNOWN = whole_words(
    ["\u0120place", "\u0120already", "\u0120Germany", "\u0120lovely", "\u0120speak", "\u0120sal", "ters"]
)


def respeller(*terms: str, known: frozenset[str] = KNOWN) -> SoundsAlikeRespeller:
    return SoundsAlikeRespeller([Hotword(t, 4) for t in terms], known=known)


def test_spellings_that_sound_alike_share_a_key() -> None:
    assert sound_key("Schoffer") == sound_key("Schoeffer")
    assert sound_key("salters") == sound_key("psalters")  # silent initial p
    assert sound_key("willome") == sound_key("whilome")  # wh = w
    assert sound_key("Lübeck") == sound_key("Lubeck")  # accents folded
    assert sound_key("Schoffer") != sound_key("chauffeur")


def test_a_name_spelled_by_its_sound_becomes_the_hotword() -> None:
    fixed = respeller("Schoeffer").correct_text("printed at Maintz by Peter Schoffer in the year 1462.")
    assert fixed == "printed at Maintz by Peter Schoeffer in the year 1462."


def test_two_words_that_join_into_the_term_become_one() -> None:
    assert respeller("withal").correct_text("to approach me with all, and") == "to approach me withal, and"


def test_lower_case_terms_take_the_capital_of_the_word_they_replace() -> None:
    assert respeller("psalters").correct_text("Salters and missals") == "Psalters and missals"


def test_whole_words_are_the_vocabulary_entries_that_start_a_word() -> None:
    assert {"place", "already", "Germany", "lovely", "speak", "sal"} == KNOWN


def test_words_the_model_knows_whole_are_never_respelled() -> None:
    # The key is coarse (place ~ polus, Germany ~ germon): the vocabulary keeps common words as said.
    assert respeller("polus", "germon", "lovel", "spake").correct_text("place Germany, lovely speak") == (
        "place Germany, lovely speak"
    )
    assert respeller("polus", known=frozenset()).correct_text("place") == "polus"


def test_contractions_of_known_words_are_known_words() -> None:
    # "don't" sounds like the listed "doant", but it is "do" + "n't": a word, not a name spelled by ear.
    known = whole_words(["\u0120don", "\u0120speak"])
    assert respeller("doant", "spakes", known=known).correct_text("I don't think, speak's") == "I don't think, speak's"
    assert respeller("doant", known=frozenset()).correct_text("I don't think") == "I doant think"


def test_a_listed_term_is_never_rewritten_into_another() -> None:
    r = respeller("Schoeffer", "Schoffer")
    assert r.correct_text("Peter Schoffer and Peter Schoeffer") == "Peter Schoffer and Peter Schoeffer"


def test_short_terms_and_non_latin_terms_do_not_respell() -> None:
    r = respeller("nite", "张雨霏")
    assert not r
    assert r.correct_text("at night") == "at night"


def test_the_transcript_words_follow_the_text() -> None:
    words = [Word(0, 400, "Peter"), Word(400, 900, " Schoffer", ".")]
    transcript = Transcript([Sentence(0, 900, "Peter Schoffer.", words)], "en", 900)
    assert respeller("Schoeffer").correct(transcript) == 1
    sentence = transcript.sentences[0]
    assert sentence.text == "Peter Schoeffer."
    assert [(w.begin_ms, w.end_ms, w.text, w.punctuation) for w in sentence.words] == [
        (0, 400, "Peter", ""),
        (400, 900, " Schoeffer", "."),
    ]


def test_joined_words_keep_the_span_of_both() -> None:
    words = [Word(0, 300, "me"), Word(300, 500, " with"), Word(500, 800, " all", ".")]
    transcript = Transcript([Sentence(0, 800, "me with all.", words)], "en", 800)
    respeller("withal").correct(transcript)
    assert [(w.begin_ms, w.end_ms, w.text, w.punctuation) for w in transcript.sentences[0].words] == [
        (0, 300, "me", ""),
        (300, 800, " withal", "."),
    ]


def test_a_compiled_list_builds_its_respeller_once_and_applies_it_to_english() -> None:
    from hotasr.biasing.compiled import HotwordCache

    class Vocabulary:  # the one thing the cache asks of a tokenizer without compiling a graph
        def get_vocab(self) -> dict[str, int]:
            return {"\u0120Peter": 0}

    cache = HotwordCache(Vocabulary(), multilingual=True)  # type: ignore[arg-type]
    compiled = cache.get((Hotword("Schoeffer", 4),))
    assert compiled.respeller is compiled.respeller
    words = [Word(0, 400, "Peter"), Word(400, 900, " Schoffer", ".")]
    transcript = Transcript([Sentence(0, 900, "Peter Schoffer.", words)], "en", 900)
    assert compiled.correct(transcript) == 1 and transcript.text == "Peter Schoeffer."


def test_words_are_not_joined_across_punctuation_or_numbers() -> None:
    assert respeller("withal").correct_text("with, all") == "with, all"
    words = [Word(0, 300, "with"), Word(300, 500, " 1462"), Word(500, 800, " all")]
    transcript = Transcript([Sentence(0, 800, "with 1462 all", words)], "en", 800)
    assert respeller("withal").correct(transcript) == 0


def test_only_english_sentences_are_respelled() -> None:
    english = Sentence(0, 900, "Peter Schoffer.", [Word(0, 400, "Peter"), Word(400, 900, " Schoffer", ".")])
    words = [Word(900, 1200, "打开"), Word(1200, 1800, "Schoffer")]
    chinese = Sentence(900, 1800, "打开Schoffer", words, language="zh")
    transcript = Transcript([english, chinese], "en", 1800)
    assert respeller("Schoeffer").correct(transcript) == 1
    assert [s.text for s in transcript.sentences] == ["Peter Schoeffer.", "打开Schoffer"]
