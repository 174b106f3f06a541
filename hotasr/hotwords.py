"""Hotwords and the rules a hotword list must follow (DashScope's documented rules, docs/dashscope-protocol.md §3.3).

Pure domain code: no HTTP, no storage. Every rule violation raises `HotwordError` whose message
names the offending item by index and text, so any adapter can pass it to the user verbatim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hotasr.chinese import has_han_or_kana
from hotasr.errors import HotwordError as HotwordError  # re-exported: raised here

MAX_TERMS_PER_LIST = 500
MIN_WEIGHT, MAX_WEIGHT = 1, 5
MAX_NON_ASCII_CHARS = 15  # a term with any non-ASCII character: at most 15 characters in all
MAX_ASCII_SEGMENTS = 7  # an ASCII-only term: at most 7 space-separated segments
# Not a documented rule: a sanity bound so an ASCII "term" cannot be a pasted paragraph.
MAX_ASCII_CHARS = 128
PREFIX_PATTERN = re.compile(r"[a-z0-9]{1,10}")  # fullmatch: `$` would let "abc\n" through

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Hotword:
    text: str
    weight: int
    lang: str | None = None

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {"text": self.text, "weight": self.weight}
        if self.lang is not None:
            item["lang"] = self.lang
        return item


def normalize_text(text: str) -> str:
    """Trim and fold inner whitespace runs to one space, so segment counting is well defined."""
    return _WHITESPACE.sub(" ", text).strip()


def text_rule_violation(text: str) -> str | None:
    """Why `text` (already normalized) breaks the length rules, or None when it is fine."""
    if not text:
        return "text must not be empty"
    # After whitespace folding, only control, format (zero-width), private-use and unassigned
    # characters are unprintable: none belongs in a word. (C-level checks: a list has 500 terms.)
    if not text.isprintable():
        return "text must not contain control or invisible characters"
    if not text.isascii():
        if len(text) > MAX_NON_ASCII_CHARS:
            return (
                f"text with non-ASCII characters may have at most {MAX_NON_ASCII_CHARS} characters, "
                f"this one has {len(text)}"
            )
        return None
    segments = len(text.split(" "))
    if segments > MAX_ASCII_SEGMENTS:
        return f"ASCII text may have at most {MAX_ASCII_SEGMENTS} space-separated words, this one has {segments}"
    if len(text) > MAX_ASCII_CHARS:
        return f"ASCII text may have at most {MAX_ASCII_CHARS} characters, this one has {len(text)}"
    return None


MAX_SHOWN_CHARS = 80  # an echoed value is for recognition, not a copy of a pasted megabyte


def show(value: Any) -> str:
    """A value as the user wrote it in JSON (`true`, not Python's `True`), cut short when long."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        shown = repr(value)
    if len(shown) > MAX_SHOWN_CHARS:
        return f"{shown[:MAX_SHOWN_CHARS - 20]}... ({len(shown)} characters)"
    return shown


def _describe(index: int, item: Any) -> str:
    text = item.get("text") if isinstance(item, dict) else None
    if isinstance(text, str):
        return f'vocabulary[{index}] ("{text}")'
    return f"vocabulary[{index}]"


def parse_hotword(index: int, item: Any, allowed_langs: frozenset[str]) -> Hotword:
    """Validate one wire item `{"text", "weight", "lang"?}` into a Hotword."""

    def error(problem: str) -> HotwordError:
        return HotwordError(f"{_describe(index, item)}: {problem}")

    if not isinstance(item, dict):
        raise error(f"must be an object with text and weight, got {type(item).__name__}")
    raw_text = item.get("text")
    if not isinstance(raw_text, str):
        raise error("text is required and must be a string")
    text = normalize_text(raw_text)
    problem = text_rule_violation(text)
    if problem:
        raise error(problem)
    weight = item.get("weight")
    # bool is an int subclass in Python; JSON true must not pass as weight 1.
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise error(f"weight must be an integer from {MIN_WEIGHT} to {MAX_WEIGHT}, got {show(weight)}")
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise error(f"weight must be from {MIN_WEIGHT} to {MAX_WEIGHT}, got {weight}")
    lang = item.get("lang")
    if lang is not None and (not isinstance(lang, str) or lang not in allowed_langs):
        allowed = ", ".join(sorted(allowed_langs)) or "none"
        raise error(f"lang {show(lang)} is not supported by this model family (allowed: {allowed})")
    return Hotword(text=text, weight=weight, lang=lang)


def parse_hotword_list(
    items: Any, allowed_langs: frozenset[str], max_terms: int = MAX_TERMS_PER_LIST
) -> list[Hotword]:
    """Validate a whole list: shape, each item, size, and duplicates."""
    if not isinstance(items, list):
        raise HotwordError("vocabulary must be a JSON array of {text, weight, lang} objects")
    if not items:
        raise HotwordError("vocabulary must contain at least one hotword")
    if len(items) > max_terms:
        raise HotwordError(f"vocabulary has {len(items)} hotwords; a list holds at most {max_terms}")
    hotwords: list[Hotword] = []
    seen: dict[tuple[str, str | None], int] = {}
    for index, item in enumerate(items):
        hotword = parse_hotword(index, item, allowed_langs)
        key = (hotword.text.casefold(), hotword.lang)
        if key in seen:
            raise HotwordError(
                f'vocabulary[{index}] ("{hotword.text}"): duplicate of vocabulary[{seen[key]}]'
            )
        seen[key] = index
        hotwords.append(hotword)
    return hotwords


def validate_prefix(prefix: Any) -> str:
    if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix):
        raise HotwordError(
            f"prefix must be 1 to 10 lowercase letters or digits (a-z, 0-9), got {show(prefix)}"
        )
    return prefix


def applicable_hotwords(
    hotwords: Iterable[Hotword], language_hints: Iterable[str] | None
) -> tuple[list[Hotword], list[Hotword]]:
    """Split a list into (applied, skipped) by `language_hints`.

    DashScope: with language_hints set, only hotwords whose lang matches apply. Terms without a
    lang apply always (they carry no language to contradict the hint).
    """
    hints = {h for h in (language_hints or []) if h}
    if not hints:
        return list(hotwords), []
    applied: list[Hotword] = []
    skipped: list[Hotword] = []
    for hotword in hotwords:
        (applied if hotword.lang is None or hotword.lang in hints else skipped).append(hotword)
    return applied, skipped


# Languages written in Han characters or kana: a term without `lang` in such script belongs to them.
_CJK_LANGS = frozenset({"zh", "yue", "ja"})


def hotwords_for_language(hotwords: Iterable[Hotword], language: str | None) -> list[Hotword]:
    """The terms of a list that apply to a sentence in `language`: those of that `lang`, and those
    without one whose script is the language's (a Chinese term for Chinese sentences, a Latin one
    for English). A bilingual list ("赛德克巴莱" zh, "Seediq Bale" en) thus biases each half with its
    own terms. With no language known every term applies."""
    if language is None:
        return list(hotwords)
    cjk_language = language in _CJK_LANGS
    return [h for h in hotwords if h.lang == language or (not h.lang and has_han_or_kana(h.text) == cjk_language)]
