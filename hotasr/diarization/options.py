"""The knobs of diarization (one object) and what it returns: small frozen dataclasses.

Why this module exists: every stage (speech regions, windows, clustering, smoothing, assignment)
reads its constants from one `DiarizationOptions`, so the benchmark can tune them in one place and
adapters only ever set `speaker_count`. The defaults were chosen on the tuning half of the
two-speaker LibriSpeech conversations only (three voices; with them also joined into three-voice
files and single-voice files, and with an overstated speaker_count), never on the checking half
or the AMI excerpt, which are held out, except the window length: see BENCHMARKS.md §7.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_SPEAKERS = 2  # DashScope's range for speaker_count
MAX_SPEAKERS = 100


@dataclass(frozen=True, slots=True)
class DiarizationOptions:
    # The number of speakers (None: estimated). Taken as the most there are: a voice may end up with
    # no turns (given_absorb_small); DashScope documents it as a reference value the output is not
    # guaranteed to match.
    speaker_count: int | None = None
    max_speakers: int = 8  # the most speakers an estimate may find
    # Speech regions (Silero VAD): tuned for meetings, where turns follow each other closely.
    vad_threshold: float = 0.4
    vad_min_silence_ms: int = 200
    vad_pad_ms: int = 0
    min_region_ms: int = 200  # speech shorter than this gets no window of its own
    # Region edges grow over neighbouring audio at least edge_above_noise_db above the file's
    # background, at most edge_max_ms a side (0: not at all).
    edge_max_ms: int = 500
    edge_above_noise_db: float = 3.0
    # Embedding windows inside speech: the length x-vector pipelines use. Shorter ones straddle fewer
    # changes of speaker but tell the voices of one meeting apart worse (BENCHMARKS.md §7). A hop of
    # 1000 ms, which the tuning half could not tell from 750, makes the count estimate split one voice.
    window_ms: int = 1500
    hop_ms: int = 750
    # Clustering costs the cube of the windows: beyond this many, runs of consecutive windows are
    # clustered instead of single windows.
    max_cluster_items: int = 1000
    # Spectral clustering: each row of the affinity keeps its strongest `prune` fraction.
    prune: float = 0.25
    center: bool = False  # subtract the file's mean embedding before clustering
    # How windows are grouped once the count is known: "ahc" (average linkage on cosine similarity:
    # with a count too high, the extra group is a few stray windows) or "spectral" (k-means on the
    # Laplacian's eigenvectors: cuts a talkative voice in two instead).
    method: str = "ahc"
    # With an estimated count: two clusters whose centroids are this similar are one speaker.
    merge_similarity: float = 0.85
    # A speaker needs this many windows (about hop_ms each) of speech: smaller clusters join their
    # nearest (with a given count: given_absorb_small, and they do not count as one of two voices).
    min_speaker_windows: int = 4
    # With a given count, a cluster of fewer than min_speaker_windows windows joins its nearest (never
    # below two): a count one too high otherwise keeps a few stray windows as a voice.
    given_absorb_small: bool = True
    # ...and clusters merge_similarity alike are joined too: better on the tuning half, but that
    # threshold joins the voices of one meeting (BENCHMARKS.md §7), overruling the caller's count.
    given_merge_similar: bool = False
    # With a given count k, the file's own estimate (eigengap and its merges) may lower it to as few
    # as k - given_fewer_by, never below two (0: the count as given). DashScope calls speaker_count a
    # reference value; a named participant who hardly speaks is otherwise cut out of a real voice.
    # Off: the tuning half's three-voice files lose a voice where the estimate joins two (§7.5).
    given_fewer_by: int = 0
    # Frame-level labels: a speaker change costs this much (in cosine-similarity units per frame).
    frame_ms: int = 50
    switch_penalty: float = 1.0
    # A frame's score weighs each window that covers it by how near the window's middle it lies
    # (False: all alike); a window's edges hear the neighbouring turn.
    triangular_weights: bool = True
    # Passes of scoring the frames again against centroids of only the windows wholly inside one
    # speaker's frames once they are labelled (0: none): windows across a change blur the centroids.
    resegment_passes: int = 1
    # A speaker's pauses up to this long stay inside the turn.
    fill_gap_ms: int = 2000
    # Assigning sentences: a run of words shorter than this does not split a sentence.
    min_run_ms: int = 800

    def __post_init__(self) -> None:
        count = self.speaker_count
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or not MIN_SPEAKERS <= count <= MAX_SPEAKERS
        ):
            raise ValueError(f"speaker_count must be an integer from {MIN_SPEAKERS} to {MAX_SPEAKERS}, got {count!r}")


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """One speaker talking from begin_ms to end_ms; speakers are numbered 0.. in order of first turn."""

    begin_ms: int
    end_ms: int
    speaker: int


@dataclass(frozen=True, slots=True)
class Diarization:
    turns: tuple[SpeakerTurn, ...]
    speaker_count: int  # distinct speakers among the turns (0 without speech)
    estimated: bool  # True when the count was estimated, not given
