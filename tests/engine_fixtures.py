"""Fixtures and helpers for the audio, engine and transcription tests (real audio, real models).

Import the fixtures into a test module with `from tests.engine_fixtures import ...`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from hotasr.audio import SAMPLE_RATE, decode_audio
from hotasr.catalog import MODELS
from hotasr.config import ModelRoute, Settings
from hotasr.engine import DecodeRequest, Engine
from hotasr.hotwords import Hotword
from hotasr.transcript import Transcript
from tests.servers import REPO, SHARED, heavy, unavailable

DATA = SHARED / "data"
JFK = DATA / "en_misc" / "jfk.flac"  # 11 s, 44.1 kHz stereo FLAC
ONE_TWO_THREE = DATA / "en_misc" / "english.wav"  # "one two three", 44.1 kHz mono
ZH_DAMO = DATA / "zh_misc" / "asr_example.wav"  # 欢迎大家来体验达摩院推出的语音识别模型
ZH_GUANGZHOU = DATA / "zh_misc" / "BAC009S0724W0121.wav"  # 广州市房地产中介协会分析
JFK_PHRASE = "ask not what your country can do"
# The same place the server tests use: whisper-base is joined there once, not once per run.
MODEL_CACHE = REPO / "var" / "cache"


def decode(
    engine: Engine, samples: np.ndarray, *, hotwords: Sequence[Hotword] = (), language: str | None = None,
    languages: Sequence[str] | None = None, **options: Any,
) -> Transcript:
    """`engine.transcribe` of a request built as `hotasr.recognize` builds one: `language` forced or
    `languages` as the candidates, the list compiled by the engine, the other fields as given."""
    candidates = (language,) if language else tuple(languages) if languages else None
    compiled = engine.compile(hotwords) if hotwords else None
    return engine.transcribe(DecodeRequest(np.asarray(samples), languages=candidates, hotwords=compiled, **options))


def need(path: Path) -> Path:
    if not path.is_file():
        unavailable(f"test data {path} (HOTASR_SHARED_DIR or ../shared)")
    return path


def settings_for(weights: str, **extra: object) -> Settings:
    """Every catalog name served by `weights`, so any model name routes to one loaded model."""
    heavy(f"the {weights} model")
    models = {name: ModelRoute(weights=weights) for name in MODELS}
    return Settings(model_cache_dir=MODEL_CACHE, models=models, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_settings() -> Settings:
    return settings_for("whisper-tiny.en")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return settings_for("whisper-base")


@pytest.fixture(scope="session")
def jfk_samples() -> np.ndarray:
    return decode_audio(need(JFK)).samples


def normalized(text: str) -> str:
    return " ".join("".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split())


def encode(
    samples: np.ndarray,
    container: str,
    codec: str,
    rate: int,
    *,
    layout: str = "mono",
    channels: list[np.ndarray] | None = None,
) -> bytes:
    """Encode 16 kHz float samples (or several channels of them) with PyAV into `container`."""
    planes = np.stack(channels) if channels is not None else samples[None, :]
    source_layout = av.AudioLayout(f"{planes.shape[0]}c")
    frame = av.AudioFrame.from_ndarray(planes.astype(np.float32), format="fltp", layout=source_layout)
    frame.sample_rate = SAMPLE_RATE
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        sample_format = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()
