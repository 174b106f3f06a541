"""The default engine: Whisper on CTranslate2 through faster-whisper, CPU int8.

Biasing modes:
- "none": plain decoding, no prompt.
- "prompt": hotwords go into faster-whisper's `hotwords=` text prompt. This is the baseline other
  tools offer; Whisper's prompt holds at most ~223 tokens, so low-weight terms are dropped with a
  warning when a list is longer.
- "hotasr": hotasr's own biased decoding (`hotasr.biasing`).

`transcribe(request)` picks how to read the audio (sentence by sentence in several languages, one
pass with a prefix, a fitted encoder window with a 30 s redo, ...) and runs each pass through the
faster-whisper adapter (`faster_whisper_adapter.DecodePass`); `segments.py` turns Whisper's segments
into sentences and words.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hotasr.audio import is_silent
from hotasr.biasing import BiasedSearch, HotwordGraph, homophones
from hotasr.biasing.compiled import CompiledHotwords, HotwordCache
from hotasr.config import ModelRoute, Settings
from hotasr.engine.base import BIASING_MODES, SAMPLE_RATE, EngineError
from hotasr.engine.batching import GenerationBatcher
from hotasr.engine.faster_whisper_adapter import FRAMES_PER_SECOND, DecodePass, EncoderMemo, PassPlan, token_bound
from hotasr.engine.request import CancelToken, DecodeRequest
from hotasr.engine.segments import add_sentences, segment_sentences
from hotasr.engine.speech import MAX_SEGMENT_S, PAD_MS, speech_segments
from hotasr.engine.weights import WeightsError, resolve_weights
from hotasr.hotwords import Hotword
from hotasr.transcript import LOOP_COMPRESSION_RATIO, Sentence, Transcript, dominant_language, looks_like_a_loop

log = logging.getLogger(__name__)

# Scripts the English-only model never learned to write (Cyrillic, Hebrew/Arabic, Thai/Lao, CJK, kana,
# Hangul): a term in them cannot come out of its decoder, biased or not.
_NON_LATIN = re.compile(
    "[\u0400-\u04ff\u0590-\u06ff\u0e00-\u0eff\u1100-\u11ff\u3040-\u30ff\u3100-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
_MAX_LISTED = 8
_MIN_REPEATED = 4  # letters or characters: a sentence said twice over that is shorter may be meant
# A sentence that says the start of the one before it again, cut short, may be a speaker's restart
# ("We should go now. We should"): only one of at least this many letters or characters counts.
_MIN_RESTATED = 12
# A sentence is taken to be in a language neither heard before in its stream nor expected
# (DecodeRequest.heard) only if Whisper finds it this many times likelier than the best of those:
# on speech of under 2 s its detection errs, with odds of up to 20 for a wrong language, while on
# longer speech it is near certain. Chosen on speech segments of the tuning utterances (BENCHMARKS.md §5).
UNHEARD_ODDS = 30.0


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
class _Read:
    """One read of some audio in one language (or detected among the candidates): the request's
    options, the hotwords of that language, and the encoder passes shared within the request."""

    request: DecodeRequest
    candidates: tuple[str, ...] | None
    terms_language: str | None  # the language whose terms apply (None: all of the list's)
    memo: EncoderMemo
    offset_s: float = 0.0  # where this audio starts in the request's (a stretch of a recording)
    # Whether a fitted-window decode that is only unsure (low log-probability, no loop) is done
    # again on the 30 s window; loops always are.
    retry_unsure: bool = True
    batcher: GenerationBatcher | None = None  # where stretches decoded side by side generate

    @property
    def language(self) -> str | None:
        """The language forced, if there is only one candidate."""
        return self.candidates[0] if self.candidates and len(self.candidates) == 1 else None

    def plan(self, window: int | None) -> PassPlan:
        """A pass over this read's audio on `window` (None: 30 s), choosing among its candidates
        with the request's prior (languages heard or expected) and sharing its encoder passes."""
        request = self.request
        return PassPlan(window, self.candidates, request.heard, 1 / UNHEARD_ODDS, None, request.cancel, self.memo,
                        self.batcher)


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
        self._hotwords = HotwordCache(tokenizer, multilingual=self.multilingual)

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
        # hotasr's decoder reads the weights itself (faster-whisper does not keep the path).
        model.model_path = str(model_dir)
        name = route.weights if route.weights in ("whisper-base", "whisper-tiny.en") else Path(model_dir).name
        return cls(model, name=name, options=options)

    # -- public API -------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load hotasr's decoder now (a few seconds, once per process) rather than in the first
        request that carries hotwords.  The server calls this at start."""
        try:
            self._search(None, [], None)
            if self.multilingual:
                homophones.warm_up()  # Chinese respelling's word list
        except Exception as exc:  # the first biased request will report it properly
            log.warning("could not prepare hotword biasing for %s: %s", self.name, exc)

    def compile(self, hotwords: Sequence[Hotword]) -> CompiledHotwords:
        """`hotwords` made ready for this engine, once per list (cached by its terms); terms this
        model cannot apply are left out, and the compiled list says why."""
        refused: list[str] = []
        usable = self._usable_hotwords(hotwords, refused)
        return self._hotwords.get(usable, refused)

    def transcribe(self, request: DecodeRequest) -> Transcript:
        """A recording (`kind` "file") with more than one candidate language is decoded sentence by
        sentence (speech segments found by Silero VAD), each in the language it is spoken in; a
        sentence ("final", "draft") or a recording in one language in one read."""
        if request.biasing not in BIASING_MODES:
            raise EngineError(f"biasing must be one of {', '.join(BIASING_MODES)}, got {request.biasing!r}")
        samples = np.asarray(request.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise EngineError(f"audio must be mono (a 1-D array), got shape {samples.shape}")
        warnings: list[str] = []
        if request.hotwords is not None and request.biasing != "none":
            for message in request.hotwords.warnings:
                self._warn(warnings, message)
        read = _Read(request, self._candidates(request.languages, warnings), None, EncoderMemo())
        duration_ms = round(len(samples) * 1000 / SAMPLE_RATE)
        if is_silent(samples):  # Whisper "hears" words ("You") in digital silence
            return self._finish(Transcript([], read.language, duration_ms, warnings), request)
        several = read.candidates is None or len(read.candidates) > 1
        if request.kind == "file" and several and not (request.prefix or request.context):
            sentences = self._decode_sentences(samples, read, warnings)
            return self._finish(Transcript(sentences, dominant_language(sentences), duration_ms, warnings), request)
        sentences, detected = self._decode(samples, read, warnings, request.progress)
        if request.kind == "file" and detected is not None:
            sentences = self._decode_skipped(samples, read, sentences, detected, warnings)
        return self._finish(Transcript(sentences, detected, duration_ms, warnings), request)

    def _decode_skipped(
        self, samples: np.ndarray, read: _Read, sentences: list[Sentence], language: str, warnings: list[str],
    ) -> list[Sentence]:
        """A recording decoded in one language, with the speech its decode skipped decoded on its own.

        Whisper leaves a sentence out now and then, most of all around speech in another language
        than the one forced (a Fun-ASR hint): with Mandarin forced, Mandarin sentences between
        English ones came out as nothing, with no sign. Each speech segment (Silero VAD, as
        `_decode_sentences` cuts them) in which no word falls is decoded on its own in that
        language, unless it is clearly in another one (`UNHEARD_ODDS` times likelier): Whisper
        would translate it, so it is reported instead, as speech that still gives no words is."""
        skipped = _uncovered(sentences, speech_segments(samples))
        if not skipped:
            return sentences
        read = replace(read, retry_unsure=False)
        # Any language the model knows, the forced one expected: another must clearly win.
        detecting = replace(read, candidates=None, request=replace(read.request, heard=(language,)))
        found = list(sentences)
        for start, end in skipped:
            spoken = self._detect(samples[start:end], detecting) if self.multilingual else language
            if spoken != language:
                self._warn(warnings, f"speech at {start / SAMPLE_RATE:.1f}-{end / SAMPLE_RATE:.1f} s sounds like "
                                     f"{spoken!r}, not {language!r} as asked: it was not transcribed")
                continue
            found += self._decode_stretch(samples, read, start, end, language, warnings)
        return sorted(found, key=lambda s: s.begin_ms)

    def _decode_sentences(self, samples: np.ndarray, read: _Read, warnings: list[str]) -> list[Sentence]:
        """A recording decoded a stretch of one language at a time, each stretch in its language.

        Silero VAD cuts the speech at pauses (`speech_segments`); each segment's language is detected
        among the candidates, and neighbours of one language are decoded together (a pause inside a
        sentence cuts no sentence in two), up to `MAX_SEGMENT_S`. A stretch of one segment is decoded
        with the encoder pass its detection made. Its hotwords are the list's terms of its language.
        Segments of a joined stretch that its decode skipped are decoded on their own; speech that
        yields no words is reported with its time range, never dropped quietly. Stretches decoded by
        CTranslate2's beam search are decoded `_BATCH_STRETCHES` at a time, side by side
        (`hotasr.engine.batching`).
        """
        # A stretch the VAD cut and whose language was detected is not decoded again on 30 s for
        # being unsure: on the bilingual set that cost a fifth of the time and changed no text.
        read = replace(read, retry_unsure=False)
        progress = read.request.progress
        segments = speech_segments(samples)
        if not segments:
            # Speech too quiet or noisy for the VAD is still decoded, as one piece in one language.
            return self._decode(samples, read, warnings, progress)[0]
        # The encoder passes of a batch's detections are kept for its decodes.
        size = _BATCH_STRETCHES if self._batches_generation(read.request) else 1
        read = replace(read, memo=EncoderMemo(keep=max(3, 4 * size)))
        sentences: list[Sentence] = []
        stretches = _stretches(segments, lambda s, e: self._detect(samples[s:e], read))
        for batch in _batches(stretches, size):
            for found in self._decode_batch(samples, read, batch, warnings):
                sentences.extend(found)
            if progress is not None:
                progress(batch[-1].end / (len(samples) or 1))
        return sentences

    def _batches_generation(self, request: DecodeRequest) -> bool:
        """Whether a request's stretches run on CTranslate2's beam search (hotasr's decoder, for
        hotwords or greedy decodes, runs one stretch at a time)."""
        return self._beam_size(request) > 1 and (request.biasing != "hotasr" or request.hotwords is None)

    def _beam_size(self, request: DecodeRequest) -> int:
        """Drafts (real-time interims) are superseded within a second: greedy is enough."""
        return 1 if request.draft else request.beam_size or self.options.beam_size

    def _decode_batch(
        self, samples: np.ndarray, read: _Read, batch: Sequence[_Stretch], warnings: list[str],
    ) -> list[list[Sentence]]:
        """Each stretch of `batch` decoded (`_decode_whole_stretch`), side by side on threads whose
        beam searches share CTranslate2 calls (`GenerationBatcher`) when there are several."""
        if len(batch) == 1:
            return [self._decode_whole_stretch(samples, read, batch[0], warnings)]
        sot = self.model.hf_tokenizer.token_to_id("<|startoftranscript|>")
        batcher = GenerationBatcher(self.model.model, len(batch), sot, read.request.cancel)
        shared = replace(read, batcher=batcher)
        own_warnings: list[list[str]] = [[] for _ in batch]

        def decode(index: int) -> list[Sentence]:
            try:
                return self._decode_whole_stretch(samples, shared, batch[index], own_warnings[index])
            finally:
                batcher.leave()

        with ThreadPoolExecutor(len(batch), thread_name_prefix="hotasr-stretch") as pool:
            futures = [pool.submit(decode, index) for index in range(len(batch))]
        found = [future.result() for future in futures]  # the first error, in the recording's order
        for message in itertools.chain.from_iterable(own_warnings):  # already logged
            self._add_warning(warnings, message)
        return found

    def _decode_whole_stretch(
        self, samples: np.ndarray, read: _Read, stretch: _Stretch, warnings: list[str],
    ) -> list[Sentence]:
        """A stretch's sentences in order, with the segments its decode skipped decoded on their own.

        Whisper may skip a segment inside a joined stretch (a short phrase of the other language
        taken for this one: "打开Call Me Maybe" before an English sentence came out as nothing).
        Such a segment is decoded on its own; what still gives no words is reported."""
        found = self._decode_stretch(samples, read, stretch.start, stretch.end, stretch.language, warnings)
        for start, end in _uncovered(found, stretch.segments) if len(stretch.segments) > 1 else ():
            found += self._decode_stretch(samples, read, start, end, stretch.language, warnings)
        return sorted(found, key=lambda s: s.begin_ms)

    def _decode_stretch(
        self, samples: np.ndarray, read: _Read, start: int, end: int, language: str, warnings: list[str],
    ) -> list[Sentence]:
        """samples[start:end] decoded in `language` with that language's hotwords, its sentences on
        the recording's clock; speech that gives no words is reported with its time range."""
        stretch = replace(read, candidates=(language,), terms_language=language, offset_s=start / SAMPLE_RATE)
        found, _ = self._decode(samples[start:end], stretch, warnings, None)
        if not any(s.text.strip() for s in found):
            self._warn(warnings, f"speech at {start / SAMPLE_RATE:.1f}-{end / SAMPLE_RATE:.1f} s gave no words")
        return [s.shifted(round(start * 1000 / SAMPLE_RATE)) for s in found]

    def _detect(self, samples: np.ndarray, read: _Read) -> str:
        """The language of `samples` among the candidates, detected on the encoder window fitted to
        them that their decode uses (the request's encoder memo keeps the pass for it)."""
        if read.language is not None:
            return read.language
        runner = DecodePass(self.model, read.plan(fitted_window(len(samples))))
        language, _, _ = runner.detect_language(features=runner.feature_extractor(samples))
        return str(language)

    def _decode(
        self, samples: np.ndarray, read: _Read, warnings: list[str], progress: Callable[[float], None] | None,
    ) -> tuple[list[Sentence], str | None]:
        """One decode of `samples` in one language: the only candidate, else the one detected among
        them (on the first 30 s)."""
        request = read.request
        duration_ms = round(len(samples) * 1000 / SAMPLE_RATE)
        kwargs = self._options(read, duration_ms)
        hotwords = request.hotwords if request.biasing != "none" else None
        terms = hotwords.for_language(read.terms_language) if hotwords else []
        mode = request.biasing if terms else "none"
        plan = read.plan(None)
        if mode == "hotasr":
            assert hotwords is not None
            plan = replace(plan, search=self._search(hotwords.graph(read.terms_language), warnings, request.cancel))
        elif mode == "none" and kwargs["beam_size"] == 1:
            # Greedy (drafts, real-time finals) on hotasr's decoder with no hotwords: its steps cost a
            # third less than CTranslate2's, and a decode made moot (an interim whose sentence has
            # ended) can be stopped between them.
            plan = replace(plan, search=self._search(None, [], request.cancel))
        if mode == "prompt":
            kwargs["hotwords"] = self._prompt(terms, warnings)

        if request.prefix and mode == "none" and duration_ms <= _PREFIX_MAX_MS:
            prefixed = self._run_with_prefix(request.prefix, samples, kwargs, duration_ms, plan)
            if prefixed is not None:
                return prefixed
        # Biased decodes take the fitted window too: a loop there (beam search running on into the
        # window's margin of silence) fails the retry test and is decoded again on 30 s.
        if request.draft or mode in ("none", "hotasr"):
            plan = replace(plan, window=fitted_window(len(samples)))
        if plan.window is not None and not request.draft:
            sentences, detected, looped = self._run_fitted_first(plan, samples, kwargs, duration_ms, progress,
                                                                 read.retry_unsure, sampled_retries=mode != "hotasr")
        else:
            sentences, detected, looped = self._run(plan, samples, kwargs, duration_ms, progress, retry_unsure=False)
        if mode == "hotasr" and not request.draft and (looped or _says_a_sentence_again(sentences)):
            # Each repeat of a listed term earns its bonus again: a biased decode can loop where the
            # model alone does not, on every retry, or say a whole sentence over (too short a loop for
            # the retry test). Better the words without the list than a loop. But a sentence the model
            # alone also says twice is said twice ("THOU ALSO THOU ALSO"): the biased reading stays.
            # (Drafts are cut short and superseded: left as they are.)
            unbiased_warnings: list[str] = []
            unbiased = self._decode(samples, replace(read, request=replace(request, biasing="none")),
                                    unbiased_warnings, progress)
            if not looped and _says_a_sentence_again(unbiased[0]):
                return sentences, detected
            start, end = read.offset_s, read.offset_s + duration_ms / 1000
            self._warn(warnings, f"decoding with the hotword list repeated itself at {start:.1f}-{end:.1f} s; "
                                 "that audio was decoded without the list")
            for message in unbiased_warnings:
                self._warn(warnings, message)
            return unbiased
        return sentences, detected

    def _options(self, read: _Read, duration_ms: int) -> dict[str, Any]:
        """faster-whisper's `transcribe` options for a read."""
        request = read.request
        kwargs: dict[str, Any] = {
            "language": read.language,
            "beam_size": self._beam_size(request),
            # Drafts are superseded within a second: unaligned is enough.
            "word_timestamps": request.word_timestamps and not request.draft,
            "vad_filter": self._use_vad(duration_ms),
        }
        if request.context:
            kwargs["initial_prompt"] = request.context
        if request.draft:
            # A draft that loops is cut short and superseded by the next one, instead of retrying
            # at five temperatures.
            kwargs.update(self._single_pass(duration_ms))
        return kwargs

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

    def _search(self, graph: HotwordGraph | None, warnings: list[str], cancel: CancelToken | None) -> BiasedSearch:
        """hotasr's decoder with `graph` (None: no hotwords), stopped by `cancel`."""
        for message in graph.warnings if graph is not None else ():
            self._warn(warnings, message)
        return replace(self._decoder, graph=graph, checkpoint=cancel.check if cancel is not None else None)

    @cached_property
    def _decoder(self) -> BiasedSearch:
        """hotasr's decoder and the tokenizer's special tokens, looked up once per engine rather than
        on every decode (every real-time draft takes one)."""
        return BiasedSearch.for_model(
            self.model.model_path, self.model.hf_tokenizer, None, threads=self.options.cpu_threads,
            int8=str(self.model.model.compute_type).startswith("int8"),
        )

    # -- decoding -----------------------------------------------------------------------------

    def _use_vad(self, duration_ms: int) -> bool:
        vad = self.options.vad
        if vad == "auto":
            return duration_ms > self.options.vad_min_seconds * 1000
        return bool(vad)

    def _run(
        self,
        plan: PassPlan,
        samples: np.ndarray,
        kwargs: dict[str, Any],
        duration_ms: int,
        progress: Callable[[float], None] | None,
        retry_unsure: bool = True,
    ) -> tuple[list[Sentence], str | None, bool]:
        """(sentences, language, whether a segment fails faster-whisper's own retry test (only its
        loop test unless `retry_unsure`); a generation cut at its token bound counts as a loop
        there (`faster_whisper_adapter.DecodePass.generate_with_fallback`))."""
        # Never translate: a sentence comes out in the language it is spoken in (of the candidates).
        segments, info = DecodePass(self.model, plan).transcribe(samples, task="transcribe", **kwargs)
        language = info.language
        sentences: list[Sentence] = []
        suspect = False
        done = 0.0
        for segment in segments:
            suspect = suspect or _fails_retry_test(segment, retry_unsure)
            add_sentences(sentences, segment_sentences(segment, language, self.options.simplified_chinese))
            if progress is not None and duration_ms:
                fraction = min(1.0, segment.end * 1000 / duration_ms)
                if fraction > done:
                    done = fraction
                    progress(fraction)
        return sentences, language, suspect

    def _run_fitted_first(
        self,
        plan: PassPlan,
        samples: np.ndarray,
        kwargs: dict[str, Any],
        duration_ms: int,
        progress: Callable[[float], None] | None,
        retry_unsure: bool = True,
        sampled_retries: bool = True,
    ) -> tuple[list[Sentence], str | None, bool]:
        """One bounded pass on the fitted window; should it fail faster-whisper's retry test or say a
        sentence again, the decode faster-whisper would do (temperature retries included) on
        Whisper's 30 s window. Also whether the result still loops.

        Without `sampled_retries` (biased decodes) the 30 s decode is at temperature 0 only, its
        length bounded by the audio's as the first pass's is. A biased decode fails the unsure test
        often, as the bonus picks text the model itself finds less likely; its sampled retries then
        fail it too, and faster-whisper keeps the beam's result anyway: the retries cost a Chinese
        decode with a list most of its time and changed no text. A biased decode that loops on the
        fitted window mostly loops on 30 s too, and unbounded it ran to Whisper's 448 positions in
        each of faster-whisper's passes over the window (BENCHMARKS.md §1.4).

        On a fitted window a short sentence can loop at every temperature where the 30 s window
        reads it right: "replied he" (1.2 s of LibriSpeech) came out as "replied he" 110 times,
        greedy and at beam 5, and the retries sampled for 30 s. Or come out twice, too short a loop
        for the retry test: "砸自己的脚" (1 s) with 0.3 s of silence after it.
        """
        sentences, language, suspect = self._run(
            plan, samples, {**kwargs, **self._single_pass(duration_ms)}, duration_ms, None, retry_unsure
        )
        if not (suspect or _says_a_sentence_again(sentences)):
            return sentences, language, False
        log.debug("fitted-window decode of %.1f s failed the retry test; decoding on the 30 s window",
                  duration_ms / 1000)
        # In the language the first pass detected among the candidates: detection is not redone.
        kwargs = {**kwargs, "language": kwargs["language"] or language}
        if not sampled_retries:
            kwargs.update(self._single_pass(duration_ms))
        return self._run(replace(plan, window=None), samples, kwargs, duration_ms, progress, retry_unsure=False)

    def _single_pass(self, duration_ms: int) -> dict[str, Any]:
        """Decoding options for one pass at temperature 0, its length bounded by the audio's."""
        # Room is left for the longest prompt (half of Whisper's 448 positions).
        return {"temperature": 0.0,
                "max_new_tokens": min(token_bound(duration_ms / 1000), self.prompt_token_limit - 8)}

    def _run_with_prefix(
        self, prefix: str, samples: np.ndarray, kwargs: dict[str, Any], duration_ms: int, plan: PassPlan,
    ) -> tuple[list[Sentence], str | None] | None:
        """The decode with `prefix` read as already said, or None (decode without it) when the
        result looks like a loop."""
        # CTranslate2 feeds a forced prefix one step per token (no faster than generating it):
        # hotasr's own decoder, with no hotwords, reads it in one pass.
        search = plan.search or self._search(None, [], plan.cancel)
        # The temperature fallback would sample afresh, without the prefix's guidance.
        bounded = {**kwargs, "prefix": prefix, **self._single_pass(duration_ms)}
        prefixed = replace(plan, search=search, window=fitted_window(len(samples)))
        sentences, language, _ = self._run(prefixed, samples, bounded, duration_ms, None)
        # The decoder may also read the audio again from its start after the prefix ("replied he"
        # became "replied he replied he").
        if looks_like_a_loop(" ".join(s.text for s in sentences)) or _says_a_sentence_again(sentences):
            log.debug("decode with a prefix of %d words looped; decoding without it", len(prefix.split()))
            return None
        return sentences, language

    def _finish(self, transcript: Transcript, request: DecodeRequest) -> Transcript:
        if request.progress is not None:
            request.progress(1.0)
        return transcript

    @staticmethod
    def _warn(warnings: list[str], message: str) -> None:
        if WhisperEngine._add_warning(warnings, message):
            log.warning(message)

    @staticmethod
    def _add_warning(warnings: list[str], message: str) -> bool:
        """Adds `message` unless said already (a recording decoded sentence by sentence says it once)."""
        if message in warnings:
            return False
        warnings.append(message)
        return True


