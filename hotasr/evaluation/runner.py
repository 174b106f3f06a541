"""Run a manifest through the recogniser in several biasing modes and score each mode.

Every utterance is decoded once and recognised once per mode within the same run, so the modes
are compared on identical audio, model and settings. Per mode (and per language, since words and
characters do not add up) the report gives WER/CER, U-WER/U-CER, B-WER/B-CER (see
`hotasr.evaluation.scoring`), hotword recall and precision, and the real-time factor
(recognition seconds / audio seconds, after one untimed warm-up call per mode so model loading is
not charged to the first utterance).
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hotasr.config import Settings
from hotasr.evaluation.manifest import Utterance, load_manifest
from hotasr.evaluation.scoring import BiasedErrors, HotwordCounts, hotword_counts, score_text
from hotasr.hotwords import Hotword
from hotasr.transcript import Transcript

MODES = ("none", "prompt", "hotasr")
SAMPLE_RATE = 16000
_WARMUP_SECONDS = 1.0


class Recognizer(Protocol):
    """The signature of `hotasr.recognize.recognize` that the runner relies on."""

    def __call__(
        self,
        samples: np.ndarray,
        *,
        model: str,
        settings: Settings,
        hotwords: Sequence[Hotword] = (),
        language_hints: Sequence[str] | None = None,
        biasing: str = "hotasr",
    ) -> Transcript: ...


# progress(done, total, description): called after every recognition.
Progress = Callable[[int, int, str], None]
AudioLoader = Callable[[Path], np.ndarray]


class EvaluationError(RuntimeError):
    """The evaluation cannot go on; the message says which utterance and why."""


@dataclass(slots=True)
class UtteranceResult:
    id: str
    mode: str
    language: str
    reference: str
    hypothesis: str
    audio_seconds: float
    decode_seconds: float
    errors: BiasedErrors
    hotwords: HotwordCounts
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mode": self.mode,
            "language": self.language,
            "reference": self.reference,
            "hypothesis": self.hypothesis,
            "audio_seconds": round(self.audio_seconds, 3),
            "decode_seconds": round(self.decode_seconds, 3),
            "errors": self.errors.to_dict(),
            "hotwords": self.hotwords.to_dict(),
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class ModeScore:
    """Totals for one (mode, language) pair."""

    mode: str
    language: str
    utterances: int = 0
    audio_seconds: float = 0.0
    decode_seconds: float = 0.0
    errors: BiasedErrors = field(default_factory=BiasedErrors)
    hotwords: HotwordCounts = field(default_factory=HotwordCounts)

    @property
    def unit(self) -> str:
        return "char" if self.language == "zh" else "word"

    @property
    def metric(self) -> str:
        return "CER" if self.language == "zh" else "WER"

    @property
    def rtf(self) -> float | None:
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else None

    def add(self, result: UtteranceResult) -> None:
        self.utterances += 1
        self.audio_seconds += result.audio_seconds
        self.decode_seconds += result.decode_seconds
        self.errors += result.errors
        self.hotwords += result.hotwords

    def to_dict(self) -> dict[str, Any]:
        m = self.metric
        return {
            "mode": self.mode,
            "language": self.language,
            "unit": self.unit,
            "utterances": self.utterances,
            m: self.errors.overall.error_rate,
            f"U-{m}": self.errors.unbiased.error_rate,
            f"B-{m}": self.errors.biased.error_rate,
            "hotword_recall": self.hotwords.recall,
            "hotword_precision": self.hotwords.precision,
            "rtf": self.rtf,
            "audio_seconds": round(self.audio_seconds, 3),
            "decode_seconds": round(self.decode_seconds, 3),
            "errors": self.errors.to_dict(),
            "hotwords": self.hotwords.to_dict(),
        }


@dataclass(slots=True)
class EvalReport:
    manifest: str
    model: str
    modes: list[str]
    scores: list[ModeScore]
    results: list[UtteranceResult]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    environment: dict[str, str] = field(default_factory=dict)

    def score(self, mode: str, language: str | None = None) -> ModeScore:
        for s in self.scores:
            if s.mode == mode and (language is None or s.language == language):
                return s
        raise KeyError((mode, language))

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "model": self.model,
            "modes": self.modes,
            "created_at": self.created_at,
            "environment": self.environment,
            "scores": [s.to_dict() for s in self.scores],
            "utterances": [r.to_dict() for r in self.results],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    def to_markdown(self) -> str:
        lines = [
            f"# hotasr evaluation: `{Path(self.manifest).name}`",
            "",
            f"model `{self.model}`, {self.created_at}. Error rates in %, over words for `en` (WER) and "
            "characters for `zh` (CER); U-/B- = unbiased/biased tokens (Le et al. 2021); recall and "
            "precision of hotword-list terms; RTF = recognition seconds / audio seconds.",
            "",
            "| mode | lang | utts | WER/CER | U-WER/U-CER | B-WER/B-CER | hotword recall | hotword precision | RTF |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in self.scores:
            lines.append(
                f"| {s.mode} | {s.language} | {s.utterances} "
                f"| {_pct(s.errors.overall.error_rate)} | {_pct(s.errors.unbiased.error_rate)} "
                f"| {_pct(s.errors.biased.error_rate)} | {_ratio(s.hotwords.recall)} "
                f"| {_ratio(s.hotwords.precision)} | {_num(s.rtf)} |"
            )
        lines += [
            "",
            "Counts (ref tokens / subs / ins / dels; hotword occurrences ref / hyp / hits):",
            "",
            "| mode | lang | overall | unbiased | biased | hotwords | audio s | decode s |",
            "|---|---|---|---|---|---|---:|---:|",
        ]
        for s in self.scores:
            e = s.errors
            h = s.hotwords
            lines.append(
                f"| {s.mode} | {s.language} | {_counts(e.overall)} | {_counts(e.unbiased)} "
                f"| {_counts(e.biased)} | {h.ref_occurrences} / {h.hyp_occurrences} / {h.hits} "
                f"| {s.audio_seconds:.1f} | {s.decode_seconds:.1f} |"
            )
        return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _counts(c: Any) -> str:
    return f"{c.ref_words} / {c.subs} / {c.ins} / {c.dels}"


def _default_recognizer() -> Recognizer:
    try:
        from hotasr.recognize import recognize
    except ImportError as exc:  # the recognition core is a separate piece of work
        raise EvaluationError(f"the recognition core is not available (hotasr.recognize): {exc}") from exc
    return recognize  # type: ignore[return-value]


def _default_loader(path: Path) -> np.ndarray:
    from hotasr.audio import decode_audio

    return decode_audio(path).samples


def _warm_up_audio(utt: Utterance | None, load: AudioLoader) -> np.ndarray:
    """The first `_WARMUP_SECONDS` of `utt`'s audio, padded with silence; silence alone when there is
    none or it cannot be loaded."""
    length = int(_WARMUP_SECONDS * SAMPLE_RATE)
    samples = np.zeros(0, dtype=np.float32)
    if utt is not None:
        with contextlib.suppress(Exception):  # the timed loop reports it for this utterance
            samples = np.asarray(load(utt.audio), dtype=np.float32)[:length]
    return np.pad(samples, (0, length - len(samples)))


# Recognises one utterance's samples in one mode (no utterance: the warm-up's silence).
_Run = Callable[[Utterance | None, np.ndarray, str], Transcript]


def _checked_modes(modes: Sequence[str], limit: int | None) -> list[str]:
    """`modes` in order without repeats; unknown modes and a `limit` below 1 are refused before any work."""
    modes = list(dict.fromkeys(modes))
    unknown = [m for m in modes if m not in MODES]
    if not modes or unknown:
        raise EvaluationError(f"modes must be among {', '.join(MODES)}; got {', '.join(modes) or 'none'}")
    if limit is not None and limit < 1:
        raise EvaluationError(f"limit must be at least 1, got {limit}")
    return modes


def _warm_up(run: _Run, first: Utterance | None, load: AudioLoader, modes: Sequence[str]) -> None:
    """Untimed warm-up: model loading and first-call set-up must not count as decode time. It decodes
    the first utterance's opening with its list: silence never reaches the engine, and the biased
    decoder is built by the first decode that has a list."""
    opening = _warm_up_audio(first, load)
    for mode in modes:
        try:
            run(first, opening, mode)
        except Exception as exc:
            raise EvaluationError(f"warm-up recognition failed in mode {mode!r}: {exc}") from exc


def _timed_result(run: _Run, utt: Utterance, samples: np.ndarray, mode: str) -> UtteranceResult:
    """Recognises `utt` in `mode`, timed, and scores the transcript against its reference."""
    start = time.perf_counter()
    try:
        transcript = run(utt, samples, mode)
    except Exception as exc:
        raise EvaluationError(f"{utt.id}: recognition failed in mode {mode!r}: {exc}") from exc
    elapsed = time.perf_counter() - start
    hyp = transcript.text
    terms = [h.text for h in utt.hotwords]
    return UtteranceResult(
        id=utt.id,
        mode=mode,
        language=utt.language,
        reference=utt.reference,
        hypothesis=hyp,
        audio_seconds=len(samples) / SAMPLE_RATE,
        decode_seconds=elapsed,
        errors=score_text(utt.reference, hyp, utt.biasing_words, utt.language),
        hotwords=hotword_counts(utt.reference, hyp, terms, utt.language),
        warnings=list(transcript.warnings),
    )


def _mode_scores(
    modes: Sequence[str], utterances: Sequence[Utterance], results: Sequence[UtteranceResult]
) -> list[ModeScore]:
    """The totals per (mode, language), modes in the order asked, languages in the manifest's order."""
    scores: dict[tuple[str, str], ModeScore] = {}
    languages = list(dict.fromkeys(u.language for u in utterances))
    for mode in modes:
        for language in languages:
            scores[(mode, language)] = ModeScore(mode=mode, language=language)
    for result in results:
        scores[(result.mode, result.language)].add(result)
    return list(scores.values())


