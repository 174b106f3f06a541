"""The hotword rules as pure functions (the API tests cover the same rules over the wire)."""

from __future__ import annotations

import pytest

from hotasr.catalog import HOTWORD_MODELS, MODELS
from hotasr.hotwords import (
    Hotword,
    HotwordError,
    applicable_hotwords,
    normalize_text,
    parse_hotword_list,
    text_rule_violation,
    validate_prefix,
)

FUN = MODELS["fun-asr"].hotword_langs


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("厄洛替尼盐酸盐", True),
        ("EGFR抑制剂", True),
        ("こんにちは", True),
        ("Фенибут Белфарм", True),  # 15 with the space
        ("Клофелин Белмедпрепараты", False),  # 24
        ("Exothermic reaction", True),
        ("Human immunodeficiency virus type 1", True),
        ("a b c d e f g", True),
        ("a b c d e f g h", False),
        ("", False),
        ("tab\u0007bell", False),
        ("zero\u200bwidth", False),
        ("ideographic\u3000space", True),  # folded to a plain space first
    ],
)
def test_documented_length_rules(text: str, ok: bool) -> None:
    assert (text_rule_violation(normalize_text(text)) is None) is ok


def test_whitespace_is_trimmed_and_folded_before_counting() -> None:
    assert normalize_text("  a\t b \n c  ") == "a b c"
    [word] = parse_hotword_list([{"text": " a  b  c  d  e  f  g ", "weight": 2}], FUN)
    assert word == Hotword("a b c d e f g", 2)


def test_weight_must_be_a_real_integer() -> None:
    for bad in (0, 6, -1, 2.0, "3", True, False, None):
        with pytest.raises(HotwordError, match=r'vocabulary\[0\] \("x"\): weight'):
            parse_hotword_list([{"text": "x", "weight": bad}], FUN)
    assert [h.weight for h in parse_hotword_list([{"text": f"t{w}", "weight": w} for w in range(1, 6)], FUN)] == [
        1, 2, 3, 4, 5]


def test_duplicates_are_per_language() -> None:
    with pytest.raises(HotwordError, match=r'vocabulary\[1\] \("APPLE"\): duplicate of vocabulary\[0\]'):
        parse_hotword_list([{"text": "apple", "weight": 1}, {"text": "APPLE", "weight": 2}], FUN)
    both = parse_hotword_list([{"text": "apple", "weight": 1, "lang": "en"}, {"text": "apple", "weight": 1}], FUN)
    assert len(both) == 2


def test_max_terms_is_configurable() -> None:
    items = [{"text": f"w{i}", "weight": 1} for i in range(4)]
    with pytest.raises(HotwordError, match="at most 3"):
        parse_hotword_list(items, FUN, max_terms=3)


@pytest.mark.parametrize("prefix", ["a", "abc123", "0123456789"])
def test_good_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "A", "abc_d", "01234567890", None, 12, "ab c"])
def test_bad_prefixes(prefix: object) -> None:
    with pytest.raises(HotwordError, match="prefix must be"):
        validate_prefix(prefix)


def test_language_hints_split_the_list() -> None:
    words = [Hotword("Dashwood", 4, "en"), Hotword("阿里巴巴", 4, "zh"), Hotword("neutral", 3)]
    applied, skipped = applicable_hotwords(words, ["en"])
    assert [w.text for w in applied] == ["Dashwood", "neutral"] and [w.text for w in skipped] == ["阿里巴巴"]
    assert applicable_hotwords(words, None) == (words, [])


def test_catalog_hotword_models() -> None:
    assert {"fun-asr", "fun-asr-realtime", "paraformer-v2", "paraformer-realtime-8k-v2"} <= HOTWORD_MODELS
    assert "paraformer-v1" not in HOTWORD_MODELS and "sensevoice-v1" not in HOTWORD_MODELS
    assert MODELS["paraformer-8k-v2"].sample_rate == 8000
