"""The tolerance recognition tests use for Whisper's words (tests/readings.py) still catches a miss."""

from __future__ import annotations

from tests.readings import heard, misread, same_word, words_of

JFK = "And so, my fellow Americans: ask not what your country can do for you, ask what you can do for your country."


def test_a_phrase_is_heard_through_one_word_read_differently_in_five() -> None:
    assert heard(JFK, "ask not what your country can do for you")
    assert heard(JFK.replace("ask not", "asked not"), "ask not what your country can do for you")
    assert heard(JFK.replace("country can", "county can"), "ask not what your country can do for you")
    assert misread(JFK.replace("not what your", "not that our"), "ask not what your country can do") == 2
    assert not heard(JFK.replace("not what your", "not that our"), "ask not what your country can do")


def test_short_phrases_and_keywords_must_be_heard_word_for_word() -> None:
    assert heard("the yellow lamps at nightfall", "nightfall")
    assert not heard("the yellow lamps at night fall", "nightfall")
    assert not heard("and so my fellow", "ask not")
    assert heard("One, two, 3.", "one two three")


def test_word_endings_and_normalisation() -> None:
    assert same_word("asked", "ask") and same_word("fellows", "fellow")
    assert not same_word("a", "an") and not same_word("country", "count")
    assert words_of("“Hello,” he said—it's 3") == ["hello", "he", "said", "it's", "three"]
