"""The seam over faster-whisper (`hotasr.engine.faster_whisper_adapter`): every internal its
docstring lists is checked here, so that a faster-whisper release that moves one fails this file
instead of changing transcripts quietly; and a pass is shown to run hotasr's own search."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np
import pytest
from faster_whisper import WhisperModel
from faster_whisper import transcribe as fw
from faster_whisper.tokenizer import Tokenizer

from hotasr.biasing import BiasedSearch
from hotasr.config import Settings
from hotasr.engine.faster_whisper_adapter import DecodePass, EncoderMemo, PassPlan
from tests.engine_fixtures import JFK_PHRASE, jfk_samples, tiny_settings
from tests.readings import heard

__all__ = ["jfk_samples", "tiny_settings"]  # fixtures, imported for pytest


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_methods_a_pass_overrides_keep_their_signatures() -> None:
    assert parameters(WhisperModel.encode) == ["self", "features"]
    assert parameters(WhisperModel.generate_with_fallback) == ["self", "encoder_output", "prompt", "tokenizer",
                                                               "options"]
    assert "features" in parameters(WhisperModel.detect_language)


def test_faster_whisper_still_calls_them_from_its_segment_loop() -> None:
    transcribe = inspect.getsource(WhisperModel.transcribe)
    assert "self.detect_language(" in transcribe and "features=" in transcribe
    assert "self.generate_segments(" in transcribe
    segments = inspect.getsource(WhisperModel.generate_segments)
    assert "self.encode(segment)" in segments
    assert "self.generate_with_fallback(encoder_output, prompt, tokenizer, options)" in segments
    # The fallback result is unpacked as (result, avg_logprob, temperature, compression_ratio), the
    # result read for its tokens and no-speech probability.
    assert "avg_logprob," in segments and "temperature," in segments and "compression_ratio," in segments
    assert "result.no_speech_prob" in segments and "result.sequences_ids[0]" in segments


def test_the_options_and_helpers_the_fallback_reads_are_there() -> None:
    fields = {f.name for f in dataclasses.fields(fw.TranscriptionOptions)}
    read = {"temperatures", "beam_size", "best_of", "patience", "length_penalty", "repetition_penalty",
            "no_repeat_ngram_size", "max_new_tokens", "suppress_blank", "suppress_tokens", "max_initial_timestamp",
            "compression_ratio_threshold", "log_prob_threshold", "no_speech_threshold", "word_timestamps"}
    assert read <= fields, read - fields
    assert callable(fw.get_compression_ratio) and callable(Tokenizer.decode)
    assert "sot_sequence" in dir(Tokenizer)


def test_what_a_decode_generates_fits_word_alignment() -> None:
    """Alignment reads start-of-transcript, no-timestamps, the text and end-of-text in 448 positions:
    a decode after a short prompt may generate no more than that leaves (a biased decode that
    looped to the end of its room failed there with a RuntimeError), a decode after a long prompt
    or without word timestamps keeps its bound."""
    from types import SimpleNamespace

    model = SimpleNamespace(max_length=448)
    tokenizer: Any = SimpleNamespace(sot_sequence=(50258, 50260, 50359))
    options = fw.TranscriptionOptions(**{f.name: None for f in dataclasses.fields(fw.TranscriptionOptions)})

    def bound(prompt_length: int, **changes: Any) -> int | None:
        bounded = DecodePass(model, PassPlan())._alignable(list(range(prompt_length)), tokenizer,
                                                           dataclasses.replace(options, **changes))
        return bounded.max_new_tokens

    assert bound(4, word_timestamps=True) == 448 - 3 - 2
    assert bound(4, word_timestamps=True, max_new_tokens=90) == 90
    assert bound(4, word_timestamps=True, max_new_tokens=446) == 443
    assert bound(4, word_timestamps=False) is None
    assert bound(223, word_timestamps=True) is None  # its room (225) is alignable already


def test_a_window_holds_the_frames_before_faster_whispers_zero_padding() -> None:
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    from hotasr.engine.faster_whisper_adapter import content_frames

    assert "segment = pad_or_trim(segment)" in inspect.getsource(WhisperModel.generate_segments)
    # 1.3 s of audio, digital silence included (its log-mel is not zero), then the padding.
    audio = np.concatenate([np.zeros(8000, np.float32), 0.1 * np.sin(np.arange(12800, dtype=np.float32))])
    features = FeatureExtractor()(audio)
    assert content_frames(pad_or_trim(features)) == features.shape[-1] > 100
    assert content_frames(np.zeros((80, 3000), np.float32)) == 0


def test_a_bounded_pass_generates_in_a_window_what_its_audio_could_say() -> None:
    """A later window of a bounded pass holding 1.3 s of audio may generate the tokens of 2 s of
    speech, not those of the whole decode; a generation that uses them all counts as a loop."""
    from types import SimpleNamespace

    from hotasr.engine.faster_whisper_adapter import _cut_short_is_a_loop, token_bound

    options = fw.TranscriptionOptions(**{f.name: None for f in dataclasses.fields(fw.TranscriptionOptions)})
    bounded = dataclasses.replace(options, max_new_tokens=232, compression_ratio_threshold=2.4)
    window = DecodePass(SimpleNamespace(max_length=448), PassPlan())
    window._window_frames = 130
    assert window._bounded_by_window(bounded).max_new_tokens == token_bound(2) == 40
    assert window._bounded_by_window(options).max_new_tokens is None  # an unbounded pass stays so
    window._window_frames = 3000  # a whole window: the decode's own bound is the tighter
    assert window._bounded_by_window(bounded).max_new_tokens == 232
    cut = dataclasses.replace(bounded, max_new_tokens=40)
    result = SimpleNamespace(sequences_ids=[list(range(40))])
    assert _cut_short_is_a_loop((result, -0.2, 0.0, 1.3), cut)[3] > 2.4
    assert _cut_short_is_a_loop((result, -0.2, 0.0, 1.3), bounded)[3] == 1.3


@pytest.fixture(scope="module")
def tiny_model(tiny_settings: Settings) -> Any:
    from hotasr.config import ModelRoute
    from hotasr.engine import load_engine

    return load_engine(ModelRoute(weights="whisper-tiny.en"), tiny_settings).model  # type: ignore[attr-defined]


class RecordingPass(DecodePass):
    """A pass that notes which of its overridden methods faster-whisper called."""

    def __init__(self, model: Any, plan: PassPlan) -> None:
        super().__init__(model, plan)
        self.calls: list[str] = []

    def encode(self, features: np.ndarray) -> Any:
        self.calls.append("encode")
        return super().encode(features)

    def generate_with_fallback(self, *args: Any) -> Any:
        self.calls.append("generate_with_fallback")
        return super().generate_with_fallback(*args)


@pytest.mark.model
def test_a_pass_shares_the_model_state_and_runs_hotasrs_search(tiny_model: Any, jfk_samples: np.ndarray) -> None:
    for name in ("model", "hf_tokenizer", "feature_extractor", "max_length", "time_precision", "model_path"):
        assert name in vars(tiny_model), name
    steps: list[int] = []
    search = BiasedSearch.for_model(tiny_model.model_path, tiny_model.hf_tokenizer, None, int8=True,
                                    checkpoint=lambda: steps.append(1))
    memo = EncoderMemo()
    ours = RecordingPass(tiny_model, PassPlan(window=1600, search=search, memo=memo))
    segments, _ = ours.transcribe(jfk_samples, language="en", beam_size=5)
    text = " ".join(s.text for s in segments)
    assert heard(text, JFK_PHRASE)
    assert ours.calls[:2] == ["encode", "generate_with_fallback"] and len(steps) > 20  # hotasr's decoder ran
    stock = RecordingPass(tiny_model, PassPlan(window=1600))
    stock_text = " ".join(s.text for s in stock.transcribe(jfk_samples, language="en", beam_size=5)[0])
    assert heard(stock_text, JFK_PHRASE) and "generate_with_fallback" in stock.calls
