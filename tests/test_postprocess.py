"""The text options shared by real-time and file tasks."""

from __future__ import annotations

from hotasr.postprocess import apply_text_options, apply_to_transcript
from hotasr.transcript import Sentence, Transcript, Word


def test_fillers_only_sentence_disappears_and_chinese_joins_without_spaces() -> None:
    transcript = Transcript([
        Sentence(0, 500, "嗯。", [Word(0, 500, "嗯", "。")]),
        Sentence(600, 1500, "呃达摩院。", [Word(600, 800, "呃"), Word(800, 1500, "达摩院", "。")]),
    ], "zh", 2000)
    cleaned = apply_to_transcript(transcript, disfluency_removal=True)
    assert [(s.begin_ms, s.text) for s in cleaned.sentences] == [(800, "达摩院。")]


def test_punctuation_off_keeps_words_and_apostrophes() -> None:
    sentence = Sentence(0, 900, "Well, it's done.", [Word(0, 300, "Well", ","), Word(300, 600, "it's"),
                                                    Word(600, 900, "done", ".")])
    stripped = apply_text_options(sentence, "en", punctuation=False)
    assert stripped is not None and stripped.text == "Well it's done"
    assert [w.punctuation for w in stripped.words] == ["", "", ""]