def _environment(settings: Settings, model: str) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "engine": settings.models[model].engine if model in settings.models else "?",
        "weights": settings.models[model].weights if model in settings.models else "?",
    }


def evaluate(
    manifest_path: str | Path,
    *,
    model: str = "fun-asr",
    modes: Sequence[str] = MODES,
    settings: Settings | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    recognizer: Recognizer | None = None,
    audio_loader: AudioLoader | None = None,
) -> EvalReport:
    """Recognise every utterance of the manifest in each mode and score the results.

    `recognizer` / `audio_loader` default to `hotasr.recognize.recognize` and
    `hotasr.audio.decode_audio`; tests inject fakes. `limit` takes the first N utterances.
    Mode "none" is given no hotwords at all; "prompt" and "hotasr" get the utterance's list.
    """
    modes = _checked_modes(modes, limit)
    manifest = load_manifest(manifest_path)
    utterances = manifest.utterances[:limit] if limit else manifest.utterances
    settings = settings or Settings()
    recognize = recognizer or _default_recognizer()
    load = audio_loader or _default_loader

    def run(utt: Utterance | None, samples: np.ndarray, mode: str) -> Transcript:
        hotwords = () if mode == "none" or utt is None else utt.hotwords
        hints = [utt.language] if utt is not None else None
        return recognize(samples, model=model, settings=settings, hotwords=hotwords, language_hints=hints, biasing=mode)

    _warm_up(run, utterances[0] if utterances else None, load, modes)
    results: list[UtteranceResult] = []
    total = len(utterances) * len(modes)
    for utt in utterances:
        try:
            samples = load(utt.audio)
        except Exception as exc:
            raise EvaluationError(f"{utt.id}: cannot decode audio {utt.audio}: {exc}") from exc
        for mode in modes:
            results.append(_timed_result(run, utt, samples, mode))
            if progress:
                progress(len(results), total, f"{utt.id} [{mode}]")
    return EvalReport(
        manifest=str(manifest_path),
        model=model,
        modes=modes,
        scores=_mode_scores(modes, utterances, results),
        results=results,
        environment=_environment(settings, model),
    )
