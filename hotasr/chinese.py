"""Chinese written the way DashScope writes it: full-width punctuation and a mark at every sentence's
end (Paraformer and Fun-ASR always punctuate; Whisper writes `,` `?` in Chinese, or nothing).

Simplified characters are the engine's job (`WhisperOptions.simplified_chinese`); `punctuation_
prediction_enabled: false` strips these marks like any other (`hotasr.postprocess`).
"""

from __future__ import annotations

import re

# Languages written in Han characters whose punctuation is full-width.
HAN_LANGS = frozenset({"zh", "yue"})

_FULL_WIDTH = str.maketrans({",": "，", ".": "。", "?": "？", "!": "！", ":": "：", ";": "；"})
_ENDS = frozenset("。？！…")
_QUESTION_PARTICLES = ("吗", "么", "呢")
_ASCII_MARK = re.compile(r"(?<!\d)[,.?!:;]|[,.?!:;](?!\d)")
_SPACE = re.compile(r"(?<=(\S))\s+(?=(\S))")


# Character ranges for regex classes, one definition for every module outside the engine that
# tells scripts apart. Han: CJK Unified Ideographs with Extension A (not the Yijing hexagrams
# between them), the compatibility ideographs, and the supplementary extensions (B onwards).
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
KANA = "\u3040-\u30ff"  # Hiragana and Katakana
_HAN = re.compile(f"[{HAN}]")
_HAN_OR_KANA = re.compile(f"[{HAN}{KANA}]")


def has_han(text: str) -> bool:
    """Whether `text` has a Han character (Chinese text, not English written in a Chinese decode)."""
    return _HAN.search(text) is not None


def has_han_or_kana(text: str) -> bool:
    """Whether `text` is (partly) written in Chinese or Japanese script."""
    return _HAN_OR_KANA.search(text) is not None


def full_width(punctuation: str) -> str:
    """The punctuation that follows a word, in its full-width form (`,` -> `，`, `?` -> `？`)."""
    return punctuation.strip().translate(_FULL_WIDTH)


def sentence_end(text: str) -> str:
    """The mark to append to a Chinese sentence `text`: "" when it already ends in one, else `？` after
    a question particle and `。` otherwise."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in _ENDS:
        return ""
    return "？" if stripped.endswith(_QUESTION_PARTICLES) else "。"


def han_text(text: str) -> str:
    """A Chinese sentence's text as DashScope writes it: full-width marks (not inside numbers such
    as 3.5 or 1,000), spaces only between Latin words, and a mark at the end."""
    text = _ASCII_MARK.sub(lambda m: m.group().translate(_FULL_WIDTH), text.strip())
    text = _SPACE.sub(_keep_latin_space, text)
    return text + sentence_end(text)


def _keep_latin_space(match: re.Match[str]) -> str:
    from hotasr.transcript import latin_boundary

    return " " if latin_boundary(match.group(1), match.group(2)) else ""
