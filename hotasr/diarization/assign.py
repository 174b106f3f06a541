"""Speaker ids on a transcript: each sentence gets the speaker of its words, split at turns.

Why this module exists: recognition and diarization segment the audio independently; DashScope
returns one `speaker_id` per sentence, so a sentence whose words belong to two speakers is split
where the speaker changes (by word timestamps). Runs of words shorter than `min_run_ms` are taken
as noise in the turn boundaries and stay with their neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence

from hotasr.diarization.options import DiarizationOptions, SpeakerTurn
from hotasr.transcript import Sentence, Transcript, Word, word_joiner


def speaker_of(begin_ms: int, end_ms: int, turns: Sequence[SpeakerTurn]) -> int:
    """The speaker overlapping begin..end the most; without overlap, the speaker of the nearest turn."""
    if not turns:
        return 0
    overlap: dict[int, int] = {}
    for t in turns:
        o = min(end_ms, t.end_ms) - max(begin_ms, t.begin_ms)
        if o > 0:
            overlap[t.speaker] = overlap.get(t.speaker, 0) + o
    if overlap:
        return max(overlap, key=lambda s: (overlap[s], -s))
    middle = (begin_ms + end_ms) / 2
    nearest = min(turns, key=lambda t: max(t.begin_ms - middle, middle - t.end_ms, 0))
    return nearest.speaker


def label_transcript(transcript: Transcript, turns: Sequence[SpeakerTurn], options: DiarizationOptions) -> Transcript:
    """A copy of `transcript` whose every sentence has a speaker_id (split at speaker changes)."""
    joiner = word_joiner(transcript.language)
    sentences: list[Sentence] = []
    for sentence in transcript.sentences:
        sentences.extend(_label_sentence(sentence, turns, options.min_run_ms, joiner))
    # Ids 0..n-1 in order of first appearance in the text: a speaker with turns but no words
    # (a cough, a word Whisper dropped) leaves no gap in the numbering.
    order: dict[int, int] = {}
    for sentence in sentences:
        if sentence.text.strip():
            sentence.speaker_id = order.setdefault(sentence.speaker_id or 0, len(order))
        else:
            sentence.speaker_id = order.get(sentence.speaker_id or 0, 0)
    return Transcript(sentences, transcript.language, transcript.duration_ms, list(transcript.warnings))


def _label_sentence(sentence: Sentence, turns: Sequence[SpeakerTurn], min_run_ms: int, joiner: str) -> list[Sentence]:
    if not sentence.words:
        return [_with_speaker(sentence, speaker_of(sentence.begin_ms, sentence.end_ms, turns))]
    runs = _runs(sentence.words, [speaker_of(w.begin_ms, w.end_ms, turns) for w in sentence.words], min_run_ms)
    if len(runs) == 1:
        return [_with_speaker(sentence, runs[0][0])]
    pieces = []
    for n, (speaker, words) in enumerate(runs):
        begin = sentence.begin_ms if n == 0 else words[0].begin_ms
        end = sentence.end_ms if n == len(runs) - 1 else words[-1].end_ms
        text = joiner.join(w.text.strip() + w.punctuation.strip() for w in words).strip()
        pieces.append(Sentence(begin, end, text, list(words), speaker))
    return pieces


def _with_speaker(sentence: Sentence, speaker: int) -> Sentence:
    return Sentence(sentence.begin_ms, sentence.end_ms, sentence.text, list(sentence.words), speaker)


def _runs(words: list[Word], speakers: list[int], min_run_ms: int) -> list[tuple[int, list[Word]]]:
    """Consecutive words of one speaker; a run shorter than min_run_ms joins the longer neighbour."""
    runs: list[tuple[int, list[Word]]] = []
    for word, speaker in zip(words, speakers, strict=True):
        if runs and runs[-1][0] == speaker:
            runs[-1][1].append(word)
        else:
            runs.append((speaker, [word]))
    while len(runs) > 1:
        spans = [r[1][-1].end_ms - r[1][0].begin_ms for r in runs]
        shortest = min(range(len(runs)), key=lambda i: spans[i])
        if spans[shortest] >= min_run_ms:
            break
        if shortest == 0:
            into = 1
        elif shortest == len(runs) - 1:
            into = shortest - 1
        else:
            into = shortest - 1 if spans[shortest - 1] >= spans[shortest + 1] else shortest + 1
        lo, hi = sorted((shortest, into))
        merged = (runs[into][0], runs[lo][1] + runs[hi][1])
        runs[lo : hi + 1] = [merged]
        # neighbours of the same speaker now touch: join them
        joined: list[tuple[int, list[Word]]] = []
        for r in runs:
            if joined and joined[-1][0] == r[0]:
                joined[-1] = (r[0], joined[-1][1] + r[1])
            else:
                joined.append(r)
        runs = joined
    return runs
