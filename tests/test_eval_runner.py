"""Evaluation manifests and the runner (fake recogniser; one small run with the real engine)."""

from __future__ import annotations

import contextlib
import json
import math
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from hotasr.config import ModelRoute, Settings
from hotasr.evaluation.manifest import ManifestError, load_manifest
from hotasr.evaluation.runner import EvaluationError, evaluate
from hotasr.hotwords import Hotword
from hotasr.transcript import Sentence, Transcript
from tests.servers import REPO, unavailable
from tests.servers import SHARED as SHARED_DIR

SHARED = SHARED_DIR / "data"
LIBRI = SHARED / "librispeech_test_subset" / "test-clean"


def write_wav(path: Path, seconds: float) -> Path:
    samples = (np.sin(np.arange(int(16000 * seconds)) * 0.05) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.tobytes())
    return path


def write_manifest(path: Path, rows: Sequence[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def two_utts(tmp_path: Path) -> Path:
    write_wav(tmp_path / "a.wav", 2.0)
    write_wav(tmp_path / "b.wav", 1.5)  # not 1.0 s: that is the warm-up length
    return write_manifest(
        tmp_path / "m.jsonl",
        [
            {
                "id": "a",
                "audio": "a.wav",
                "reference": "Anders Zorn painted the lake.",
                "hotwords": [{"text": "Anders Zorn", "weight": 4}, {"text": "tulip", "weight": 3}],
                "language": "en",
            },
            {
                "id": "b",
                "audio": "b.wav",
                "reference": "打开灵山侠侣",
                "hotwords": [{"text": "灵山侠侣", "weight": 4, "lang": "zh"}, {"text": "蜀山火锅", "weight": 4}],
                "language": "zh",
            },
        ],
    )


# --------------------------------------------------------------------------------------------
# manifest
# --------------------------------------------------------------------------------------------


def test_manifest_resolves_relative_audio_and_defaults_biasing_words(two_utts: Path) -> None:
    manifest = load_manifest(two_utts)
    a, b = manifest.utterances
    assert a.audio == (two_utts.parent / "a.wav").resolve()
    # Default biasing words = the hotwords that occur in the (normalised) reference.
    assert a.biasing_words == ("Anders Zorn",)
    assert b.biasing_words == ("灵山侠侣",)
    assert b.hotwords[0] == Hotword("灵山侠侣", 4, "zh")


@pytest.mark.parametrize(
    "row,message",
    [
        ("{not json", "m.jsonl:1: not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ({"id": "x", "audio": "a.wav"}, "'reference' is required"),
        ({"id": "x", "audio": "a.wav", "reference": "r", "language": "fr"}, "language must be one of en, zh"),
        (
            {"id": "x", "audio": "a.wav", "reference": "r", "hotwords": [{"text": "ok", "weight": 9}]},
            'vocabulary[0] ("ok"): weight must be from 1 to 5',
        ),
        ({"id": "x", "audio": "missing.wav", "reference": "r"}, "audio file not found"),
        ({"id": "x", "audio": "a.wav", "reference": "r", "hotwords_file": "nope.txt"}, "hotwords_file not found"),
        (
            {"id": "x", "audio": "a.wav", "reference": "r", "hotwords": [], "hotwords_file": "h.txt"},
            "either 'hotwords' or 'hotwords_file'",
        ),
        ({"id": "x", "audio": "a.wav", "reference": "r", "biasing_words": "zorn"}, "must be a list of strings"),
    ],
)
def test_manifest_errors_name_the_line_and_problem(tmp_path: Path, row: Any, message: str) -> None:
    write_wav(tmp_path / "a.wav", 0.1)
    path = write_manifest(tmp_path / "m.jsonl", [row])
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert message in str(info.value)
    assert "m.jsonl:1" in str(info.value)


def test_manifest_duplicate_ids_and_empty_file(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 0.1)
    row = {"id": "x", "audio": "a.wav", "reference": "r"}
    with pytest.raises(ManifestError, match=r"m.jsonl:2: duplicate id 'x' \(first on line 1\)"):
        load_manifest(write_manifest(tmp_path / "m.jsonl", [row, row]))
    with pytest.raises(ManifestError, match="no utterances"):
        load_manifest(write_manifest(tmp_path / "e.jsonl", [""]))
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "absent.jsonl")


def test_hotwords_file_text_and_json(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 0.1)
    (tmp_path / "h.txt").write_text("Zorn\t5\ntulip\n\n", encoding="utf-8")
    (tmp_path / "h.json").write_text(json.dumps([{"text": "Zorn", "weight": 2, "lang": "en"}]), encoding="utf-8")
    path = write_manifest(
        tmp_path / "m.jsonl",
        [
            {"id": "t", "audio": "a.wav", "reference": "zorn", "hotwords_file": "h.txt"},
            {"id": "j", "audio": "a.wav", "reference": "zorn", "hotwords_file": "h.json", "biasing_words": []},
        ],
    )
    t, j = load_manifest(path).utterances
    assert t.hotwords == (Hotword("Zorn", 5), Hotword("tulip", 4))
    assert t.biasing_words == ("Zorn",)
    assert j.hotwords == (Hotword("Zorn", 2, "en"),)
    assert j.biasing_words == ()


def test_shared_dir_env_replaces_the_shared_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_wav(tmp_path / "a.wav", 0.1)
    monkeypatch.setenv("HOTASR_SHARED_DIR", str(tmp_path))
    path = write_manifest(tmp_path / "sub.jsonl", [{"id": "x", "audio": "../shared/a.wav", "reference": "r"}])
    assert load_manifest(path).utterances[0].audio == tmp_path / "a.wav"


@pytest.mark.parametrize("name", ["librispeech_n100", "librispeech_n500", "aishell_s0252_n100", "aishell_s0252_n300"])
def test_committed_bench_sets_load(name: str) -> None:
    if not SHARED.is_dir():
        unavailable(f"shared data {SHARED}")
    manifest = load_manifest(REPO / "bench" / "sets" / f"{name}.jsonl")
    size = int(name.rsplit("_n", 1)[1])
    assert len(manifest) == (68 if name.startswith("libri") else 100)
    for utt in manifest:
        assert len(utt.hotwords) <= 500
        if name == "librispeech_n500" or name.startswith("aishell"):
            assert len(utt.hotwords) == size
        texts = {h.text for h in utt.hotwords}
        assert set(utt.biasing_words) <= texts


# --------------------------------------------------------------------------------------------
# runner with a fake recogniser
# --------------------------------------------------------------------------------------------


class FakeRecognizer:
    """Mode "none" misses the hotword, "prompt" hallucinates a distractor, "hotasr" gets it right."""

    OUTPUT: ClassVar[dict[tuple[str, str], str]] = {
        ("a", "none"): "Anders Sorn painted the lake.",
        ("a", "prompt"): "Anders Zorn painted the tulip lake.",
        ("a", "hotasr"): "Anders Zorn painted the lake.",
        ("b", "none"): "打開靈山下旅",
        ("b", "prompt"): "打开灵山侠侣",
        ("b", "hotasr"): "打開靈山俠侶。",
    }

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, tuple[str, ...], tuple[str, ...] | None]] = []

    def __call__(
        self,
        samples: np.ndarray,
        *,
        model: str,
        settings: Settings,
        hotwords: Sequence[Hotword] = (),
        language_hints: Sequence[str] | None = None,
        biasing: str = "hotasr",
    ) -> Transcript:
        seconds = len(samples) / 16000
        self.calls.append((seconds, biasing, tuple(h.text for h in hotwords), tuple(language_hints or ()) or None))
        uid = {2.0: "a", 1.5: "b"}.get(seconds)
        if uid is None:  # warm-up
            return Transcript(sentences=[])
        language = "zh" if uid == "b" else "en"
        text = self.OUTPUT[(uid, biasing)]
        return Transcript(sentences=[Sentence(0, int(seconds * 1000), text)], language=language)


