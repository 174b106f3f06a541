"""Diarization without a server: the speaker model read without torch, each stage on small inputs,
and the whole pipeline on real speech (two LibriSpeech speakers, one voice, silence, a tone)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hotasr.diarization import DiarizationOptions, SpeakerTurn, diarize, label_transcript
from hotasr.diarization import model as speaker_model
from hotasr.diarization.assign import speaker_of
from hotasr.diarization.clustering import cluster, merge_similar, trusted_count
from hotasr.diarization.model import SpeakerEncoder, converted_weights, mel_frames, read_checkpoint
from hotasr.diarization.smoothing import frame_scores, pure_centroids, viterbi
from hotasr.diarization.speech import extend_edges, noise_floor
from hotasr.engine import weights as engine_weights
from hotasr.engine.weights import WeightsError
from hotasr.transcript import Sentence, Transcript, Word
from tests.diarization_fixtures import MAN, WOMAN, speech, two_speaker_audio


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


# -- the model ----------------------------------------------------------------------------------


def test_weights_are_converted_once_verified_and_rebuilt_when_corrupt(cache: Path) -> None:
    npz = converted_weights(cache)
    marker = json.loads((npz.parent / "hotasr-converted.json").read_text())
    assert marker["size"] == npz.stat().st_size and marker["source_sha256"] == speaker_model.CHECKPOINT_SHA256
    with np.load(npz) as data:
        assert data["lstm.weight_ih_l0"].shape == (1024, 40) and data["linear.weight"].shape == (256, 256)
    assert "torch" not in sys.modules  # read by the restricted unpickler, never through torch

    other = cache / "corrupt"
    broken = converted_weights(other)
    raw = bytearray(broken.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, different bytes
    broken.write_bytes(bytes(raw))
    engine_weights._verified.clear()  # the size and mtime may not have changed: hash again
    rebuilt = converted_weights(other)
    assert rebuilt.read_bytes() == npz.read_bytes()


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(speaker_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match=r"pip install --no-deps resemblyzer==0\.1\.4"):
        converted_weights(tmp_path)


def test_checkpoint_reader_refuses_code(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        for obj in (speaker_model._LEGACY_MAGIC, 1001, {}):
            pickle.dump(obj, f)
        f.write(pickle.dumps(print))  # a global a weights file never holds
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.print"):
        read_checkpoint(path)


def test_encoder_embeds_unit_vectors_of_mel_windows(cache: Path) -> None:
    samples = speech(MAN, 3)
    mel = mel_frames(samples)
    assert mel.shape == (301, 40) and (mel >= 0).all()  # power, not log: Resemblyzer's input
    encoder = SpeakerEncoder.load(cache)
    embeddings = encoder.embed(np.stack([mel[:160], mel[100:260]]))
    assert embeddings.shape == (2, 256)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert float(embeddings[0] @ embeddings[1]) > 0.8  # one voice
    # The ONNX Runtime LSTM computes what the numpy one (checked against torch) does.
    reference = encoder.embed_reference(np.stack([mel[:160], mel[100:260]]))
    assert np.abs(embeddings - reference).max() < 1e-5


# -- stages -----------------------------------------------------------------------------------------


def _blobs(sizes: list[int], seed: int = 0, spread: float = 0.15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        centre = np.abs(rng.normal(size=256))
        rows.append(centre + spread * np.linalg.norm(centre) / 16 * rng.normal(size=(size, 256)))
    x = np.concatenate(rows)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_clustering_finds_the_groups_or_takes_the_count() -> None:
    x = _blobs([30, 20, 25])
    labels, estimated = cluster(x, DiarizationOptions())
    assert estimated and list(labels[:1]) == [0]
    assert [len(set(labels[a:b])) for a, b in ((0, 30), (30, 50), (50, 75))] == [1, 1, 1]
    assert len(set(labels)) == 3
    fixed, estimated = cluster(x, DiarizationOptions(speaker_count=2))
    assert not estimated and len(set(fixed)) == 2
    one, _ = cluster(_blobs([40]), DiarizationOptions())
    assert set(one) == {0}
    assert list(merge_similar(x, np.array([0] * 30 + [1] * 45), 0.999)) == [0] * 30 + [1] * 45


def test_viterbi_drops_blips_but_keeps_turns() -> None:
    scores = np.array([[0.9, 0.5]] * 10 + [[0.5, 0.9]] + [[0.9, 0.5]] * 10 + [[0.5, 0.9]] * 10)
    assert list(viterbi(scores, 0.0)) == [0] * 10 + [1] + [0] * 10 + [1] * 10
    assert list(viterbi(scores, 1.0)) == [0] * 21 + [1] * 10


def test_frames_trust_the_middle_of_a_window_and_centroids_leave_out_windows_across_a_change() -> None:
    # Two windows over 0-2000 ms, one per speaker: at 500 ms both cover the frame, but the first
    # window's middle is there and the second's edge; with equal weights the frame is a tie.
    centres = np.array([500.0, 1500.0, 2500.0])
    spans = np.array([[0.0, 1000.0], [0.0, 2000.0], [1000.0, 3000.0]])
    sims = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    flat = frame_scores(centres, spans, sims, triangular=False)
    assert np.allclose(flat[0], [0.7, 0.3]) and np.allclose(flat[2], [0.1, 0.9])
    tilted = frame_scores(centres, spans, sims, triangular=True)
    assert tilted[0, 0] > flat[0, 0] and np.allclose(tilted[2], [0.1, 0.9])
    # Once the frames are labelled 0, 1, 1, the window over 0-2000 ms crosses the change: it is left
    # out of both speakers' centroids, which are the first window's and the last one's.
    embeddings = np.eye(3)
    refined = pure_centroids(centres, spans, embeddings, np.array([0, 1, 1]), np.zeros((2, 3)))
    assert np.allclose(refined, [[1, 0, 0], [0, 0, 1]])


def test_speech_edges_grow_over_audio_above_the_background_only() -> None:
    # 10 ms frame levels: background at -60 dB, a soft onset (-45 dB) for 200 ms before the region
    # the VAD found, speech at -20 dB, then background again; digital silence at the very end.
    levels = np.array([-60.0] * 50 + [-45.0] * 20 + [-20.0] * 100 + [-60.0] * 50 + [-240.0] * 200)
    floor = noise_floor(levels)
    assert floor == pytest.approx(-60.0)  # the exact zeros are no room's background
    assert extend_edges(levels, [(700, 1700)], floor + 3, 500) == [(500, 1700)]  # onset joined, not the noise
    assert extend_edges(levels, [(700, 1700)], floor + 3, 100) == [(600, 1700)]  # at most max_ms a side
    assert extend_edges(levels, [(700, 1700)], -30.0, 500) == [(700, 1700)]  # a high floor: unchanged


def test_an_overstated_count_leaves_one_voice_whole() -> None:
    # Average linkage to k: with one speaker too many, a stray window is a group of its own, rather
    # than a talkative voice being cut in two (which then joins its nearest: given_absorb_small).
    x = _blobs([30, 25])
    labels, _ = cluster(x, DiarizationOptions(speaker_count=3, given_absorb_small=False))
    assert len(set(labels[:30])) == 1 or len(set(labels[30:])) == 1
    assert min(np.bincount(labels)) < 10


def test_a_given_count_is_a_most_never_below_two() -> None:
    # Asked for three with two voices, linkage keeps two stray windows apart as a "voice"; a cluster
    # of fewer than min_speaker_windows joins its nearest. Never below two clusters.
    x = _blobs([60, 25], spread=1.0)
    kept, _ = cluster(x, DiarizationOptions(speaker_count=3, given_absorb_small=False))
    assert list(np.bincount(kept)) == [58, 2, 25]
    labels, estimated = cluster(x, DiarizationOptions(speaker_count=3))
    assert not estimated and list(np.bincount(labels)) == [60, 25]
    two, _ = cluster(x, DiarizationOptions(speaker_count=2, min_speaker_windows=100))  # both "small"
    assert len(set(two)) == 2


def test_a_given_count_may_yield_to_the_estimate_by_given_fewer_by_never_below_two() -> None:
    # given_fewer_by (off by default: worse on the tuning half, BENCHMARKS.md §7.5): the file's own
    # estimate may lower a given count by that many. Two clear voices asked as three come out as two
    # (linkage alone, small groups kept, gives three); asked as four with one to spare, three; one
    # voice asked as two stays two.
    x = _blobs([30, 25])
    kept, _ = cluster(x, DiarizationOptions(speaker_count=3, given_absorb_small=False))
    assert len(set(kept)) == 3
    on = DiarizationOptions(speaker_count=3, given_absorb_small=False, given_fewer_by=1)
    labels, estimated = cluster(x, on)
    assert not estimated and list(np.bincount(labels)) == [30, 25]
    assert trusted_count(x, 4, DiarizationOptions(given_fewer_by=1)) == 3
    assert trusted_count(x, 4, DiarizationOptions(given_fewer_by=2)) == 2
    assert trusted_count(x, 4, DiarizationOptions()) == 4
    one = _blobs([40])
    assert trusted_count(one, 2, DiarizationOptions(given_fewer_by=5)) == 2
    assert len(set(cluster(one, DiarizationOptions(speaker_count=2, given_fewer_by=5))[0])) == 2


def test_a_voice_cut_in_two_is_joined_only_when_asked() -> None:
    # One voice in two tones (centroids 0.87 alike) and another voice, asked for three: linkage cuts
    # the first voice in two. By default the count is trusted (one meeting's voices can be that
    # alike); with given_merge_similar the estimate's merge rule joins it, never below two.
    rng = np.random.default_rng(1)
    voice, other = np.abs(rng.normal(size=256)), np.abs(rng.normal(size=256))
    tone = voice + 0.5 * np.linalg.norm(voice) / 16 * rng.normal(size=256)

    def windows(centre: np.ndarray, n: int) -> np.ndarray:
        x = centre + 0.1 * np.linalg.norm(centre) / 16 * rng.normal(size=(n, 256))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    x = np.concatenate([windows(voice, 30), windows(tone, 30), windows(other, 25)])
    assert list(np.bincount(cluster(x, DiarizationOptions(speaker_count=3))[0])) == [30, 30, 25]
    merged, _ = cluster(x, DiarizationOptions(speaker_count=3, given_merge_similar=True))
    assert list(np.bincount(merged)) == [60, 25]
    alike, _ = cluster(x, DiarizationOptions(speaker_count=2, given_merge_similar=True, merge_similarity=-1.0))
    assert len(set(alike)) == 2


def test_one_odd_window_is_not_a_speaker_of_a_given_count() -> None:
    # Two voices and one stray window: linkage to two clusters would keep the stray window apart and
    # put both voices together; a group below min_speaker_windows does not count as a voice.
    x = _blobs([20, 20])
    stray = -x.mean(axis=0)
    x = np.concatenate([stray[None] / np.linalg.norm(stray), x])
    labels, _ = cluster(x, DiarizationOptions(speaker_count=2))
    assert len(set(labels[1:21])) == 1 and len(set(labels[21:])) == 1 and labels[1] != labels[21]


def test_many_windows_are_clustered_in_runs() -> None:
    # A long file: more windows than max_cluster_items are grouped in runs of consecutive windows;
    # each window gets its run's label, and the speakers are still told apart.
    x = _blobs([60, 40, 50])
    labels, _ = cluster(x, DiarizationOptions(speaker_count=3, max_cluster_items=40))
    assert len(labels) == 150 and set(labels) == {0, 1, 2}
    assert [len(set(labels[a + 4 : b - 4])) for a, b in ((0, 60), (60, 100), (100, 150))] == [1, 1, 1]


def test_speaker_count_outside_2_to_100_is_refused() -> None:
    for bad in (1, 101, 2.5, True, "2"):
        with pytest.raises(ValueError, match="speaker_count"):
            DiarizationOptions(speaker_count=bad)  # type: ignore[arg-type]


def _words(spec: list[tuple[int, int, str]]) -> list[Word]:
    return [Word(b, e, t) for b, e, t in spec]


def test_sentences_split_where_the_speaker_changes() -> None:
    turns = [SpeakerTurn(0, 3000, 1), SpeakerTurn(3000, 6000, 0), SpeakerTurn(7000, 9000, 1)]
    mixed = Sentence(500, 5800, "one two three four five six.", _words([
        (500, 900, "one"), (1000, 1800, "two"), (2000, 2900, "three"),
        (3100, 3900, "four"), (4000, 4800, "five"), (5000, 5800, "six."),
    ]))
    blip = Sentence(7000, 9000, "seven eight nine", _words([(7000, 7600, "seven"), (7700, 8300, "eight"),
                                                             (8400, 9000, "nine")]))
    no_words = Sentence(6200, 6900, "hm", [])
    out = label_transcript(Transcript([mixed, no_words, blip], "en", 9000), turns, DiarizationOptions())
    assert [(s.text, s.speaker_id, s.begin_ms, s.end_ms) for s in out.sentences] == [
        ("one two three", 0, 500, 2900),  # renumbered: the first speaker heard is 0
        ("four five six.", 1, 3100, 5800),
        ("hm", 0, 6200, 6900),  # no overlap: the nearest turn (7000) gives its speaker
        ("seven eight nine", 0, 7000, 9000),
    ]
    # A word or two of another speaker inside a sentence (shorter than min_run_ms) does not split it.
    short = [SpeakerTurn(0, 4000, 0), SpeakerTurn(4000, 4500, 1), SpeakerTurn(4500, 9000, 0)]
    one = label_transcript(Transcript([blip, mixed], "en", 9000), short, DiarizationOptions(min_run_ms=1000))
    assert [(s.speaker_id, len(s.words)) for s in one.sentences] == [(0, 3), (0, 6)]
    assert speaker_of(0, 100, []) == 0


# -- the pipeline on real audio --------------------------------------------------------------------------


@pytest.mark.parametrize("count", [None, 2])
def test_two_speakers_are_told_apart(cache: Path, count: int | None) -> None:
    audio, reference = two_speaker_audio()
    result = diarize(audio, cache, DiarizationOptions(speaker_count=count))
    assert result.speaker_count == 2 and result.estimated == (count is None)
    # Every reference turn is labelled, over most of its length, with one speaker; man's two turns
    # share it, the woman's differs.
    labels = []
    for begin, end, _ in reference:
        covered: dict[int, int] = {}
        for t in result.turns:
            overlap = min(end, t.end_ms) - max(begin, t.begin_ms)
            if overlap > 0:
                covered[t.speaker] = covered.get(t.speaker, 0) + overlap
        best = max(covered, key=covered.__getitem__)
        assert covered[best] > 0.8 * (end - begin), (reference, result.turns)
        labels.append(best)
    assert labels[0] == labels[2] == 0 and labels[1] == 1


def test_one_voice_silence_and_a_tone(cache: Path) -> None:
    one = diarize(speech(WOMAN, 25), cache)
    assert one.speaker_count == 1 and {t.speaker for t in one.turns} == {0}
    assert diarize(np.zeros(16000 * 5, np.float32), cache).turns == ()
    t = np.arange(16000 * 5) / 16000
    chord = (0.2 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 554 * t))).astype(np.float32)
    assert diarize(chord, cache).speaker_count <= 1  # no crash; at most one "speaker"
    assert diarize(np.zeros(100, np.float32), cache).turns == ()
