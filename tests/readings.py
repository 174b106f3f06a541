"""What a recognition test may assert about Whisper's words, on any CPU.

Whisper's int8 kernels, its feature extraction and ONNX Runtime pick their own instructions on
each processor (AVX2, AVX-512, VNNI), and the same audio then reads slightly differently: "ask not"
on one machine, "asked not" on another. A test asserts that a phrase was heard, allowing about one
word in five to be read differently, never one machine's exact transcript. A phrase of four words
or fewer must be heard word for word (a word may differ only in such an ending as "ask"/"asked"), so a
check for a single keyword still fails when the keyword is missing.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_DIGITS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
           "8": "eight", "9": "nine"}


def words_of(text: str) -> list[str]:
    """Lower-case words, punctuation dropped; a lone digit is read as its English word."""
    return [_DIGITS.get(w, w) for w in _WORD.findall(text.lower())]


_ENDINGS = frozenset({"s", "es", "d", "ed", "'s"})


def same_word(heard: str, expected: str) -> bool:
    """Equal, or one the other plus a plural, possessive or past ending ("ask"/"asked", "fellow"/"fellows")."""
    short, long = sorted((heard, expected), key=len)
    return heard == expected or (len(short) >= 3 and long.startswith(short) and long[len(short):] in _ENDINGS)


def misread(text: str, phrase: str) -> int:
    """The fewest words substituted, dropped or added to find `phrase` in `text` (an edit distance
    between the phrase and the best-matching stretch of the text's words)."""
    said, wanted = words_of(text), words_of(phrase)
    # previous[j]: cost of matching wanted[:i] ending at said[j]; a match may start anywhere (row 0 is free).
    previous = [0] * (len(said) + 1)
    for i, word in enumerate(wanted, 1):
        current = [i] + [0] * len(said)
        for j, candidate in enumerate(said, 1):
            current[j] = min(
                previous[j - 1] + (0 if same_word(candidate, word) else 1),
                previous[j] + 1,  # the phrase's word was not heard
                current[j - 1] + 1,  # a word heard that the phrase lacks
            )
        previous = current
    return min(previous)


def heard(text: str, phrase: str) -> bool:
    """Whether `text` holds `phrase`, up to one word in five read differently."""
    return misread(text, phrase) <= len(words_of(phrase)) // 5