def test_runner_scores_every_mode_in_one_run(two_utts: Path) -> None:
    fake = FakeRecognizer()
    seen: list[tuple[int, int]] = []
    report = evaluate(two_utts, recognizer=fake, progress=lambda done, total, _: seen.append((done, total)))

    timed = [c for c in fake.calls if c[0] in (1.5, 2.0)]
    assert len(timed) == 6 and len(fake.calls) == 9  # 2 utts x 3 modes + 3 warm-ups
    # The warm-up decodes the first utterance's opening with its list: the biased decoder is built untimed.
    warm_ups = [c for c in fake.calls[:3] if c[0] == 1.0]
    assert len(warm_ups) == 3 and ("hotasr", ("Anders Zorn", "tulip")) in [(c[1], c[2]) for c in warm_ups]
    assert all(c[2] == () for c in timed if c[1] == "none")  # baseline gets no hotwords
    assert ("Anders Zorn", "tulip") in [c[2] for c in timed if c[1] == "hotasr"]
    assert ("en",) in [c[3] for c in timed]
    assert seen[-1] == (6, 6)

    none_en, hot_en = report.score("none", "en"), report.score("hotasr", "en")
    assert none_en.errors.biased.error_rate == pytest.approx(50.0)  # "zorn" -> "sorn", 1 of 2 words
    assert none_en.errors.unbiased.error_rate == 0.0
    assert hot_en.errors.overall.error_rate == 0.0
    assert none_en.hotwords.recall == 0.0 and hot_en.hotwords.recall == 1.0
    prompt_en = report.score("prompt", "en")
    assert prompt_en.hotwords.precision == pytest.approx(0.5)  # hallucinated "tulip"
    assert prompt_en.errors.unbiased.ins == 1

    none_zh, hot_zh = report.score("none", "zh"), report.score("hotasr", "zh")
    assert none_zh.unit == "char" and none_zh.metric == "CER"
    assert none_zh.errors.biased.error_rate == pytest.approx(50.0)  # 侠侣 -> 下旅, traditional input
    assert hot_zh.errors.overall.error_rate == 0.0
    assert hot_zh.rtf is not None and hot_zh.rtf >= 0.0
    assert hot_zh.audio_seconds == pytest.approx(1.5)

    data = json.loads(report.to_json())
    assert [s["mode"] for s in data["scores"]] == ["none", "none", "prompt", "prompt", "hotasr", "hotasr"]
    assert data["scores"][0]["B-WER"] == pytest.approx(50.0)
    assert data["scores"][1]["B-CER"] == pytest.approx(50.0)
    assert len(data["utterances"]) == 6
    md = report.to_markdown()
    assert "| hotasr | zh | 1 | 0.00 | 0.00 | 0.00 | 1.000 | 1.000 |" in md
    assert "| none | en | 1 | 20.00 | 0.00 | 50.00 | 0.000 | n/a |" in md


