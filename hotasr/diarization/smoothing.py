"""From window labels to speaker turns: frame scores against each speaker, then Viterbi.

Why this module exists: overlapping windows disagree near a speaker change and a single odd window
makes a spurious turn. Each short frame of speech is scored by the mean similarity of the windows
that cover it to each speaker's centroid; a Viterbi pass with a cost per change picks the label
sequence, which places turns between window hops and drops blips. Then the frames are scored again
against centroids of the windows that do not cross a change (resegmentation).
"""

from __future__ import annotations

import numpy as np

from hotasr.diarization.clustering import centroids
from hotasr.diarization.options import DiarizationOptions, SpeakerTurn
from hotasr.diarization.windows import Window


def speaker_turns(
    regions: list[tuple[int, int]],
    windows: list[Window],
    embeddings: np.ndarray,
    labels: np.ndarray,
    options: DiarizationOptions,
) -> list[SpeakerTurn]:
    if not windows or not regions:
        return []
    k = int(labels.max()) + 1
    if k == 1:
        return join_turns([SpeakerTurn(b, e, 0) for b, e in regions], options.fill_gap_ms)
    step = options.frame_ms
    frames: list[tuple[int, int]] = []  # (begin_ms, end_ms) of each speech frame
    for begin, end in regions:
        frames.extend((t, min(t + step, end)) for t in range(begin, end, step))
    centres = np.array([(b + e) / 2 for b, e in frames])
    spans = np.array([(w.begin_ms, w.end_ms) for w in windows], dtype=np.float64)
    centre = centroids(embeddings, labels)
    scores = frame_scores(centres, spans, embeddings @ centre.T, options.triangular_weights)
    path = viterbi(scores, options.switch_penalty)
    for _ in range(options.resegment_passes):
        centre = pure_centroids(centres, spans, embeddings, path, centre)
        scores = frame_scores(centres, spans, embeddings @ centre.T, options.triangular_weights)
        path = viterbi(scores, options.switch_penalty)
    turns = [SpeakerTurn(b, e, int(label)) for (b, e), label in zip(frames, path, strict=True)]
    return renumber(join_turns(turns, options.fill_gap_ms))


def frame_scores(centres: np.ndarray, spans: np.ndarray, sims: np.ndarray, triangular: bool) -> np.ndarray:
    """(frames, k): each frame's weighted mean similarity to each speaker over the windows that cover
    it (with `triangular`, a window counts most at its middle and least at its edges, which hear the
    neighbouring turn); a frame no window covers (a region edge) takes its nearest window's.
    `centres` are in time order, so each window covers a run of frames: memory stays linear in the
    frames on hour-long files."""
    total = np.zeros((len(centres), sims.shape[1]))
    weights = np.zeros(len(centres))
    for (begin, end), (lo, hi), sim in zip(spans, covered_frames(centres, spans), sims, strict=True):
        if triangular:
            half = (end - begin) / 2
            w = np.maximum(1.0 - np.abs(centres[lo:hi] - (begin + half)) / half, 1e-3)
        else:
            w = np.ones(hi - lo)
        total[lo:hi] += w[:, None] * sim[None, :]
        weights[lo:hi] += w
    scores = total / np.maximum(weights, 1e-12)[:, None]
    lonely = np.flatnonzero(weights == 0)
    if len(lonely):
        mids = spans.mean(axis=1)
        scores[lonely] = sims[np.argmin(np.abs(mids[None, :] - centres[lonely, None]), axis=1)]
    return scores


def covered_frames(centres: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """(windows, 2): the [lo, hi) range of frames whose centre lies inside each window's span."""
    return np.stack([np.searchsorted(centres, spans[:, 0], "left"), np.searchsorted(centres, spans[:, 1], "left")], 1)


def pure_centroids(
    centres: np.ndarray, spans: np.ndarray, embeddings: np.ndarray, path: np.ndarray, previous: np.ndarray
) -> np.ndarray:
    """Each speaker's centroid again, from the windows that lie wholly inside that speaker's frames.
    A window across a change of speaker blends two voices and pulls both centroids together; once the
    frames are labelled, those windows are known and left out. A speaker with no such window keeps
    its centroid."""
    owner = np.full(len(spans), -1)
    for n, (lo, hi) in enumerate(covered_frames(centres, spans)):
        if hi > lo and np.all(path[lo:hi] == path[lo]):
            owner[n] = path[lo]
    out = previous.copy()
    for speaker in range(len(previous)):
        if np.any(owner == speaker):
            c = embeddings[owner == speaker].mean(axis=0)
            out[speaker] = c / max(float(np.linalg.norm(c)), 1e-12)
    return out


def join_turns(turns: list[SpeakerTurn], max_gap_ms: int) -> list[SpeakerTurn]:
    """Consecutive turns of one speaker with at most `max_gap_ms` between them become one turn:
    a speaker's short pauses are part of the turn (as in reference annotations)."""
    out: list[SpeakerTurn] = []
    for turn in turns:
        last = out[-1] if out else None
        if last and last.speaker == turn.speaker and turn.begin_ms - last.end_ms <= max_gap_ms:
            out[-1] = SpeakerTurn(last.begin_ms, max(last.end_ms, turn.end_ms), turn.speaker)
        else:
            out.append(turn)
    return out


def viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    """The label sequence maximising the summed scores less `penalty` per change of label."""
    t_count, k = scores.shape
    total = scores[0].copy()
    back = np.zeros((t_count, k), np.int64)
    for t in range(1, t_count):
        switch = total.max() - penalty
        best = int(total.argmax())
        stay = total >= switch
        back[t] = np.where(stay, np.arange(k), best)
        total = np.where(stay, total, switch) + scores[t]
    path = np.zeros(t_count, np.int64)
    path[-1] = int(total.argmax())
    for t in range(t_count - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def renumber(turns: list[SpeakerTurn]) -> list[SpeakerTurn]:
    """Speakers numbered 0.. in order of their first turn (DashScope counts from 0)."""
    order: dict[int, int] = {}
    return [SpeakerTurn(t.begin_ms, t.end_ms, order.setdefault(t.speaker, len(order))) for t in turns]
