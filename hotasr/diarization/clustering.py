"""Which windows share a speaker: the count from a spectral eigengap, the groups by linkage, in numpy.

Why this module exists: the number of speakers is usually unknown; the eigengap of the normalised
Laplacian of a pruned cosine-affinity graph estimates it (Park et al., "Auto-tuning spectral
clustering for speaker diarization", 2019). Given the count, average-linkage clustering makes the
groups: when the count is too high (a named participant who hardly speaks), it leaves a few odd
windows on their own where k-means on the spectral embedding cut a real voice in two (k-means
remains an option), and a cluster of a few windows joins its nearest: the count is a most.
Deterministic: k-means is seeded.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hotasr.diarization.options import MIN_SPEAKERS, DiarizationOptions

_KMEANS_RESTARTS = 8
_KMEANS_ITERATIONS = 50


def cluster(embeddings: np.ndarray, options: DiarizationOptions) -> tuple[np.ndarray, bool]:
    """A label (0..k-1) per row of L2-normalised `embeddings` (in time order), and whether k was
    estimated. Both the eigen-decomposition and the linkage cost the cube of the rows, so a long
    file's windows are clustered in runs of consecutive windows, at most `max_cluster_items` runs."""
    size = -(-len(embeddings) // options.max_cluster_items) if len(embeddings) else 1
    if size > 1:
        labels, estimated = _cluster(run_means(embeddings, size), options)
        return compact(np.repeat(labels, size)[: len(embeddings)]), estimated
    return _cluster(embeddings, options)


def run_means(embeddings: np.ndarray, size: int) -> np.ndarray:
    """The L2-normalised mean of each run of `size` consecutive rows (the last run may be shorter)."""
    sums = np.add.reduceat(embeddings, np.arange(0, len(embeddings), size), axis=0)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def _cluster(embeddings: np.ndarray, options: DiarizationOptions) -> tuple[np.ndarray, bool]:
    n = len(embeddings)
    fixed = options.speaker_count
    if n <= 1:
        return np.zeros(n, np.int64), fixed is None
    if fixed is not None:
        fixed = trusted_count(embeddings, fixed, options)
    if fixed is not None and options.method == "ahc":
        k = min(fixed, n)  # no eigengap to read: the Laplacian is not needed
        vectors = np.zeros((n, 0))
    else:
        values, vectors = laplacian_eigen(pruned_affinity(embeddings, options.prune))
        k = min(fixed, n) if fixed is not None else eigengap_count(values, min(options.max_speakers, n - 1))
    if k <= 1:
        return np.zeros(n, np.int64), fixed is None
    if options.method == "ahc":
        labels = agglomerative(embeddings, k, options.min_speaker_windows)
    else:
        features = vectors[:, :k]
        features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        labels = kmeans(features, k)
    if fixed is None:
        labels = merge_similar(embeddings, labels, options.merge_similarity)
        labels = absorb_small(embeddings, labels, options.min_speaker_windows)
    else:
        labels = at_most(embeddings, labels, options)
    return labels, fixed is None


def trusted_count(embeddings: np.ndarray, given: int, options: DiarizationOptions) -> int:
    """The count to cluster to when `given` was asked for: the file's own estimate (eigengap, its
    merges and joins, as with no count) clamped to [max(2, given - given_fewer_by), given]. A caller
    may name a participant who says a word or two; cutting a real voice in two to make that speaker
    costs more than leaving the word to a neighbour. Never more than given, never below two."""
    if options.given_fewer_by <= 0:
        return given
    labels, _ = _cluster(embeddings, replace(options, speaker_count=None))
    estimate = int(labels.max()) + 1 if len(labels) else 1
    return max(MIN_SPEAKERS, given - options.given_fewer_by, min(given, estimate))


def at_most(embeddings: np.ndarray, labels: np.ndarray, options: DiarizationOptions) -> np.ndarray:
    """A given count's clusters, some joined: the count is the most there are. A cluster of fewer
    than min_speaker_windows windows is a few stray windows or a participant who says less than a
    window, not a voice, while a count one too high otherwise makes it one (given_absorb_small).
    Optionally, clusters as alike as the estimate's merge_similarity are joined (given_merge_similar:
    a talkative voice cut in two). Never below two clusters: the caller said there is more than one
    voice."""
    if options.given_merge_similar:
        labels = merge_similar(embeddings, labels, options.merge_similarity, fewest=MIN_SPEAKERS)
    if options.given_absorb_small:
        labels = absorb_small(embeddings, labels, options.min_speaker_windows, fewest=MIN_SPEAKERS)
    return labels


def centered(embeddings: np.ndarray) -> np.ndarray:
    """Embeddings less the file's mean embedding, L2-normalised again. GE2E embeddings are
    non-negative (ReLU), so raw cosine similarities crowd into 0.6-0.9; what the voices of one
    recording share is removed and their differences stand out."""
    x = embeddings - embeddings.mean(axis=0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pruned_affinity(embeddings: np.ndarray, prune: float) -> np.ndarray:
    """Cosine similarities, each row keeping its strongest `prune` fraction, symmetrised."""
    sim = np.clip(embeddings @ embeddings.T, 0.0, 1.0)
    n = len(sim)
    keep = max(2, int(np.ceil(prune * n)))
    if keep < n:
        threshold = np.partition(sim, n - keep, axis=1)[:, n - keep][:, None]
        sim = np.where(sim >= threshold, sim, 0.0)
    return (sim + sim.T) / 2


def laplacian_eigen(affinity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues and eigenvectors of the symmetric normalised Laplacian."""
    a = affinity.copy()
    np.fill_diagonal(a, 0.0)
    degree = np.maximum(a.sum(axis=1), 1e-10)
    scale = 1.0 / np.sqrt(degree)
    laplacian = np.eye(len(a)) - scale[:, None] * a * scale[None, :]
    return np.linalg.eigh(laplacian)


def eigengap_count(values: np.ndarray, max_k: int) -> int:
    """k (2..max_k) with the widest gap between the k-th and (k+1)-th smallest eigenvalues.

    One speaker is not read from the eigengap (a single voice still splits into loose groups);
    `merge_similar` joins clusters that are one voice afterwards.
    """
    if max_k < 2 or len(values) < 3:
        return 1
    gaps = np.diff(values[: max_k + 1])
    return int(np.argmax(gaps[1:])) + 2


def kmeans(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Labels of the best of a few seeded k-means++ runs (lowest inertia)."""
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(_KMEANS_RESTARTS):
        centres = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
            total = d.sum()
            centres.append(x[rng.choice(len(x), p=d / total)] if total > 0 else x[rng.integers(len(x))])
        c = np.array(centres)
        labels = np.zeros(len(x), np.int64)
        for _ in range(_KMEANS_ITERATIONS):
            d = ((x[:, None, :] - c[None]) ** 2).sum(-1)
            new = d.argmin(axis=1)
            if _ > 0 and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                if np.any(labels == j):
                    c[j] = x[labels == j].mean(axis=0)
        inertia = ((x - c[labels]) ** 2).sum()
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    assert best is not None
    return compact(best)


def agglomerative(embeddings: np.ndarray, k: int, min_size: int = 1) -> np.ndarray:
    """Average-linkage clustering on cosine similarity down to k clusters. Unlike spectral
    clustering it leaves a small distinct group (a speaker who says little) on its own rather
    than cutting a talkative speaker in two.

    But a group of fewer than `min_size` rows is no voice: if the k clusters hold fewer than two of
    at least that size (one odd window kept apart, all the voices in the other cluster), the result
    is the last level that still had two such clusters, its smaller groups joined to the nearest.
    """
    n = len(embeddings)
    sim = (embeddings @ embeddings.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    sizes = np.ones(n)
    members = np.arange(n)
    two_voices = None  # membership at the last level with two clusters of min_size or more
    for _ in range(n - k):
        i, j = np.unravel_index(int(np.argmax(sim)), sim.shape)
        i, j = min(i, j), max(i, j)
        if np.sum(sizes >= min_size) >= 2:
            two_voices = members.copy()
        merged = (sim[i] * sizes[i] + sim[j] * sizes[j]) / (sizes[i] + sizes[j])
        merged[i] = -np.inf
        sim[i], sim[:, i] = merged, merged
        sim[j], sim[:, j] = -np.inf, -np.inf
        sizes[i] += sizes[j]
        sizes[j] = 0
        members[members == j] = i
    if np.sum(sizes >= min_size) < 2 and two_voices is not None:
        return join_small(embeddings, compact(two_voices), min_size)
    return compact(members)


def join_small(embeddings: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Each cluster of fewer than `min_size` rows joined to the most similar cluster of at least
    that size."""
    sizes = np.bincount(labels)
    big = np.flatnonzero(sizes >= min_size)
    c = centroids(embeddings, labels)
    nearest = big[np.argmax(c @ c[big].T, axis=1)]
    return compact(np.where(sizes[labels] >= min_size, labels, nearest[labels]))


def centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The L2-normalised mean embedding of each label 0..max."""
    k = int(labels.max()) + 1 if len(labels) else 0
    c = np.stack([embeddings[labels == j].mean(axis=0) for j in range(k)]) if k else np.zeros((0, 256))
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def merge_similar(embeddings: np.ndarray, labels: np.ndarray, threshold: float, fewest: int = 1) -> np.ndarray:
    """Join the two most similar clusters while their centroids' cosine similarity >= threshold
    and more than `fewest` clusters remain."""
    labels = compact(labels)
    while labels.max() + 1 > fewest:
        c = centroids(embeddings, labels)
        sim = c @ c.T
        np.fill_diagonal(sim, -1.0)
        i, j = np.unravel_index(int(np.argmax(sim)), sim.shape)
        if sim[i, j] < threshold:
            break
        labels = compact(np.where(labels == max(i, j), min(i, j), labels))
    return labels


def absorb_small(embeddings: np.ndarray, labels: np.ndarray, min_windows: int, fewest: int = 1) -> np.ndarray:
    """Clusters of fewer than `min_windows` windows join their most similar cluster while more than
    `fewest` remain: a few seconds are too little to tell a new voice from a change of tone."""
    labels = compact(labels)
    while labels.max() + 1 > fewest:
        sizes = np.bincount(labels)
        small = int(np.argmin(sizes))
        if sizes[small] >= min_windows:
            break
        c = centroids(embeddings, labels)
        sim = c @ c[small]
        sim[small] = -np.inf
        labels = compact(np.where(labels == small, int(np.argmax(sim)), labels))
    return labels


def compact(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 in order of first appearance."""
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(x), len(order)) for x in labels], np.int64)
