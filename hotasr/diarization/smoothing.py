"""From window labels to speaker turns: frame scores against each speaker, then Viterbi.

Why this module exists: overlapping windows disagree near a speaker change and a single odd window
makes a spurious turn. Each short frame of speech is scored by the mean similarity of the windows
that cover it to each speaker's centroid; a Viterbi pass with a cost per change picks the label
sequence, which places turns between window hops and drops blips.
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
    sims = embeddings @ centroids(embeddings, labels).T  # (windows, k)
    frames: list[tuple[int, int]] = []  # (begin_ms, end_ms) of each speech frame
    for begin, end in regions:
        frames.extend((t, min(t + step, end)) for t in range(begin, end, step))
    centres = np.array([(b + e) / 2 for b, e in frames])
    begins = np.array([w.begin_ms for w in windows])
    ends = np.array([w.end_ms for w in windows])
    order = np.argsort(begins)
    begins, ends, sims = begins[order], ends[order], sims[order]
    scores = np.zeros((len(frames), k))
    mids = (begins + ends) / 2
    for f, c in enumerate(centres):
        covering = (begins <= c) & (ends > c)
        if covering.any():
            scores[f] = sims[covering].mean(axis=0)
        else:  # between windows (a region edge): the nearest window speaks for it
            scores[f] = sims[int(np.argmin(np.abs(mids - c)))]
    path = viterbi(scores, options.switch_penalty)
    turns = [SpeakerTurn(b, e, int(label)) for (b, e), label in zip(frames, path, strict=True)]
    return renumber(join_turns(turns, options.fill_gap_ms))


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
