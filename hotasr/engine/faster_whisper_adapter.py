"""hotasr's one seam over faster-whisper: a decode pass that runs faster-whisper's segment loop with
hotasr's encoder window, language choice and decoder.

faster-whisper does a lot that hotasr wants as it is: the log-mel features, the VAD filter, the loop
over 30 s windows with the previous text as prompt, timestamps, the temperature fallback's retry test
and word alignment. Where hotasr decodes differently it overrides three of `WhisperModel`'s methods
in one subclass, `DecodePass`, made per decode from the loaded model (sharing its weights):

- `encode`: the encoder sees a window fitted to the audio (`PassPlan.window`) instead of 30 s, an
  identical input is encoded once per request (language detection and the decode share a pass), and
  the caller's cancel token is checked first; it notes how much audio the window holds;
- `detect_language`: the language is chosen among the request's candidates only (a sentence asked
  for in a language it is not spoken in comes out translated);
- `generate_with_fallback`: with `PassPlan.search` set, hotasr's own decoder runs: `BiasedSearch
  .decode` (hotword bonus, steps that can be stopped) at each temperature, here, in this module;
  otherwise CTranslate2's, as stock. A bounded pass generates in each window no more than the
  window's audio could say, and a generation cut there counts as a loop.

faster-whisper internals this relies on (checked by tests/test_faster_whisper_adapter.py, which
fails when one of them moves; the dependency is pinned below the next minor release):
- `WhisperModel.transcribe` calls `self.detect_language(features=...)` when no language is given,
  then `self.generate_segments`, which calls `self.encode(segment)` for every 30 s window (padded
  to 3000 frames) and `self.generate_with_fallback(encoder_output, prompt, tokenizer, options)`,
  whose result is `(result, avg_logprob, temperature, compression_ratio)` with `result` read for
  `sequences_ids`, `scores` and `no_speech_prob`;
- `WhisperModel.detect_language` encodes through `self.encode` and returns
  `(language, probability, [(language, probability), ...])`;
- `WhisperModel` attributes: `model` (the CTranslate2 Whisper), `hf_tokenizer`, `feature_extractor`,
  `max_length`, `time_precision`; the instance state is its `__dict__` (shared by each pass);
- `TranscriptionOptions` fields: `temperatures`, `beam_size`, `best_of`, `patience`,
  `length_penalty`, `repetition_penalty`, `no_repeat_ngram_size`, `max_new_tokens`,
  `suppress_blank`, `suppress_tokens`, `max_initial_timestamp`, `compression_ratio_threshold`,
  `log_prob_threshold`, `no_speech_threshold`;
- `faster_whisper.transcribe.get_compression_ratio`, `Tokenizer.decode` and `Tokenizer.sot_sequence`
  (word alignment's prefix: what is generated must fit after it, `DecodePass._alignable`);
- `generate_segments` pads each window with `pad_or_trim`, whose padding is exact zeros: the frames
  before it are the window's audio (`content_frames`, which bounds a bounded pass's later windows).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import TranscriptionOptions, get_compression_ratio

from hotasr.biasing import BiasedSearch, GenerationResult, HotwordGraph, SearchOptions
from hotasr.engine.batching import GenerationBatcher
from hotasr.engine.request import CancelToken

# faster-whisper's fallback step: (result, avg_logprob, temperature, compression_ratio)
Attempt = tuple[Any, float, float, float]

FRAMES_PER_SECOND = 100  # Whisper's log-mel hop: 10 ms
_TOKENS_PER_SECOND = 12  # well above speech (English ~4, Chinese ~8 with timestamps)


def token_bound(seconds: float) -> int:
    """The most tokens a bounded pass generates for `seconds` of audio: a decode that needs more is
    going round a loop."""
    return 16 + _TOKENS_PER_SECOND * math.ceil(seconds)


def content_frames(features: np.ndarray) -> int:
    """How many log-mel frames of `features` hold audio: faster-whisper pads a window's last frames
    with exact zeros, which no audio's normalised log-mel has."""
    columns = np.any(np.asarray(features) != 0, axis=-2).reshape(-1, features.shape[-1]).any(axis=0)
    held = np.flatnonzero(columns)
    return int(held[-1]) + 1 if held.size else 0


class EncoderMemo:
    """The last few encoder passes of one request, reused for identical input: a speech stretch's
    language detection and its decode encode the same window."""

    def __init__(self, keep: int = 3) -> None:
        self._keep = keep
        self._seen: list[tuple[np.ndarray, Any]] = []
        self._lock = threading.Lock()  # decodes side by side share one memo

    def encoding(self, features: np.ndarray, encode: Any) -> Any:
        with self._lock:
            seen = list(self._seen)
        for earlier, output in seen:
            if earlier.shape == features.shape and np.array_equal(earlier, features):
                return output
        output = encode(features)
        with self._lock:
            self._seen.append((features, output))
            del self._seen[: -self._keep]
        return output


