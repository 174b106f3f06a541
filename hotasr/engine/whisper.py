"""The default engine: Whisper on CTranslate2 through faster-whisper, CPU int8.

Biasing modes:
- "none": plain decoding, no prompt.
- "prompt": hotwords go into faster-whisper's `hotwords=` text prompt. This is the baseline other
  tools offer; Whisper's prompt holds at most ~223 tokens, so low-weight terms are dropped with a
  warning when a list is longer.
- "hotasr": hotasr's own biased decoding (`hotasr.biasing`). Until that package can be used, the
  engine falls back to "prompt" and says so in the transcript's warnings.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hotasr.audio import is_silent
from hotasr.chinese import HAN_LANGS, full_width, han_text, has_han, sentence_end
from hotasr.config import ModelRoute, Settings
from hotasr.engine.base import BIASING_MODES, SAMPLE_RATE, BiasingMode, DecodeCancelled, EngineError
from hotasr.engine.speech import MAX_SEGMENT_S, speech_segments
from hotasr.engine.weights import WeightsError, resolve_weights
from hotasr.hotwords import Hotword, hotwords_for_language
from hotasr.transcript import (
    LOOP_COMPRESSION_RATIO,
    SENTENCE_END,
    UNSPACED_LANGS,
    Sentence,
    Transcript,
    Word,
    dominant_language,
    join_pieces,
    latin_boundary,
    looks_like_a_loop,
)

log = logging.getLogger(__name__)

# Scripts the English-only model never learned to write (Cyrillic, Hebrew/Arabic, Thai/Lao, CJK, kana,
# Hangul): a term in them cannot come out of its decoder, biased or not.
_NON_LATIN = re.compile(
    "[\u0400-\u04ff\u0590-\u06ff\u0e00-\u0eff\u1100-\u11ff\u3040-\u30ff\u3100-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
_GRAPH_CACHE_SIZE = 8
_MAX_LISTED = 8


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """`ModelRoute.options` for the whisper engine."""

    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: Settings.engine_threads, else min(4, number of CPUs)
    num_workers: int = 1  # > 1 lets concurrent requests run the model in parallel
    beam_size: int = 5
    vad: bool | str = "auto"  # "auto": Silero VAD for audio longer than vad_min_seconds
    vad_min_seconds: float = 30.0
    simplified_chinese: bool = True  # Whisper often writes traditional characters for Mandarin

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> WhisperOptions:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            # Other components (biasing) may read their own options from the same route.
            log.info("whisper engine ignores route options %s", ", ".join(unknown))
        return cls(**{k: v for k, v in options.items() if k in known})


@dataclass(frozen=True, slots=True)
class _Job:
    """What one `transcribe` call asks of every decode it makes (one per sentence, or one)."""

    biasing: BiasingMode
    word_timestamps: bool
    draft: bool
    beam_size: int | None
    prefix: str | None
    context: str | None
    checkpoint: Callable[[], None] | None
    model: Any = None  # the faster-whisper model to decode with (None: the engine's)
    # Whether a fitted-window decode that is only unsure (low log-probability, no loop) is done
    # again on the 30 s window; loops always are.
    retry_unsure: bool = True


class WhisperEngine:
    def __init__(self, model: Any, *, name: str, options: WhisperOptions | None = None) -> None:
        self.model = model
        self.name = name
        self.options = options or WhisperOptions()
        self.multilingual: bool = bool(model.model.is_multilingual)
        self.languages: frozenset[str] | None = None if self.multilingual else frozenset({"en"})
        # Older multilingual checkpoints (base) lack newer language tokens such as <|yue|>.
        tokenizer = model.hf_tokenizer
        self._whisper_languages = frozenset(
            code for code in model.supported_languages if tokenizer.token_to_id(f"<|{code}|>") is not None
        )
        # Whisper's prompt window: half of the 448-token context, minus the start-of-prompt token.
        self.prompt_token_limit: int = model.max_length // 2 - 1
        # Compiled lists, keyed by their terms: a list edited is another key, an inline list repeated the same.
        self._graphs: OrderedDict[tuple[Hotword, ...], Any] = OrderedDict()
        self._graphs_lock = threading.Lock()

    @classmethod
    def from_route(cls, route: ModelRoute, settings: Settings) -> WhisperEngine:
        options = WhisperOptions.from_dict(route.options)
        try:
            model_dir = resolve_weights(route.weights, settings.model_cache_dir)
        except WeightsError as exc:
            raise EngineError(str(exc)) from exc
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise EngineError("the whisper engine needs faster-whisper: pip install faster-whisper") from exc
        # CTranslate2 would start 4 threads even on a 2-core box; more than the cores only thrashes.
        threads = options.cpu_threads or settings.engine_threads or min(4, os.cpu_count() or 1)
        options = replace(options, cpu_threads=threads)
        log.info("loading Whisper %s from %s (%d threads)", route.weights, model_dir, threads)
        model = WhisperModel(
            str(model_dir),
            device=options.device,
            compute_type=options.compute_type,
            cpu_threads=threads,
            num_workers=options.num_workers,
        )
        # hotasr.biasing reads the weights itself (faster-whisper does not keep the path).
        model.model_path = str(model_dir)
        name = route.weights if route.weights in ("whisper-base", "whisper-tiny.en") else Path(model_dir).name
        return cls(model, name=name, options=options)

    # -- public API -------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Build the biased decoder now (a few seconds, once per process) rather than in the
        first request that carries hotwords.  The server calls this at start."""
        try:
            from hotasr.biasing import biased_whisper, compile_hotwords

            biased_whisper(
                self.model,
                compile_hotwords([], self.model.hf_tokenizer, multilingual=self.multilingual),
                threads=self.options.cpu_threads,
            )
        except Exception as exc:  # the first biased request will report it properly
            log.warning("could not prepare hotword biasing for %s: %s", self.name, exc)

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,
        languages: Sequence[str] | None = None,
        one_sentence: bool = False,
        hotwords: Sequence[Hotword] = (),
        biasing: BiasingMode = "hotasr",
        word_timestamps: bool = True,
        draft: bool = False,
        beam_size: int | None = None,
        prefix: str | None = None,
        context: str | None = None,
        progress: Callable[[float], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Transcript:
        """`language` forces one language; `languages` are the candidates each sentence picks its own
        from (None: any the model knows). With several candidates a recording is decoded sentence by
        sentence (speech segments found by Silero VAD), each in the language it is spoken in, unless
        `one_sentence` (a real-time sentence, a draft) says the audio is one sentence already.

        `beam_size` overrides the route's beam for this decode (drafts are always greedy).

        `prefix`: text already known to open the audio (a real-time sentence's settled interims);
        the decoder reads it in one pass and generates only the rest. Honoured without hotwords and
        within one 30 s window (drafts included); otherwise ignored.

        `context`: text spoken just before the audio (the opening of a real-time sentence decoded
        in chunks), given to Whisper as its previous-text prompt so that it reads on from there.

        `cancelled`: polled before the encoder and before every step of hotasr's decoder (greedy,
        biased and prefixed decodes); once true the decode stops with DecodeCancelled.
        """
        if biasing not in BIASING_MODES:
            raise EngineError(f"biasing must be one of {', '.join(BIASING_MODES)}, got {biasing!r}")
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise EngineError(f"audio must be mono (a 1-D array), got shape {samples.shape}")
        warnings: list[str] = []
        duration_ms = round(len(samples) * 1000 / SAMPLE_RATE)
        candidates = self._candidates((language,) if language else languages, warnings)
        usable = self._usable_hotwords(hotwords, warnings) if biasing != "none" else []
        job = _Job(biasing, word_timestamps, draft, beam_size, prefix, context,
                   _checkpoint(cancelled))
        if is_silent(samples):  # Whisper "hears" words ("You") in digital silence
            forced = candidates[0] if candidates and len(candidates) == 1 else None
            return self._finish(Transcript([], forced, duration_ms, warnings), progress)
        if (candidates is None or len(candidates) > 1) and not (one_sentence or draft or prefix or context):
            sentences = self._decode_sentences(samples, candidates, usable, job, warnings, progress)
            return self._finish(Transcript(sentences, dominant_language(sentences), duration_ms, warnings), progress)
        sentences, detected = self._decode(samples, candidates, usable, job, warnings, progress)
        return self._finish(Transcript(sentences, detected, duration_ms, warnings), progress)

    def _decode_sentences(
        self, samples: np.ndarray, candidates: tuple[str, ...] | None, usable: Sequence[Hotword], job: _Job,
        warnings: list[str], progress: Callable[[float], None] | None,
    ) -> list[Sentence]:
        """A recording decoded a stretch of one language at a time, each stretch in its language.

        Silero VAD cuts the speech at pauses (`speech_segments`); each segment's language is detected
        among `candidates`, and neighbours of one language are decoded together (a pause inside a
        sentence cuts no sentence in two), up to `MAX_SEGMENT_S`. A stretch of one segment is decoded
        with the encoder pass its detection made. Its hotwords are the list's terms of its language.
        Speech that yields no words is reported with its time range, never dropped quietly.
        """
        # A stretch the VAD cut and whose language was detected is not decoded again on 30 s for
        # being unsure: on the bilingual set that cost a fifth of the time and changed no text.
        job = replace(job, model=_remembering_encodings(job.model or self.model), retry_unsure=False)
        sentences: list[Sentence] = []
        total = len(samples) or 1
        stretch: list[tuple[int, int]] = []
        stretch_language = ""

        def decode_stretch() -> None:
            start, end = stretch[0][0], stretch[-1][1]
            found = self._decode_in(samples[start:end], stretch_language, usable, job, warnings)
            if not any(s.text.strip() for s in found):
                self._warn(warnings, f"speech at {start / SAMPLE_RATE:.1f}-{end / SAMPLE_RATE:.1f} s gave no words")
            sentences.extend(s.shifted(round(start * 1000 / SAMPLE_RATE)) for s in found)
            if progress is not None:
                progress(end / total)

        segments = speech_segments(samples)
        if not segments:
            # Speech too quiet or noisy for the VAD is still decoded, as one piece in one language.
            return self._decode(samples, candidates, usable, job, warnings, progress)[0]
        for start, end in segments:
            language = self._detect(samples[start:end], candidates, job)
            joins = (stretch and language == stretch_language and start - stretch[-1][1] <= _JOIN_GAP
                     and end - stretch[0][0] <= MAX_SEGMENT_S * SAMPLE_RATE)
            if stretch and not joins:
                decode_stretch()
                stretch = []
            stretch.append((start, end))
            stretch_language = language
        if stretch:
            decode_stretch()
        return sentences

    def _decode_in(
        self, samples: np.ndarray, language: str, usable: Sequence[Hotword], job: _Job, warnings: list[str],
    ) -> list[Sentence]:
        """`samples` decoded in `language` with the list's terms of that language."""
        terms = hotwords_for_language(usable, language)
        found, _ = self._decode(samples, (language,), terms, job, warnings, None)
        return found

    def _detect(self, samples: np.ndarray, candidates: tuple[str, ...] | None, job: _Job) -> str:
        """The language of `samples` among `candidates`, detected on the encoder window fitted to them
        that their decode uses (`_remembering_encodings` keeps the pass for it)."""
        if candidates and len(candidates) == 1:
            return candidates[0]
        model = job.model or self.model
        runner = self._prepared(model, len(samples), None, job.checkpoint, fitted=True, candidates=candidates)
        language, _, _ = runner.detect_language(features=runner.feature_extractor(samples))
        return str(language)

    def _decode(
        self, samples: np.ndarray, candidates: tuple[str, ...] | None, usable: Sequence[Hotword], job: _Job,
        warnings: list[str], progress: Callable[[float], None] | None,
    ) -> tuple[list[Sentence], str | None]:
        """One decode of `samples` in one language: `candidates[0]` when it is the only one, else the
        one detected among them (on the first 30 s)."""
        duration_ms = round(len(samples) * 1000 / SAMPLE_RATE)
        language = candidates[0] if candidates and len(candidates) == 1 else None
        draft = job.draft
        kwargs: dict[str, Any] = {
            "language": language,
            # Drafts (real-time interims) are superseded within a second: greedy and unaligned is enough.
            "beam_size": 1 if draft else job.beam_size or self.options.beam_size,
            "word_timestamps": job.word_timestamps and not draft,
            "vad_filter": self._use_vad(duration_ms),
        }
        if job.context:
            kwargs["initial_prompt"] = job.context
        if draft:
            # A draft that loops is cut short and superseded by the next one, instead of retrying
            # at five temperatures.
            kwargs.update(self._single_pass(duration_ms))
        checkpoint = job.checkpoint
        model = job.model or self.model
        runner: Any = model
        mode = job.biasing if usable else "none"
        if mode == "hotasr":
            runner = self._biased_runner(usable, warnings, checkpoint, model)
            if runner is None:
                mode = "prompt"
                runner = model
        elif mode == "none" and kwargs["beam_size"] == 1:
            # Greedy (drafts, real-time finals) on hotasr's decoder with an empty hotword graph: its
            # steps cost a third less than CTranslate2's, and a decode made moot (an interim whose
            # sentence has ended) can be stopped between them.
            runner = self._biased_runner((), [], checkpoint, model) or model
        if mode == "prompt":
            kwargs["hotwords"] = self._prompt(usable, warnings)
        # Biased decodes take the fitted window too: a loop there (beam search running on into the
        # window's margin of silence) fails the retry test and is decoded again on 30 s.
        fitted = draft or mode in ("none", "hotasr")

        prefixed = None
        if job.prefix and mode == "none" and duration_ms <= _PREFIX_MAX_MS:
            prefixed = self._run_with_prefix(job.prefix, samples, kwargs, duration_ms, checkpoint, candidates)
        try:
            if prefixed is not None:
                return prefixed
            if fitted and not draft and fitted_frames(len(samples)) < _FULL_WINDOW:
                return self._run_fitted_first(runner, samples, kwargs, duration_ms, progress, checkpoint, candidates,
                                              retry_unsure=job.retry_unsure, sampled_retries=mode != "hotasr")
            prepared = self._prepared(runner, len(samples), language, checkpoint, fitted=fitted, candidates=candidates)
            sentences, detected, _ = self._run(prepared, samples, kwargs, duration_ms, progress)
            return sentences, detected
        except NotImplementedError as exc:
            if mode != "hotasr":
                raise
            self._warn(warnings, f"hotasr biasing is not available yet ({exc}); used the Whisper prompt instead")
            kwargs["hotwords"] = self._prompt(usable, warnings)
            prepared = self._prepared(model, len(samples), language, checkpoint, fitted=False,
                                      candidates=candidates)
            sentences, detected, _ = self._run(prepared, samples, kwargs, duration_ms, progress)
            return sentences, detected

    # -- language and hotwords ----------------------------------------------------------------

    def _candidates(self, languages: Sequence[str] | None, warnings: list[str]) -> tuple[str, ...] | None:
        """The languages a sentence may be decoded in, as Whisper tokens; None: any Whisper knows."""
        if not self.multilingual:
            others = [lang for lang in languages or () if lang and lang != "en"]
            if others and "en" not in (languages or ()):
                self._warn(
                    warnings,
                    f"language {others[0]!r} requested but the English-only model {self.name} transcribes English only",
                )
            return ("en",)
        kept: list[str] = []
        for language in languages or ():
            if not language:
                continue
            if language == "yue" and language not in self._whisper_languages:
                language = "zh"  # checkpoints without a Cantonese token write Cantonese as Chinese
            if language not in self._whisper_languages:
                self._warn(warnings, f"language {language!r} is not a Whisper language; detecting the language")
                continue
            if language not in kept:
                kept.append(language)
        return tuple(kept) or None

    def _usable_hotwords(self, hotwords: Sequence[Hotword], warnings: list[str]) -> list[Hotword]:
        if self.multilingual:
            return list(hotwords)
        usable: list[Hotword] = []
        rejected: list[Hotword] = []
        for hw in hotwords:
            (rejected if hw.lang not in (None, "en") or _NON_LATIN.search(hw.text) else usable).append(hw)
        if rejected:
            self._warn(
                warnings,
                f"{_count(rejected, 'hotword')} cannot be applied by the English-only model "
                f"{self.name}: {_list_terms(rejected)} (use a multilingual model such as whisper-base)",
            )
        return usable

    def _prompt(self, hotwords: Sequence[Hotword], warnings: list[str]) -> str:
        """Highest-weight terms first, as many as fit in Whisper's prompt window."""
        ordered = sorted(hotwords, key=lambda h: -h.weight)
        tokenizer = self.model.hf_tokenizer
        kept: list[str] = []
        for i, hw in enumerate(ordered):
            candidate = ", ".join([*kept, hw.text])
            # faster-whisper encodes " " + prompt; count exactly what it will send.
            if len(tokenizer.encode(" " + candidate, add_special_tokens=False).ids) > self.prompt_token_limit:
                dropped = ordered[i:]
                self._warn(
                    warnings,
                    f"Whisper's prompt holds about {self.prompt_token_limit} tokens: "
                    f"{_count(dropped, 'lower-weight hotword')} did not fit and were not applied: "
                    f"{_list_terms(dropped)}",
                )
                break
            kept.append(hw.text)
        return ", ".join(kept)

    def _biased_runner(
        self, hotwords: Sequence[Hotword], warnings: list[str],
        checkpoint: Callable[[], None] | None = None, model: Any = None,
    ) -> Any | None:
        """A biased stand-in for the WhisperModel, or None (with a warning) to fall back to the prompt."""
        try:
            from hotasr.biasing import biased_whisper, compile_hotwords
        except ImportError as exc:
            self._warn(warnings, f"hotasr biasing is not available ({exc}); used the Whisper prompt instead")
            return None
        terms = tuple(hotwords)
        try:
            graph = self._cached_graph(terms)
            if graph is None:
                graph = compile_hotwords(terms, self.model.hf_tokenizer, multilingual=self.multilingual)
                self._store_graph(terms, graph)
            runner = biased_whisper(model or self.model, graph, threads=self.options.cpu_threads,
                                    checkpoint=checkpoint)
        except NotImplementedError as exc:
            self._warn(warnings, f"hotasr biasing is not available yet ({exc}); used the Whisper prompt instead")
            return None
        for message in getattr(graph, "warnings", None) or []:
            self._warn(warnings, message)
        return runner

    def _cached_graph(self, terms: tuple[Hotword, ...]) -> Any | None:
        with self._graphs_lock:
            graph = self._graphs.get(terms)
            if graph is not None:
                self._graphs.move_to_end(terms)
            return graph

    def _store_graph(self, terms: tuple[Hotword, ...], graph: Any) -> None:
        with self._graphs_lock:
            self._graphs[terms] = graph
            self._graphs.move_to_end(terms)
            while len(self._graphs) > _GRAPH_CACHE_SIZE:
                self._graphs.popitem(last=False)

    # -- decoding -----------------------------------------------------------------------------

    def _use_vad(self, duration_ms: int) -> bool:
        vad = self.options.vad
        if vad == "auto":
            return duration_ms > self.options.vad_min_seconds * 1000
        return bool(vad)

    def _prepared(
        self, decoder: Any, samples: int, language: str | None, checkpoint: Callable[[], None] | None, *,
        fitted: bool, candidates: tuple[str, ...] | None = None,
    ) -> Any:
        """`decoder` (a faster-whisper model) with its encoder window fitted to the audio (else
        Whisper's 30 s), one encoder pass shared with language detection (among `candidates`), and
        the checkpoint."""
        runner = _fitted(decoder, samples) if fitted else decoder
        if language is None and self.multilingual:
            runner = _one_encoding_for_detection(runner, candidates)
        return runner if checkpoint is None else _checked(runner, checkpoint)

    def _run(
        self,
        runner: Any,
        samples: np.ndarray,
        kwargs: dict[str, Any],
        duration_ms: int,
        progress: Callable[[float], None] | None,
        retry_unsure: bool = True,
    ) -> tuple[list[Sentence], str | None, bool]:
        """(sentences, language, whether a segment fails faster-whisper's own retry test (only its
        loop test unless `retry_unsure`) or was cut at `max_new_tokens`)."""
        # Never translate: a sentence comes out in the language it is spoken in (of the candidates).
        segments, info = runner.transcribe(samples, task="transcribe", **kwargs)
        language = info.language
        simplify = self.options.simplified_chinese and language == "zh"
        token_limit = kwargs.get("max_new_tokens")
        sentences: list[Sentence] = []
        suspect = False
        done = 0.0
        for segment in segments:
            cut = token_limit is not None and len(segment.tokens) >= token_limit
            suspect = suspect or cut or _fails_retry_test(segment, retry_unsure)
            sentences.extend(_segment_sentences(segment, language, simplify))
            if progress is not None and duration_ms:
                fraction = min(1.0, segment.end * 1000 / duration_ms)
                if fraction > done:
                    done = fraction
                    progress(fraction)
        return sentences, language, suspect

    def _run_fitted_first(
        self,
        decoder: Any,
        samples: np.ndarray,
        kwargs: dict[str, Any],
        duration_ms: int,
        progress: Callable[[float], None] | None,
        checkpoint: Callable[[], None] | None,
        candidates: tuple[str, ...] | None = None,
        retry_unsure: bool = True,
        sampled_retries: bool = True,
    ) -> tuple[list[Sentence], str | None]:
        """One bounded pass on the fitted window; should it fail faster-whisper's retry test, the
        decode faster-whisper would do (temperature retries included) on Whisper's 30 s window.

        Without `sampled_retries` (biased decodes) the 30 s decode is at temperature 0 only. A biased
        decode fails the unsure test often, as the bonus picks text the model itself finds less
        likely; its sampled retries then fail it too, and faster-whisper keeps the beam's result
        anyway: the retries cost a Chinese decode with a list most of its time and changed no
        text (BENCHMARKS.md §1.4).

        On a fitted window a short sentence can loop at every temperature where the 30 s window
        reads it right: "replied he" (1.2 s of LibriSpeech) came out as "replied he" 110 times,
        greedy and at beam 5, and the retries sampled for 30 s.
        """
        fitted = self._prepared(decoder, len(samples), kwargs["language"], checkpoint, fitted=True,
                                candidates=candidates)
        sentences, language, suspect = self._run(
            fitted, samples, {**kwargs, **self._single_pass(duration_ms)}, duration_ms, None, retry_unsure
        )
        if not suspect:
            return sentences, language
        log.debug("fitted-window decode of %.1f s failed the retry test; decoding on the 30 s window",
                  duration_ms / 1000)
        # In the language the first pass detected among the candidates: detection is not redone.
        kwargs = {**kwargs, "language": kwargs["language"] or language}
        if not sampled_retries:
            kwargs["temperature"] = 0.0
        full = self._prepared(decoder, len(samples), kwargs["language"], checkpoint, fitted=False)
        sentences, language, _ = self._run(full, samples, kwargs, duration_ms, progress)
        return sentences, language

    def _single_pass(self, duration_ms: int) -> dict[str, Any]:
        """Decoding options for one pass at temperature 0, its length bounded by the audio's."""
        # Room is left for the longest prompt (half of Whisper's 448 positions).
        return {"temperature": 0.0,
                "max_new_tokens": min(_draft_token_limit(duration_ms), self.prompt_token_limit - 8)}

    def _run_with_prefix(
        self, prefix: str, samples: np.ndarray, kwargs: dict[str, Any], duration_ms: int,
        checkpoint: Callable[[], None] | None, candidates: tuple[str, ...] | None = None,
    ) -> tuple[list[Sentence], str | None] | None:
        """The decode with `prefix` read as already said, or None (decode without it) when the
        result looks like a loop or hotasr's decoder is not available."""
        # CTranslate2 feeds a forced prefix one step per token (no faster than generating it):
        # hotasr's own decoder, with an empty hotword graph, reads it in one pass. Should it be
        # unavailable, the decode is only slower: nothing for the caller to hear about.
        generator = self._biased_runner((), [], checkpoint)
        if generator is None:
            return None
        runner = self._prepared(generator, len(samples), kwargs["language"], checkpoint, fitted=True,
                                candidates=candidates)
        # The temperature fallback would sample afresh, without the prefix's guidance.
        bounded = {**kwargs, "prefix": prefix, **self._single_pass(duration_ms)}
        sentences, language, _ = self._run(runner, samples, bounded, duration_ms, None)
        if looks_like_a_loop(" ".join(s.text for s in sentences)):
            log.debug("decode with a prefix of %d words looped; decoding without it", len(prefix.split()))
            return None
        return sentences, language

    def _finish(self, transcript: Transcript, progress: Callable[[float], None] | None) -> Transcript:
        if progress is not None:
            progress(1.0)
        return transcript

    @staticmethod
    def _warn(warnings: list[str], message: str) -> None:
        if message in warnings:  # a recording decoded sentence by sentence says it once
            return
        log.warning(message)
        warnings.append(message)


# -- encoder window ------------------------------------------------------------------------------

_FRAMES_PER_SECOND = 100  # Whisper's log-mel hop: 10 ms
_FULL_WINDOW = 3000  # 30 s: what faster-whisper pads every segment to
_WINDOW_STEP = 200  # fitted windows come in 2 s steps (few distinct shapes) ...
# ... with at least 5 s of silence after the audio (1 s: hallucination loops). It also keeps the
# encoder output well clear of 80 positions, which CTranslate2 would take for mel features.
_WINDOW_MARGIN = 500
_DRAFT_TOKENS_PER_SECOND = 12  # well above speech (English ~4, Chinese ~8 with timestamps)
_PREFIX_MAX_MS = 28_000  # faster-whisper applies a prefix to the first 30 s window only
# Speech segments of one language this close are decoded together: the pause is inside a sentence
# or between two, and Whisper reads a sentence better with its neighbours than cut in pieces.
_JOIN_GAP = round(1.5 * SAMPLE_RATE)


def _draft_token_limit(duration_ms: int) -> int:
    return 16 + _DRAFT_TOKENS_PER_SECOND * math.ceil(duration_ms / 1000)


def fitted_frames(samples: int) -> int:
    """Encoder frames for `samples` of audio: the audio plus a margin, rounded up to a step."""
    frames = math.ceil(samples * _FRAMES_PER_SECOND / SAMPLE_RATE) + _WINDOW_MARGIN
    return min(_FULL_WINDOW, math.ceil(frames / _WINDOW_STEP) * _WINDOW_STEP)


def _fitted(runner: Any, samples: int) -> Any:
    """A copy of a faster-whisper model whose encoder sees a window fitted to the audio.

    Used for drafts (real-time interims) and for every decode without a list or with hotasr's
    biasing; those that fail faster-whisper's retry test on it are done again on 30 s
    (`_run_fitted_first`).
    The encoder's cost grows with its window (attention is quadratic) and so does every decoding
    step's cross-attention: a 6 s sentence in a 12 s window instead of 30 s decodes about twice as
    fast, and unbiased it is as accurate (LibriSpeech N=100: WER 9.75 vs 9.82). The positions kept
    are the first ones, so timestamps and alignment stay as they were. The margin of silence
    matters: with 1 s of it, decoding sometimes ran on past the end of speech into a hallucination
    loop. Biased beam search used to loop in that margin (bench/HISTORY.md §3) until it stopped
    waiting for hypotheses that repeat themselves or in windows without speech
    (`hotasr.biasing.search`); a loop left is one more retry-test failure.
    """
    frames = fitted_frames(samples)
    if frames >= _FULL_WINDOW:
        return runner
    fitted = copy.copy(runner)
    full_encode = runner.encode

    def encode(features: np.ndarray) -> Any:
        return full_encode(features[..., :frames])

    fitted.encode = encode  # faster-whisper calls self.encode(segment) with the 30 s segment
    return fitted


def _fails_retry_test(segment: Any, unsure_too: bool = True) -> bool:
    """faster-whisper's test for decoding again at a higher temperature (its default thresholds):
    a loop, or (`unsure_too`) low confidence where the model does not think it hears silence."""
    if segment.compression_ratio > LOOP_COMPRESSION_RATIO:
        return True
    return unsure_too and segment.avg_logprob < -1.0 and segment.no_speech_prob <= 0.6


def _checkpoint(cancelled: Callable[[], bool] | None) -> Callable[[], None] | None:
    if cancelled is None:
        return None

    def checkpoint() -> None:
        if cancelled():
            raise DecodeCancelled("decode cancelled by its caller")

    return checkpoint


def _checked(runner: Any, checkpoint: Callable[[], None]) -> Any:
    """A copy of a faster-whisper model that calls `checkpoint` before each encoder pass: the
    encoder (a third of a draft) runs in CTranslate2 and cannot be stopped once begun."""
    checked = copy.copy(runner)
    encode = runner.encode

    def checked_encode(features: np.ndarray) -> Any:
        checkpoint()
        return encode(features)

    checked.encode = checked_encode
    return checked


def _remembering_encodings(model: Any, keep: int = 3) -> Any:
    """A copy of a faster-whisper model that remembers its last `keep` encoder passes and reuses one
    for identical input: a speech segment's language detection and its decode share one pass, though
    they run through different wrappers (detection among candidates, then a forced language)."""
    remembering = copy.copy(model)
    own_encode = model.encode
    last: list[tuple[np.ndarray, Any]] = []

    def encode(features: np.ndarray) -> Any:
        for seen, output in last:
            if seen.shape == features.shape and np.array_equal(seen, features):
                return output
        output = own_encode(features)
        last.append((features, output))
        del last[:-keep]
        return output

    remembering.encode = encode
    return remembering


def _one_encoding_for_detection(runner: Any, candidates: tuple[str, ...] | None = None) -> Any:
    """A copy of a faster-whisper model that encodes the first window once, not twice, when it
    detects the language, and detects it among `candidates` only (None: any).

    Restricting detection is what keeps a sentence in its own language: Whisper asked for a
    language the speech is not in translates it ("零零后会成为购房主力" came out as English), and
    left free it may pick a language the model served does not write.

    faster-whisper encodes the first 30 s to detect the language, then encodes that window again
    to decode it: for a short file the second pass was a quarter of the whole decode. Detection
    here looks at exactly the window the decode will encode (faster-whisper hands it one frame
    more: the last, partial one, which the decode leaves out), and an encoding is reused only for
    identical input, so transcripts are the same as with two passes.
    """
    shared = copy.copy(runner)
    own_encode = runner.encode
    detect = type(runner).detect_language
    last: list[tuple[np.ndarray, Any]] = []

    def encode(features: np.ndarray) -> Any:
        if last and np.array_equal(last[0][0], features):
            return last[0][1]
        output = own_encode(features)
        last[:] = [(features, output)]
        return output

    def detect_language(*args: Any, **kwargs: Any) -> Any:
        features = kwargs.get("features")
        if features is not None and features.shape[-1] > 1:
            kwargs["features"] = features[..., :-1]
        language, probability, probabilities = detect(shared, *args, **kwargs)
        allowed = [(lang, p) for lang, p in probabilities if candidates is None or lang in candidates]
        if allowed:
            language, probability = max(allowed, key=lambda item: item[1])
        return language, probability, allowed or probabilities

    shared.encode = encode
    shared.detect_language = detect_language
    return shared


# -- Whisper segments -> sentences and words ---------------------------------------------------


def _segment_sentences(segment: Any, language: str | None, simplify: bool) -> list[Sentence]:
    """A Whisper segment as sentences (cut after sentence-ending marks) of words, in `language`.

    In Chinese the marks are full-width and every sentence ends in one (`hotasr.chinese`); Latin
    words inside unspaced text keep their spaces, and a Latin word Whisper split into tokens
    ("i" + "Phone") is one word. Each sentence's text is its words and their marks, joined.
    """
    convert = _to_simplified if simplify else _identity
    # Chinese marks for Chinese text: English that Whisper wrote though told "zh" keeps its own.
    han = language in HAN_LANGS and has_han(segment.text)
    words = segment.words or []
    if not words:
        text = convert(segment.text.strip())
        if not text:
            return []
        return [Sentence(_ms(segment.start), _ms(segment.end), han_text(text) if han else text, language=language)]

    sentences: list[Sentence] = []
    current: list[Word] = []
    leads: list[str] = []  # punctuation before each word of `current` ("“Hello"): text only
    lead = ""
    for raw in words:
        opening, text, punct = _split_punctuation(convert(raw.word.strip()))
        if han:
            punct = full_width(punct)
        if not text:
            # A bare punctuation token belongs to the word before it (or opens the next one).
            if current:
                current[-1].punctuation += punct
            else:
                lead += punct
        elif _continues_word(current, raw.word, opening + text, language):
            last = current[-1]
            last.text += text
            last.end_ms = _ms(raw.end)
            last.punctuation = punct
        else:
            current.append(Word(_ms(raw.start), _ms(raw.end), text, punct))
            leads.append(lead + opening)
            lead = ""
        if current and current[-1].punctuation and current[-1].punctuation[-1] in SENTENCE_END:
            sentences.append(_sentence(current, leads, language))
            current, leads = [], []
    if current:
        if han:
            current[-1].punctuation += sentence_end(current[-1].text + current[-1].punctuation)
        sentences.append(_sentence(current, leads, language))
    return sentences


def _continues_word(current: list[Word], raw: str, text: str, language: str | None) -> bool:
    """Whether a token of unspaced text is the rest of the Latin word before it: no space before it,
    Latin on both sides of the join, nothing (no mark) between."""
    if language not in UNSPACED_LANGS or not current or raw[:1].isspace() or current[-1].punctuation:
        return False
    return latin_boundary(current[-1].text[-1], text[0])


def _sentence(words: list[Word], leads: list[str], language: str | None) -> Sentence:
    pieces = [lead + w.text + w.punctuation for lead, w in zip(leads, words, strict=True)]
    return Sentence(words[0].begin_ms, words[-1].end_ms, join_pieces(pieces, language), words, language=language)


def _split_punctuation(token: str) -> tuple[str, str, str]:
    """("“", "Hello", ",”") for "“Hello,”"; apostrophes and hyphens inside words stay put."""
    start, end = 0, len(token)
    while start < end and _is_punct(token[start]):
        start += 1
    while end > start and _is_punct(token[end - 1]):
        end -= 1
    if start == end:  # only punctuation
        return "", "", token
    return token[:start], token[start:end], token[end:]


def _is_punct(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _to_simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


def _identity(text: str) -> str:
    return text


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _list_terms(hotwords: Iterable[Hotword]) -> str:
    items = list(hotwords)
    shown = [f"'{h.text}'" + (f" ({h.lang})" if h.lang else "") for h in items[:_MAX_LISTED]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")