def test_runner_limit_modes_and_errors(two_utts: Path) -> None:
    fake = FakeRecognizer()
    report = evaluate(two_utts, recognizer=fake, modes=("hotasr",), limit=1)
    assert [(s.mode, s.language, s.utterances) for s in report.scores] == [("hotasr", "en", 1)]
    with pytest.raises(EvaluationError, match="modes must be among"):
        evaluate(two_utts, recognizer=fake, modes=("shallow",))

    def broken(samples: np.ndarray, **_: Any) -> Transcript:
        if len(samples) == 32000:
            raise RuntimeError("engine exploded")
        return Transcript(sentences=[])

    with pytest.raises(EvaluationError, match=r"a: recognition failed in mode 'none': engine exploded"):
        evaluate(two_utts, recognizer=broken)


# --------------------------------------------------------------------------------------------
# the real engine: Whisper tiny.en, 2 short LibriSpeech utterances, 3 modes (< 60 s on 2 cores)
# --------------------------------------------------------------------------------------------

@pytest.mark.model
@pytest.mark.timeout(180)
def test_real_engine_two_utterances(tmp_path: Path) -> None:
    if not (LIBRI / "1089-134686-0001.flac").is_file():
        unavailable(f"shared LibriSpeech audio {LIBRI}")
    hotwords = [{"text": w, "weight": 4} for w in ("counselled", "belly", "zorn")]
    path = write_manifest(
        tmp_path / "m.jsonl",
        [
            {
                "id": "1089-134686-0001",
                "audio": str(LIBRI / "1089-134686-0001.flac"),
                "reference": "stuff it into you his belly counselled him",
                "hotwords": hotwords,
                "biasing_words": ["belly", "counselled"],
                "language": "en",
            },
            {
                "id": "1089-134691-0000",
                "audio": str(LIBRI / "1089-134691-0000.flac"),
                "reference": "he could wait no longer",
                "hotwords": hotwords,
                "language": "en",
            },
        ],
    )
    settings = Settings(models={"fun-asr": ModelRoute(weights="whisper-tiny.en")})
    report = evaluate(path, settings=settings)
    assert [s.mode for s in report.scores] == ["none", "prompt", "hotasr"]
    for score in report.scores:
        assert score.utterances == 2
        assert score.errors.overall.ref_words == 13
        assert score.errors.biased.ref_words == 2
        assert score.errors.overall.error_rate is not None and score.errors.overall.error_rate < 60
        assert score.rtf is not None and math.isfinite(score.rtf) and score.rtf > 0
    assert all(r.hypothesis.strip() for r in report.results)
    # The point of the product: biasing must not lose hotwords the baseline found.
    assert report.score("hotasr").hotwords.recall >= report.score("none").hotwords.recall


# --------------------------------------------------------------------------------------------
# the `hotasr eval` command
# --------------------------------------------------------------------------------------------


def _cli(args: list[str]) -> tuple[int, str]:
    from typer.testing import CliRunner

    from hotasr.cli import app

    result = CliRunner().invoke(app, ["eval", *args])
    text = result.output
    with contextlib.suppress(ValueError):  # older click mixes stderr into output and has no .stderr
        text += result.stderr
    return result.exit_code, " ".join(text.split())


def test_cli_errors_are_clean(two_utts: Path, tmp_path: Path) -> None:
    code, text = _cli([str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "error: manifest not found" in text and "Traceback" not in text
    code, text = _cli([str(two_utts), "--modes", "none,shallow"])
    assert code == 2
    assert "--modes takes a comma-separated subset of none,prompt,hotasr" in text


def test_cli_writes_json_and_markdown(two_utts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hotasr.evaluation.runner as runner

    monkeypatch.setattr(runner, "_default_recognizer", FakeRecognizer)
    out = tmp_path / "report"
    code, text = _cli([str(two_utts), "--out", str(out), "--modes", "none,hotasr"])
    assert code == 0, text
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [s["mode"] for s in data["scores"]] == ["none", "none", "hotasr", "hotasr"]
    assert "| hotasr | zh | 1 | 0.00 |" in (out / "report.md").read_text(encoding="utf-8")
    assert "| none | en | 1 | 20.00 |" in text