@dataclass(frozen=True, slots=True)
class PassPlan:
    """How one pass reads its audio: the encoder window, the candidate languages, the decoder."""

    window: int | None = None  # encoder frames; None: Whisper's 30 s
    candidates: tuple[str, ...] | None = None  # detection picks among these (None: any)
    # Detection's prior: once languages were heard, the others' probabilities count `unheard_weight`.
    heard: tuple[str, ...] = ()
    unheard_weight: float = 1.0
    search: BiasedSearch | None = None  # hotasr's decoder; None: CTranslate2's
    cancel: CancelToken | None = None
    memo: EncoderMemo = field(default_factory=EncoderMemo)
    # Decodes side by side generate through it (`hotasr.engine.batching`); None: the model itself.
    batcher: GenerationBatcher | None = None


class DecodePass(WhisperModel):  # type: ignore[misc]  # faster-whisper ships no annotations
    """One decode's view of a loaded faster-whisper model (weights shared, never reloaded)."""

    def __init__(self, model: WhisperModel, plan: PassPlan) -> None:  # not WhisperModel's: no loading
        self.__dict__.update(vars(model))
        if plan.batcher is not None:
            self.model = plan.batcher
        self.plan = plan
        self._window_frames: int | None = None  # audio frames of the window last encoded

    def encode(self, features: np.ndarray) -> Any:
        """The encoder on the plan's window (the first positions: timestamps stay as they were),
        once per identical input, after the cancel check (a CTranslate2 pass cannot be stopped)."""
        if self.plan.cancel is not None:
            self.plan.cancel.check()
        if self.plan.window is not None:
            features = features[..., : self.plan.window]
        self._window_frames = content_frames(features)  # read by the generation that follows
        return self.plan.memo.encoding(features, super().encode)

    def detect_language(self, *args: Any, **kwargs: Any) -> tuple[str, float, list[tuple[str, float]]]:
        """The most likely language among the plan's candidates (weighed by the plan's prior).

        faster-whisper hands detection one frame more than the decode encodes (the last, partial
        one): it is left out so that detection's encoder pass is the decode's."""
        features = kwargs.get("features")
        if features is not None and features.shape[-1] > 1:
            kwargs["features"] = features[..., :-1]
        language, probability, probabilities = super().detect_language(*args, **kwargs)
        candidates = self.plan.candidates
        allowed = [(lang, p) for lang, p in probabilities if candidates is None or lang in candidates]
        if allowed:
            language, probability = max(allowed, key=self._weighed)
        return language, probability, allowed or probabilities

    def _weighed(self, item: tuple[str, float]) -> float:
        language, probability = item
        heard = self.plan.heard
        return probability if not heard or language in heard else probability * self.plan.unheard_weight

    def generate_with_fallback(
        self, encoder_output: Any, prompt: list[int], tokenizer: Tokenizer, options: TranscriptionOptions,
    ) -> Attempt:
        options = self._alignable(prompt, tokenizer, self._bounded_by_window(options))
        search = self.plan.search
        if search is None or options.repetition_penalty != 1 or options.no_repeat_ngram_size != 0:
            attempt = super().generate_with_fallback(encoder_output, prompt, tokenizer, options)
        else:
            attempt = self._search_with_fallback(search, np.asarray(encoder_output, dtype=np.float32)[0], prompt,
                                                 tokenizer, options)
        return _cut_short_is_a_loop(attempt, options)

    def _bounded_by_window(self, options: TranscriptionOptions) -> TranscriptionOptions:
        """A bounded pass (`max_new_tokens` set) generates in each window no more than the audio the
        window holds could say (`token_bound`). faster-whisper's later windows of a pass hold only
        what is left after the first one's last timestamp, mostly silence, where a decode that goes
        on is looping (a biased one, on a 1.3 s tail of LibriSpeech 2414-128291-0002, for the 232
        tokens that 18 s of audio allows)."""
        if options.max_new_tokens is None or self._window_frames is None:
            return options
        bound = token_bound(self._window_frames / FRAMES_PER_SECOND)
        return replace(options, max_new_tokens=bound) if bound < options.max_new_tokens else options

    def _alignable(self, prompt: list[int], tokenizer: Tokenizer, options: TranscriptionOptions,
                   ) -> TranscriptionOptions:
        """`options` bounded so that word alignment can take what is generated: it reads the text
        after the start-of-transcript sequence, a no-timestamps token and before end-of-text, in
        Whisper's 448 positions. A decode that loops to the end of a short prompt's room (a biased
        one on AISHELL W0107 did) would otherwise fail in alignment with a RuntimeError."""
        room = self.max_length - len(tokenizer.sot_sequence) - 2
        if not options.word_timestamps or len(prompt) + room >= self.max_length:
            return options
        if options.max_new_tokens is not None and options.max_new_tokens <= room:
            return options
        return replace(options, max_new_tokens=room)

    def _search_with_fallback(
        self, search: BiasedSearch, encoder_output: np.ndarray, prompt: list[int], tokenizer: Tokenizer,
        options: TranscriptionOptions,
    ) -> Attempt:
        """faster-whisper's temperature fallback, each attempt by hotasr's decoder: the first that
        passes the retry test (not a loop, confident or silent) is kept, else the most likely of
        those that do not loop (of all, if every one loops)."""
        search_options = self._search_options(prompt, options)
        attempts: list[Attempt] = []
        for temperature in options.temperatures:
            result = search.decode(encoder_output, prompt, search_options, temperature=temperature,
                                   best_of=options.best_of)
            attempt = self._attempt(result, temperature, tokenizer, options)
            attempts.append(attempt)
            if not _needs_fallback(attempt, options):
                return attempt
        not_looping = [a for a in attempts if not _loops(a, options)]
        best = max(not_looping or attempts, key=lambda a: a[1])
        return best[0], best[1], attempts[-1][2], best[3]  # the last temperature, as faster-whisper

    def _search_options(self, prompt: list[int], options: TranscriptionOptions) -> SearchOptions:
        max_length = self.max_length if options.max_new_tokens is None else len(prompt) + options.max_new_tokens
        if max_length > self.max_length:
            raise ValueError(f"a prompt of {len(prompt)} tokens and max_new_tokens {options.max_new_tokens} "
                             f"exceed Whisper's {self.max_length} positions")
        return SearchOptions(
            beam_size=options.beam_size,
            patience=options.patience,
            length_penalty=options.length_penalty,
            max_length=max_length,
            suppress_blank=options.suppress_blank,
            suppress_tokens=tuple(int(t) for t in options.suppress_tokens or () if int(t) >= 0),
            max_initial_timestamp_index=round(options.max_initial_timestamp / self.time_precision),
        )

    @staticmethod
    def _attempt(result: GenerationResult, temperature: float, tokenizer: Tokenizer,
                 options: TranscriptionOptions) -> Attempt:
        tokens = result.sequences_ids[0]
        # The average log-probability per token, recovered from the length-normalised score.
        avg_logprob = result.scores[0] * (len(tokens) ** options.length_penalty) / (len(tokens) + 1)
        compression_ratio = get_compression_ratio(tokenizer.decode(tokens).strip())
        if result.looped:  # stopped in a loop before its text grew repetitive enough for the ratio to tell
            compression_ratio = _as_a_loop(compression_ratio, options)
        return result, avg_logprob, temperature, compression_ratio


