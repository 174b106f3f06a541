"""Evaluation manifests: one utterance per JSONL line.

    {"id": "1089-134686-0000",
     "audio": "../shared/data/librispeech_test_subset/test-clean/1089-134686-0000.flac",
     "reference": "he hoped there would be stew for dinner ...",
     "hotwords": [{"text": "stew", "weight": 4, "lang": "en"}, ...],   # or "hotwords_file": "lists/x.json"
     "biasing_words": ["stew", "turnips"],                              # optional
     "language": "en"}                                                   # "en" | "zh"

Paths (`audio`, `hotwords_file`) are resolved in this order: absolute paths as they are; a path that
starts with `../shared/` is looked up under `$HOTASR_SHARED_DIR` when that is set (so the committed
sets work wherever the shared data lives); otherwise the first existing one of: relative to the
manifest's directory, to the project root (the nearest ancestor of the manifest holding a
pyproject.toml), to the current working directory. The committed sets under bench/sets/ use paths
relative to the repo root (`../shared/data/...` = /work/shared/data/... for a checkout at /work/main).

`hotwords_file`: a JSON file holding a list of `{"text", "weight", "lang"?}` objects, or a text file
with one term per line, optionally `term<TAB>weight` (default weight 4).

`biasing_words`: the terms whose reference tokens count as biased for B-WER / B-CER. Default: the
hotword texts that occur in the (normalised) reference.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotasr.catalog import HOTWORD_LANGS
from hotasr.evaluation.scoring import count_terms, tokenize
from hotasr.hotwords import Hotword, HotwordError, parse_hotword_list

LANGUAGES = ("en", "zh")
DEFAULT_FILE_WEIGHT = 4
_ALL_HOTWORD_LANGS = frozenset().union(*HOTWORD_LANGS.values())
_SHARED_PREFIX = "../shared/"


class ManifestError(ValueError):
    """A manifest line is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Utterance:
    id: str
    audio: Path
    reference: str
    language: str
    hotwords: tuple[Hotword, ...] = ()
    biasing_words: tuple[str, ...] = ()


@dataclass(slots=True)
class Manifest:
    path: Path
    utterances: list[Utterance] = field(default_factory=list)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def __len__(self) -> int:
        return len(self.utterances)


def _project_root(start: Path) -> Path | None:
    for candidate in (start.resolve(), *start.resolve().parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return None


def resolve_path(raw: str, manifest_dir: Path) -> Path:
    """Resolve a manifest path (see the module docstring for the order)."""
    path = Path(raw).expanduser()
    if path.is_absolute():
        return path
    shared = os.environ.get("HOTASR_SHARED_DIR")
    if shared and raw.startswith(_SHARED_PREFIX):
        return Path(shared) / raw[len(_SHARED_PREFIX) :]
    for base in (manifest_dir, _project_root(manifest_dir), Path.cwd()):
        if base is None:
            continue
        candidate = base / path
        if candidate.exists():
            return candidate.resolve()
    return (manifest_dir / path).resolve()  # does not exist: the error message shows where we looked


def _read_hotwords_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        items = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(items, list):
            raise ManifestError(f"{path}: expected a JSON list of hotword objects")
        return items
    items = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if not line.strip():
            continue
        text, _, weight = line.partition("\t")
        items.append({"text": text.strip(), "weight": int(weight) if weight.strip() else DEFAULT_FILE_WEIGHT})
    return items


def parse_line(obj: Any, manifest_dir: Path, where: str) -> Utterance:
    """Validate one decoded JSON line into an Utterance; errors name `where` (file:line)."""
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "audio", "reference"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise ManifestError(f"{where}: {key!r} is required and must be a non-empty string")
    uid = obj["id"]
    language = obj.get("language", "en")
    if language not in LANGUAGES:
        raise ManifestError(f"{where} ({uid}): language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    if "hotwords" in obj and "hotwords_file" in obj:
        raise ManifestError(f"{where} ({uid}): give either 'hotwords' or 'hotwords_file', not both")

    raw_hotwords: Any = obj.get("hotwords", [])
    if "hotwords_file" in obj:
        if not isinstance(obj["hotwords_file"], str):
            raise ManifestError(f"{where} ({uid}): 'hotwords_file' must be a path string")
        hw_path = resolve_path(obj["hotwords_file"], manifest_dir)
        if not hw_path.is_file():
            raise ManifestError(f"{where} ({uid}): hotwords_file not found: {hw_path}")
        try:
            raw_hotwords = _read_hotwords_file(hw_path)
        except (ValueError, OSError) as exc:
            raise ManifestError(f"{where} ({uid}): cannot read hotwords_file {hw_path}: {exc}") from exc
    hotwords: list[Hotword] = []
    if raw_hotwords != []:
        try:
            hotwords = parse_hotword_list(raw_hotwords, _ALL_HOTWORD_LANGS)
        except HotwordError as exc:
            raise ManifestError(f"{where} ({uid}): {exc}") from exc

    biasing = obj.get("biasing_words")
    if biasing is None:
        # Default: the hotwords actually spoken in this utterance.
        ref_tokens = tokenize(obj["reference"], language)
        spoken = count_terms(ref_tokens, [tokenize(h.text, language) for h in hotwords])
        biasing = [h.text for h in hotwords if tuple(tokenize(h.text, language)) in spoken]
    elif not isinstance(biasing, list) or not all(isinstance(w, str) for w in biasing):
        raise ManifestError(f"{where} ({uid}): 'biasing_words' must be a list of strings")

    audio = resolve_path(obj["audio"], manifest_dir)
    return Utterance(
        id=uid,
        audio=audio,
        reference=obj["reference"],
        language=language,
        hotwords=tuple(hotwords),
        biasing_words=tuple(biasing),
    )


def load_manifest(path: str | Path, *, check_audio: bool = True) -> Manifest:
    """Read and validate a manifest. Raises ManifestError with file:line on the first problem."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    manifest = Manifest(path=path)
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
            utt = parse_line(obj, path.parent, where)
            if utt.id in seen:
                raise ManifestError(f"{where}: duplicate id {utt.id!r} (first on line {seen[utt.id]})")
            seen[utt.id] = lineno
            if check_audio and not utt.audio.is_file():
                raise ManifestError(f"{where} ({utt.id}): audio file not found: {utt.audio}")
            manifest.utterances.append(utt)
    if not manifest.utterances:
        raise ManifestError(f"{path}: manifest has no utterances")
    return manifest
