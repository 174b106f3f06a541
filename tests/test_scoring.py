"""Scoring: upstream-exact WER/U-WER/B-WER, Chinese CER, hotword recall/precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotasr.evaluation.scoring import (
    Op,
    align,
    count_terms,
    hotword_counts,
    normalize_en,
    normalize_zh,
    score_benchmark_files,
    score_text,
    score_tokens,
)
from tests.servers import SHARED, unavailable

BENCH = SHARED / "data" / "librispeech_biasing"


def _benchmark_pairs() -> list[tuple[Path, Path, Path]]:
    """Every hyp file whose ref and published result exist (ref column 3 does not depend on N)."""
    pairs = []
    for hyp in sorted((BENCH / "hyp").glob("*.tsv")):
        split = hyp.name.split(".")[0]
        ref = BENCH / "ref" / f"{split}.biasing_100.tsv"
        result = BENCH / "results" / f"{hyp.name}.result"
        if ref.is_file() and result.is_file():
            pairs.append((ref, hyp, result))
    return pairs


PAIRS = _benchmark_pairs()


def test_all_benchmark_pairs_are_checked() -> None:
    if not PAIRS:
        unavailable(f"shared benchmark data {BENCH}")
    # The shared snapshot has 10 system outputs; a silently shrinking glob must not pass quietly.
    assert len(PAIRS) == 10


@pytest.mark.parametrize("ref,hyp,result", PAIRS, ids=[p[1].name for p in PAIRS])
def test_reproduces_published_result_exactly(ref: Path, hyp: Path, result: Path) -> None:
    scored = score_benchmark_files(str(ref), str(hyp))
    # Every number the .result file prints: rates (same float repr), ref words, subs, ins, dels.
    assert scored.result_text() == result.read_text(encoding="utf-8")


def test_alignment_costs_prefer_substitution_and_break_ties_like_upstream() -> None:
    # "a b" vs "b c": deletion + match + insertion costs 3 + 0 + 3 = 6 < two substitutions (8), so
    # upstream aligns a->del, b=b, c->ins, where a unit-cost tie-break on the diagonal says 2 subs.
    ops = [s.op for s in align(["a", "b"], ["b", "c"])]
    assert ops == [Op.DEL, Op.MATCH, Op.INS]
    # One word against another: a substitution (4) beats deletion + insertion (6).
    assert [s.op for s in align(["a"], ["b"])] == [Op.SUB]
    assert [s.op for s in align([], ["x", "y"])] == [Op.INS, Op.INS]
    assert [s.op for s in align(["x", "y"], [])] == [Op.DEL, Op.DEL]
    assert align([], []) == []


def test_insertions_and_deletions_are_split_by_biasing() -> None:
    ref = ["the", "quick", "brown", "fox"]
    hyp = ["the", "quick", "fox", "jumps", "over"]
    scored = score_tokens(ref, hyp, [("brown",), ("jumps",)])
    assert (scored.overall.ref_words, scored.overall.subs, scored.overall.dels, scored.overall.ins) == (4, 0, 1, 2)
    # "brown" (biased) deleted -> B-WER; "jumps" is a biasing word -> its insertion is B-WER too,
    # "over" is not -> U-WER.
    assert (scored.biased.ref_words, scored.biased.dels, scored.biased.ins) == (1, 1, 1)
    assert (scored.unbiased.ref_words, scored.unbiased.errors, scored.unbiased.ins) == (3, 1, 1)
    assert scored.biased.error_rate == pytest.approx(200.0)
    assert scored.overall.error_rate == pytest.approx(75.0)


def test_substitution_of_biased_word_counts_in_b_wer_only() -> None:
    scored = score_text("He met Anders Zorn.", "he met and her's zorn", ["anders", "zorn"])
    assert scored.biased.ref_words == 2
    assert scored.biased.subs == 1
    assert scored.unbiased.subs == 0
    assert scored.unbiased.ins == 1  # "her's" is not a biasing word


def test_phrase_terms_mark_every_token_of_an_occurrence() -> None:
    scored = score_text("play because of you now", "play because of now", ["because of you"])
    assert scored.biased.ref_words == 3
    assert scored.biased.dels == 1
    assert scored.unbiased.ref_words == 2
    assert scored.unbiased.errors == 0


def test_english_normalisation_matches_librispeech_style() -> None:
    assert normalize_en("Mr. Smith’s “red” dog—can't stop!") == ["mister", "smith's", "red", "dog", "can't", "stop"]
    assert normalize_en("I saw 21 ships, and 1,000 men.") == [
        "i",
        "saw",
        "twenty",
        "one",
        "ships",
        "and",
        "1000",
        "men",
    ]
    assert normalize_en("'Tis twenty-one") == ["tis", "twenty", "one"]


def test_chinese_cer_with_traditional_fullwidth_and_punctuation() -> None:
    ref = "相关公司股票走势万科Ａ保利地产"
    hyp = "相關公司股票走勢，萬科A 保利地產。"  # traditional, punctuation, half-width A, a space
    assert normalize_zh(hyp) == normalize_zh(ref)
    scored = score_text(ref, hyp, ["万科", "保利地产"], language="zh")
    assert scored.overall.errors == 0
    assert scored.overall.ref_words == 15  # 14 Chinese characters + "a"
    assert scored.biased.ref_words == 6


def test_chinese_b_cer_counts_characters_of_missed_terms() -> None:
    scored = score_text("打开灵山侠侣", "打开灵山下旅", ["灵山侠侣"], language="zh")
    assert scored.biased.ref_words == 4
    assert scored.biased.subs == 2
    assert scored.biased.error_rate == pytest.approx(50.0)
    assert scored.unbiased.errors == 0
    assert scored.unbiased.ref_words == 2


def test_chinese_numbers_and_yao() -> None:
    assert normalize_zh("零七幺二") == list("零七一二")
    assert normalize_zh("0712") == list("零七一二")
    assert normalize_zh("2015年") == list("二零一五年")
    assert normalize_zh("300亿") == list("三百亿")
    assert normalize_zh("8.5折") == list("八点五折")
    assert normalize_zh("105") == list("一百零五")
    assert normalize_zh("110") == list("一百一十")
    assert normalize_zh("15") == list("十五")
    assert normalize_zh("1010") == list("一千零一十")
    assert normalize_zh("12万") == list("十二万")
    assert normalize_zh("涨幅80%") == list("涨幅百分之八十")
    assert normalize_zh("打开Call Me Maybe") == list("打开callmemaybe")


def test_recall_and_precision_use_clipped_occurrences() -> None:
    terms = ["anders", "zorn", "tulip"]
    counts = hotword_counts("anders zorn met anders", "anders zorn met tulip tulip", terms)
    # ref: anders x2, zorn x1; hyp: anders x1, zorn x1, tulip x2 (a hallucinated distractor)
    assert (counts.ref_occurrences, counts.hyp_occurrences, counts.hits) == (3, 4, 2)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.precision == pytest.approx(2 / 4)


def test_recall_precision_undefined_without_occurrences() -> None:
    counts = hotword_counts("nothing here", "nothing here", ["zorn"])
    assert counts.recall is None
    assert counts.precision is None


def test_nested_terms_count_once_longest_first() -> None:
    counts = count_terms(list("今久上海分公司和今久"), [tuple("今久"), tuple("今久上海分公司")])
    assert counts == {tuple("今久上海分公司"): 1, tuple("今久"): 1}


def test_a_term_written_inside_a_longer_one_that_was_said_was_said() -> None:
    terms = ["重庆", "重庆谢记老火锅", "成都"]
    counts = hotword_counts("重庆谢记老火锅", "重庆限制老火锅", terms, language="zh")
    # Recall: the long name was said and missed. Precision: 重庆 was written and was said.
    assert (counts.ref_occurrences, counts.hits, counts.hyp_occurrences, counts.said) == (1, 0, 1, 1)
    assert counts.recall == 0 and counts.precision == 1
    # A term said nowhere, nested or not, still lowers precision.
    assert hotword_counts("重庆谢记老火锅", "成都谢记老火锅", terms, language="zh").precision == 0


def test_chinese_recall_with_traditional_hypothesis() -> None:
    counts = hotword_counts("恒大地产已获授信", "恆大地產已獲授信", ["恒大", "万科"], language="zh")
    assert (counts.ref_occurrences, counts.hits, counts.hyp_occurrences) == (1, 1, 1)
