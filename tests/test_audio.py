"""hotasr.audio on real speech converted by PyAV into every format we claim to read."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from hotasr.audio import (
    DECODE_ERROR,
    EMPTY,
    INVALID_CHANNEL,
    INVALID_PCM,
    NO_AUDIO_STREAM,
    NOT_FOUND,
    SAMPLE_RATE,
    UNSUPPORTED,
    AudioError,
    decode_audio,
    decode_channels,
    decode_pcm,
    resample,
)
from tests.engine_fixtures import JFK, encode, jfk_samples, need

__all__ = ["jfk_samples"]  # a fixture, imported for pytest

# (container, codec, encoder sample rate, expected FFmpeg format name)
FORMATS = [
    ("wav", "pcm_s16le", 16000, "wav"),
    ("wav", "pcm_s16le", 8000, "wav"),
    ("wav", "pcm_f32le", 44100, "wav"),
    ("mp3", "libmp3lame", 22050, "mp3"),
    ("flac", "flac", 48000, "flac"),
    ("ogg", "libopus", 48000, "ogg"),
    ("webm", "libopus", 48000, "matroska,webm"),
    ("adts", "aac", 44100, "aac"),
    ("ipod", "aac", 16000, "mov,mp4,m4a,3gp,3g2,mj2"),  # .m4a
    ("amr", "libopencore_amrnb", 8000, "amr"),
]


@pytest.fixture(scope="module")
def clip(jfk_samples: np.ndarray) -> np.ndarray:
    return jfk_samples[: 4 * SAMPLE_RATE]  # "And so my fellow Americans": enough to compare


def test_real_flac_is_decoded_with_metadata() -> None:
    decoded = decode_audio(need(JFK))
    assert decoded.info.sample_rate == 44100
    assert decoded.info.channels == 2
    assert decoded.info.codec == "flac" and decoded.info.format == "flac"
    assert decoded.info.duration_ms == 11000
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert len(decoded.samples) == 11 * SAMPLE_RATE
    assert 0.01 < float(np.sqrt(np.mean(decoded.samples**2))) < 0.5


@pytest.mark.parametrize(("container", "codec", "rate", "format_name"), FORMATS)
def test_every_claimed_format_decodes_to_16k_mono(
    clip: np.ndarray, tmp_path: Path, container: str, codec: str, rate: int, format_name: str
) -> None:
    data = encode(clip, container, codec, rate)
    path = tmp_path / f"clip.{container}"
    path.write_bytes(data)
    for source in (path, data, str(path), io.BytesIO(data)):
        decoded = decode_audio(source)
        assert decoded.info.format == format_name
        assert decoded.info.sample_rate == rate
        assert decoded.info.channels == 1
        # Codec priming/padding may add a few tens of ms; nothing may be lost or doubled.
        assert abs(decoded.info.duration_ms - 4000) <= 100, decoded.info
        assert decoded.samples.dtype == np.float32
        assert abs(len(decoded.samples) - len(clip)) <= 0.1 * SAMPLE_RATE
    # Same speech: similar loudness (AMR narrowband and lossy codecs change the waveform a little).
    rms = float(np.sqrt(np.mean(decoded.samples**2)))
    reference = float(np.sqrt(np.mean(clip**2)))
    assert 0.5 * reference < rms < 1.5 * reference


@pytest.mark.parametrize("codec", ["pcm_s16le", "flac"])
def test_lossless_formats_keep_the_waveform(clip: np.ndarray, codec: str) -> None:
    decoded = decode_audio(encode(clip, "wav" if codec == "pcm_s16le" else "flac", codec, 16000))
    assert np.max(np.abs(decoded.samples[: len(clip)] - clip)) < 1e-3


def test_channels_are_selectable_and_separable(clip: np.ndarray) -> None:
    silence = np.zeros_like(clip)
    data = encode(clip, "wav", "pcm_s16le", 44100, layout="stereo", channels=[clip, silence])

    both = decode_channels(data)
    assert both.info.channels == 2 and len(both.channels) == 2
    speech, quiet = both.channels
    assert np.sqrt(np.mean(speech**2)) > 0.01
    assert np.max(np.abs(quiet)) < 1e-3

    left = decode_audio(data, channel=0).samples
    right = decode_audio(data, channel=1).samples
    downmix = decode_audio(data).samples
    np.testing.assert_allclose(left, speech)
    assert np.max(np.abs(right)) < 1e-3
    np.testing.assert_allclose(downmix, (left + right) / 2, atol=1e-6)

    with pytest.raises(AudioError) as error:
        decode_audio(data, channel=2)
    assert error.value.code == INVALID_CHANNEL
    assert str(error.value) == "channel 2 requested but the file has 2 channels (channels are numbered from 0)"


def test_raw_pcm_at_any_rate(clip: np.ndarray) -> None:
    eight_k = resample(clip, SAMPLE_RATE, 8000)
    assert abs(len(eight_k) - len(clip) // 2) <= 64
    pcm = (np.clip(eight_k, -1, 1) * 32767).astype("<i2").tobytes()
    decoded = decode_pcm(pcm, 8000)
    assert decoded.info.sample_rate == 8000 and decoded.info.codec == "pcm_s16le"
    assert decoded.info.duration_ms == round(len(eight_k) * 1000 / 8000)
    assert abs(len(decoded.samples) - len(clip)) <= 64

    stereo = np.stack([pcm_samples := np.frombuffer(pcm, "<i2"), np.zeros_like(pcm_samples)], axis=1)
    two = decode_pcm(stereo.tobytes(), 8000, channels=2, channel=0)
    np.testing.assert_allclose(two.samples, decoded.samples, atol=1e-6)

    with pytest.raises(AudioError) as odd:
        decode_pcm(pcm + b"\x00", 8000)
    assert odd.value.code == INVALID_PCM and "not a whole number of 16-bit" in str(odd.value)
    with pytest.raises(AudioError) as empty:
        decode_pcm(b"", 16000)
    assert empty.value.code == EMPTY


def _video_only_file() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


def test_bad_input_raises_clear_audio_errors(tmp_path: Path) -> None:
    flac = need(JFK).read_bytes()
    empty_file = tmp_path / "empty.wav"
    empty_file.write_bytes(b"")
    cases = [
        (b"", EMPTY, "file is empty"),
        (empty_file, EMPTY, "file is empty"),
        (tmp_path / "missing.wav", NOT_FOUND, "audio file not found"),
        (b"this is not audio at all " * 40, UNSUPPORTED, "format could not be recognized"),
        (flac[:2000], DECODE_ERROR, "could not decode"),
        (_video_only_file(), NO_AUDIO_STREAM, "no audio stream"),
    ]
    for source, code, words in cases:
        with pytest.raises(AudioError) as error:
            decode_audio(source)
        assert error.value.code == code, (source if isinstance(source, Path) else source[:20], error.value)
        assert words in str(error.value)


def test_truncated_lossy_file_keeps_the_audio_before_the_cut(clip: np.ndarray) -> None:
    data = encode(clip, "mp3", "libmp3lame", 16000)
    decoded = decode_audio(data[: len(data) // 2])
    assert 1500 < decoded.info.duration_ms < 2500