def _cut_short_is_a_loop(attempt: Attempt, options: TranscriptionOptions) -> Attempt:
    """An attempt that used every token its bound allowed counts as a loop for the retry test (its
    text may be too short yet for the compression ratio to tell)."""
    result, avg_logprob, temperature, ratio = attempt
    if options.max_new_tokens is None or len(result.sequences_ids[0]) < options.max_new_tokens:
        return attempt
    return result, avg_logprob, temperature, _as_a_loop(ratio, options)


def _as_a_loop(compression_ratio: float, options: TranscriptionOptions) -> float:
    """`compression_ratio` raised over the retry test's threshold: the attempt counts as a loop."""
    threshold = options.compression_ratio_threshold
    return compression_ratio if threshold is None else max(compression_ratio, threshold + 1.0)


def _loops(attempt: Attempt, options: TranscriptionOptions) -> bool:
    threshold = options.compression_ratio_threshold
    return threshold is not None and attempt[3] > threshold


def _needs_fallback(attempt: Attempt, options: TranscriptionOptions) -> bool:
    """faster-whisper's retry test: a loop, or low confidence where the model does not hear silence."""
    result, avg_logprob = attempt[0], attempt[1]
    unsure = options.log_prob_threshold is not None and avg_logprob < options.log_prob_threshold
    silent = (unsure and options.no_speech_threshold is not None
              and result.no_speech_prob > options.no_speech_threshold)
    return (_loops(attempt, options) or unsure) and not silent


def biased_pass(model: WhisperModel, graph: HotwordGraph | None, *, model_dir: str | None = None,
                threads: int = 0) -> DecodePass:
    """A pass over a loaded `WhisperModel` that decodes with hotasr's decoder and `graph`, on
    Whisper's 30 s window (for scripts and tests: `biased_pass(model, graph).transcribe(audio)`).
    `model_dir`: where `model` was loaded from (default: its `model_path`, which hotasr sets)."""
    directory = model_dir or model.model_path
    int8 = str(model.model.compute_type).startswith("int8")
    search = BiasedSearch.for_model(directory, model.hf_tokenizer, graph, int8=int8, threads=threads)
    return DecodePass(model, PassPlan(search=search))
