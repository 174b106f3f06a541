"""Recognition of one request, shared by every adapter (HTTP file tasks, WebSocket, CLI, library).

Applies DashScope's request-level rules before the engine runs; rules that make hotwords not
apply are warnings on the transcript, never errors (that is how DashScope behaves):
- a vocabulary created for another `target_model` does not apply;
- models without hotword support (Paraformer v1, SenseVoice) ignore vocabularies;
- with `language_hints`, only hotwords whose `lang` is among the hints (or that have no lang) apply.

With `speech_gate` (whole files: tasks, OpenAI, library, CLI), audio in which voice activity
detection finds no speech never reaches the engine (hotasr.speech_gate).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from hotasr.audio import SAMPLE_RATE
from hotasr.catalog import ModelInfo, get_model
from hotasr.config import Settings
from hotasr.engine import BiasingMode, CancelToken, DecodeKind, DecodeRequest, load_engine
from hotasr.errors import ModelNotServed as ModelNotServed  # re-exported: raised here
from hotasr.hotwords import Hotword, applicable_hotwords
from hotasr.speech_gate import NO_SPEECH_WARNING, has_speech
from hotasr.transcript import Transcript

log = logging.getLogger(__name__)

_MAX_LISTED = 8


def check_served(model: str, settings: Settings) -> None:
    """Raise ModelNotServed unless `model` can be recognized with (cheap: loads nothing)."""
    if get_model(model) is None:
        raise ModelNotServed(model, f"model {model!r} is not a known model name")
    if not settings.is_served(model):
        raise ModelNotServed(model, f"model {model!r} is not served by this server")


def recognize(
    samples: np.ndarray,
    *,
    model: str,
    settings: Settings,
    hotwords: Sequence[Hotword] = (),
    language_hints: Sequence[str] | None = None,
    vocabulary_target_model: str | None = None,
    biasing: BiasingMode = "hotasr",
    kind: DecodeKind = "file",
    beam_size: int | None = None,
    language: str | None = None,
    prefix: str | None = None,
    context: str | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    heard: tuple[str, ...] = (),
    speech_gate: bool = False,
) -> Transcript:
    """Transcribe float32 mono 16 kHz `samples` as DashScope model `model` would.

    Each sentence is decoded in its own language among the candidates (`candidate_languages`).
    `kind`: a recording, or one sentence of a stream (a final or a draft, see DecodeRequest); a
    real-time model's audio is one sentence, whoever sends it. `heard`: the languages of the
    stream's earlier sentences (DecodeRequest.heard); those `expected_languages` names count as heard.
    `language` is one already known for this audio: decoding is forced into it, skipping
    detection; unlike `language_hints` it filters no hotwords.
    `speech_gate`: a whole recording; with settings.speech_gate on, one without speech comes back
    with no sentences and a warning, without running the engine. Real-time segments (already cut
    by a VAD) leave it off.
    """
    check_served(model, settings)
    info = get_model(model)
    assert info is not None  # checked above
    route = settings.models[model]
    warnings: list[str] = []
    hints = [h for h in (language_hints or []) if h]
    terms = applied_terms(hotwords, info, hints, vocabulary_target_model, warnings)

    if speech_gate and settings.speech_gate and not has_speech(samples):
        log.info("no speech detected in %.1f s of audio; not transcribed", len(samples) / SAMPLE_RATE)
        warnings.append(NO_SPEECH_WARNING)
        return Transcript([], hints[0] if hints else language, round(len(samples) * 1000 / SAMPLE_RATE), warnings)
    engine = load_engine(route, settings)
    compiled = engine.compile(terms) if terms and biasing != "none" else None
    request = DecodeRequest(
        samples,
        languages=candidate_languages(info, hints, language),
        hotwords=compiled,
        # A real-time model's decode is one sentence (the stream's VAD cut it): no splitting.
        kind="final" if kind == "file" and info.mode == "realtime" else kind,
        biasing=biasing,
        beam_size=beam_size,
        prefix=prefix,
        context=context,
        heard=tuple(dict.fromkeys((*expected_languages(info, hints, language), *heard))),
        cancel=cancel,
        progress=progress,
    )
    transcript = engine.transcribe(request)
    if compiled is not None and biasing == "hotasr":
        compiled.correct(transcript)
    transcript.warnings[:0] = warnings
    return transcript


def applied_terms(
    hotwords: Sequence[Hotword], info: ModelInfo, hints: Sequence[str], vocabulary_target_model: str | None,
    warnings: list[str],
) -> list[Hotword]:
    """The terms of a list that apply to a request (DashScope's rules); each rule that leaves terms
    out says so in `warnings`."""
    terms = list(hotwords)
    model = info.name
    if terms and vocabulary_target_model and vocabulary_target_model != model:
        _warn(
            warnings,
            f"the vocabulary was created for target_model {vocabulary_target_model!r}, not {model!r}; "
            f"its {_count(terms)} not applied",
        )
        return []
    if terms and not info.supports_hotwords:
        _warn(warnings, f"model {model!r} does not support hotwords; {_count(terms)} not applied")
        return []
    if terms and hints:
        terms, skipped = applicable_hotwords(terms, hints)
        if skipped:
            listed = ", ".join(f"'{h.text}' ({h.lang})" for h in skipped[:_MAX_LISTED])
            more = len(skipped) - min(len(skipped), _MAX_LISTED)
            _warn(
                warnings,
                f"{_count(skipped)} skipped because their lang is not in language_hints "
                f"{hints}: {listed}" + (f" and {more} more" if more else ""),
            )
    return terms


def candidate_languages(info: ModelInfo, hints: Sequence[str], language: str | None = None) -> tuple[str, ...] | None:
    """The languages each sentence is decided among (DashScope's rules for `language_hints`).

    Fun-ASR uses the first hint only: that language is forced. Paraformer v2 takes the hints as the
    candidates. Without hints: the model's own languages (None: any, for multilingual models).
    `language`, one known for the audio already, forces it.
    """
    if language:
        return (language,)
    if hints:
        return (hints[0],) if info.family == "fun-asr" else tuple(dict.fromkeys(hints))
    return info.languages


# The languages a user of the Mandarin-English models speaks unless told otherwise: the default
# `language_hints` of Paraformer v2 (docs/dashscope-protocol.md §4.2).
DEFAULT_HINTS = ("zh", "en")


def expected_languages(info: ModelInfo, hints: Sequence[str], language: str | None = None) -> tuple[str, ...]:
    """The candidates a sentence's language is expected among before any was heard: with no hints,
    the model's languages of DEFAULT_HINTS (a language outside them needs stronger evidence, as one
    not heard yet in a stream does: DecodeRequest.heard). With hints, every hinted language is alike."""
    if language or hints or info.languages is None:
        return ()
    return tuple(lang for lang in DEFAULT_HINTS if lang in info.languages)


def _warn(warnings: list[str], message: str) -> None:
    log.warning(message)
    warnings.append(message)


def _count(terms: Sequence[Hotword]) -> str:
    return f"{len(terms)} hotword{'' if len(terms) == 1 else 's'} {'is' if len(terms) == 1 else 'are'}"