@dataclass(frozen=True, slots=True)
class _Stretch:
    """Speech segments of one language decoded together: [start, end) in samples."""

    start: int
    end: int
    language: str
    segments: tuple[tuple[int, int], ...]


def _stretches(segments: Iterable[tuple[int, int]], detect: Callable[[int, int], str]) -> Iterable[_Stretch]:
    """Speech segments joined into stretches of one language: neighbours whose language is the same
    and whose pause is short (`_JOIN_GAP`), up to `MAX_SEGMENT_S` a stretch."""
    stretch: _Stretch | None = None
    for start, end in segments:
        language = detect(start, end)
        if stretch is not None:
            if (language == stretch.language and start - stretch.end <= _JOIN_GAP
                    and end - stretch.start <= MAX_SEGMENT_S * SAMPLE_RATE):
                stretch = replace(stretch, end=end, segments=(*stretch.segments, (start, end)))
                continue
            yield stretch
        stretch = _Stretch(start, end, language, ((start, end),))
    if stretch is not None:
        yield stretch


def _batches(stretches: Iterable[_Stretch], size: int) -> Iterator[list[_Stretch]]:
    """`stretches` in lists of `size` (the last may be shorter), detected as they are needed."""
    items = iter(stretches)
    while batch := list(itertools.islice(items, size)):
        yield batch


