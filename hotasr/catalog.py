"""The model names DashScope documents, and what each one promises.

This is the vocabulary of the wire protocol (names users send), not of our engines: which local
engine serves a name is configuration (`hotasr.config.Settings.models`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["fun-asr", "paraformer", "sensevoice"]
Mode = Literal["realtime", "file"]

# Hotword `lang` codes each family accepts (docs/dashscope-protocol.md §3.3).
HOTWORD_LANGS: dict[str, frozenset[str]] = {
    "fun-asr": frozenset({"zh", "en", "ja"}),
    "paraformer": frozenset({"zh", "en", "ja", "yue", "ko", "de", "fr", "ru"}),
    "sensevoice": frozenset(),
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    family: Family
    mode: Mode
    sample_rate: int | None  # None: any rate is accepted and resampled
    supports_hotwords: bool  # vocabulary_id applies (Fun-ASR and Paraformer v2 only)
    # What it transcribes (docs/dashscope-protocol.md §7), each sentence in its own; None: many (multilingual models).
    languages: tuple[str, ...] | None = ("zh", "en")

    @property
    def hotword_langs(self) -> frozenset[str]:
        return HOTWORD_LANGS[self.family]


_ZH = ("zh",)
_FUN = ("zh", "en", "ja")
_PARAFORMER_V2 = ("zh", "en", "ja", "ko", "de", "fr", "ru")


def _m(
    name: str, family: Family, mode: Mode, rate: int | None, hotwords: bool = True,
    languages: tuple[str, ...] | None = _FUN,
) -> ModelInfo:
    return ModelInfo(name, family, mode, rate, hotwords, languages)


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        # real-time (docs/dashscope-protocol.md §7)
        _m("fun-asr-realtime", "fun-asr", "realtime", 16000),
        _m("fun-asr-realtime-2025-11-07", "fun-asr", "realtime", 16000),
        _m("fun-asr-realtime-2026-02-28", "fun-asr", "realtime", 16000),
        _m("fun-asr-realtime-2025-09-15", "fun-asr", "realtime", 16000, languages=("zh", "en")),
        _m("fun-asr-flash-8k-realtime", "fun-asr", "realtime", 8000, languages=_ZH),
        _m("fun-asr-flash-8k-realtime-2026-01-28", "fun-asr", "realtime", 8000, languages=_ZH),
        _m("paraformer-realtime-v2", "paraformer", "realtime", None, languages=_PARAFORMER_V2),
        _m("paraformer-realtime-8k-v2", "paraformer", "realtime", 8000, languages=_ZH),
        _m("paraformer-realtime-v1", "paraformer", "realtime", 16000, hotwords=False, languages=_ZH),
        _m("paraformer-realtime-8k-v1", "paraformer", "realtime", 8000, hotwords=False, languages=_ZH),
        # recorded files
        _m("fun-asr", "fun-asr", "file", None),
        _m("fun-asr-2025-11-07", "fun-asr", "file", None),
        _m("fun-asr-2025-08-25", "fun-asr", "file", None, languages=("zh", "en")),
        _m("fun-asr-mtl", "fun-asr", "file", None, languages=None),
        _m("fun-asr-mtl-2025-08-25", "fun-asr", "file", None, languages=None),
        _m("paraformer-v2", "paraformer", "file", None, languages=_PARAFORMER_V2),
        _m("paraformer-8k-v2", "paraformer", "file", 8000, languages=_ZH),
        _m("paraformer-v1", "paraformer", "file", None, hotwords=False, languages=("zh", "en")),
        _m("paraformer-8k-v1", "paraformer", "file", 8000, hotwords=False, languages=_ZH),
        _m("paraformer-mtl-v1", "paraformer", "file", None, hotwords=False, languages=None),
        _m("sensevoice-v1", "sensevoice", "file", None, hotwords=False, languages=None),
    ]
}

# Names a vocabulary may be created for: every model that takes vocabulary_id.
HOTWORD_MODELS: frozenset[str] = frozenset(n for n, m in MODELS.items() if m.supports_hotwords)


def get_model(name: str) -> ModelInfo | None:
    return MODELS.get(name)