def _uncovered(sentences: Sequence[Sentence], segments: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The segments ([start, end) samples, on the sentences' clock) in whose speech no word of
    `sentences` falls (a sentence without words counts by its own times): speech the decode
    skipped, neighbours skipped alike joined into one. The VAD's padding at a segment's ends is left
    out: a neighbour's last word may reach it."""
    spans = [(w.begin_ms, w.end_ms) for s in sentences for w in s.words] + [
        (s.begin_ms, s.end_ms) for s in sentences if not s.words and s.text.strip()]
    skipped: list[tuple[int, int]] = []
    previous_skipped = False
    for start, end in segments:
        begin_ms, end_ms = start * 1000 / SAMPLE_RATE, end * 1000 / SAMPLE_RATE
        if end_ms - begin_ms > 2 * PAD_MS + _TRIMMED_MIN_MS:
            begin_ms, end_ms = begin_ms + PAD_MS, end_ms - PAD_MS
        if any(b < end_ms and e > begin_ms for b, e in spans):
            previous_skipped = False
        elif previous_skipped:
            skipped[-1] = (skipped[-1][0], end)
        else:
            skipped.append((start, end))
            previous_skipped = True
    return skipped


# -- encoder window ------------------------------------------------------------------------------

_FULL_WINDOW = 3000  # 30 s: what faster-whisper pads every segment to
_WINDOW_STEP = 200  # fitted windows come in 2 s steps (few distinct shapes) ...
# ... with at least 5 s of silence after the audio (1 s: hallucination loops). It also keeps the
# encoder output well clear of 80 positions, which CTranslate2 would take for mel features.
_WINDOW_MARGIN = 500
_PREFIX_MAX_MS = 28_000  # faster-whisper applies a prefix to the first 30 s window only
# Speech segments of one language this close are decoded together: the pause is inside a sentence
# or between two, and Whisper reads a sentence better with its neighbours than cut in pieces.
_JOIN_GAP = round(1.5 * SAMPLE_RATE)
# `_uncovered` leaves a segment's padding out (a neighbour's word may reach into it) only where at
# least this much is left between: shorter segments are looked at whole.
_TRIMMED_MIN_MS = 600
# Stretches decoded side by side, their beam searches batched (BENCHMARKS.md §5.3): a batch's
# detection passes are kept (EncoderMemo) until its decodes have used them.
_BATCH_STRETCHES = 12


def fitted_frames(samples: int, margin: int = _WINDOW_MARGIN) -> int:
    """Encoder frames for `samples` of audio: the audio plus a margin, rounded up to a step."""
    frames = math.ceil(samples * FRAMES_PER_SECOND / SAMPLE_RATE) + margin
    return min(_FULL_WINDOW, math.ceil(frames / _WINDOW_STEP) * _WINDOW_STEP)


def fitted_window(samples: int, margin: int = _WINDOW_MARGIN) -> int | None:
    """The encoder window for a decode of `samples` that takes the fitted window (None: 30 s).

    Used for drafts (real-time interims) and for every decode without a list or with hotasr's
    biasing; those that fail faster-whisper's retry test on it are done again on 30 s
    (`_run_fitted_first`).
    The encoder's cost grows with its window (attention is quadratic) and so does every decoding
    step's cross-attention: a 6 s sentence in a 12 s window instead of 30 s decodes about twice as
    fast, and unbiased it is as accurate (BENCHMARKS.md). The positions kept are the first ones, so
    timestamps and alignment stay as they were. The margin of silence matters: with 1 s of it,
    decoding sometimes ran on past the end of speech into a hallucination loop. Biased beam search
    used to loop in that margin (bench/HISTORY.md §3) until it stopped waiting for hypotheses that
    repeat themselves or in windows without speech (`hotasr.biasing.search`); a loop left is one
    more retry-test failure.
    """
    frames = fitted_frames(samples, margin)
    return frames if frames < _FULL_WINDOW else None


def _says_a_sentence_again(sentences: Sequence[Sentence]) -> bool:
    """Whether two neighbouring sentences say the same thing, or one sentence says its words twice
    over (letters and characters alike: at least `_MIN_REPEATED` of them, more inside one sentence,
    where "Very, very." is meant): "海昌极地海洋世界西门。海昌极地海洋世界西门。" or "replied he replied he"
    for one said once. Or a sentence says the start of the one before it again, cut short, over the
    silence after it (`_MIN_RESTATED` letters or characters at least): a 16.7 s LibriSpeech sentence
    with 0.8 s of silence after it came out once whole, then again up to its 18th word."""
    bare = ["".join(ch for ch in s.text.casefold() if ch.isalnum()) for s in sentences]
    if any(a.startswith(b) and len(b) >= (_MIN_REPEATED if a == b else _MIN_RESTATED)
           for a, b in itertools.pairwise(bare)):
        return True
    return any(len(b) > 2 * _MIN_REPEATED and b[: len(b) // 2] * 2 == b for b in bare)


def _fails_retry_test(segment: Any, unsure_too: bool = True) -> bool:
    """faster-whisper's test for decoding again at a higher temperature (its default thresholds):
    a loop, or (`unsure_too`) low confidence where the model does not think it hears silence."""
    if segment.compression_ratio > LOOP_COMPRESSION_RATIO:
        return True
    return unsure_too and segment.avg_logprob < -1.0 and segment.no_speech_prob <= 0.6


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _list_terms(hotwords: Iterable[Hotword]) -> str:
    items = list(hotwords)
    shown = [f"'{h.text}'" + (f" ({h.lang})" if h.lang else "") for h in items[:_MAX_LISTED]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")
