"""Beam search over our Whisper decoder (ONNX Runtime), with the hotword context graph applied per step.

Reproduces the decoding rules CTranslate2 / OpenAI Whisper use so faster-whisper's segmentation keeps
working: suppressed tokens, suppress-blank on the first step, the timestamp rules (timestamps come in
pairs, never decrease, the first one is at most `max_initial_timestamp_index`, and when the total
probability of timestamps beats every text token a timestamp is forced), and the length-normalised
final score.  The hotword bonus changes *which* hypotheses survive; the scores returned are the model's
own log-probabilities, so faster-whisper's fallback thresholds (avg_logprob) mean what they always did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import tokenizers

from hotasr.biasing.decoder import Decoder, DecoderState
from hotasr.biasing.graph import HotwordGraph, Transitions

_NEG = np.float32(-np.inf)
# A hypothesis ending in one phrase of up to `_LOOP_MAX_PERIOD` tokens said `_LOOP_REPEATS` times
# over is a loop (`_repeats_itself`).
_LOOP_REPEATS = 3
_LOOP_MAX_PERIOD = 12
# A biased search whose live hypotheses all end in one phrase of up to `_STUCK_MAX_PERIOD` tokens,
# said over at least `_LOOP_REPEATS` times and `_STUCK_SPAN` tokens, stops: none will end otherwise.
_STUCK_MAX_PERIOD = 32
_STUCK_SPAN = 32
# faster-whisper's default `no_speech_threshold`: above it, a window is taken for silence.
NO_SPEECH_THRESHOLD = 0.6


@dataclass(frozen=True, slots=True)
class SpecialTokens:
    eot: int
    sot: int
    no_timestamps: int
    timestamp_begin: int
    no_speech: int | None
    blank: tuple[int, ...]  # what suppress_blank forbids at the first step (besides EOT)
    always_suppressed: tuple[int, ...]  # specials that are never text (sot, task, language...)

    @classmethod
    def from_tokenizer(cls, tok: tokenizers.Tokenizer) -> SpecialTokens:
        def tid(name: str) -> int | None:
            return tok.token_to_id(name)

        eot = tid("<|endoftext|>")
        sot = tid("<|startoftranscript|>")
        no_ts = tid("<|notimestamps|>")
        if eot is None or sot is None or no_ts is None:
            raise ValueError("not a Whisper tokenizer: special tokens are missing")
        no_speech = tid("<|nospeech|>")
        if no_speech is None:
            no_speech = tid("<|nocaptions|>")
        blank = tuple(tok.encode(" ", add_special_tokens=False).ids)
        # Every special between EOT and <|notimestamps|> (sot, sot_prev, languages, tasks, nospeech).
        always = tuple(range(eot + 1, no_ts + 1))
        return cls(eot, sot, no_ts, no_ts + 1, no_speech, blank, always)


@dataclass(slots=True)
class GenerationResult:
    """What ctranslate2.models.WhisperGenerationResult holds that faster-whisper reads."""

    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float = 0.0
    looped: bool = False  # hotasr's own: the search stopped in a loop (`_stuck_in_a_loop`)


@dataclass(frozen=True, slots=True)
class SearchOptions:
    beam_size: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    max_length: int = 448
    suppress_blank: bool = True
    suppress_tokens: tuple[int, ...] = ()
    max_initial_timestamp_index: int = 50
    # Extra beam slots, used only while biasing, for the best hypotheses ranked without the
    # pending hotword bonus (cheap: the output projection is memory-bound, 7 rows cost ~5).
    reserve_slots: int = 2


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _apply_timestamp_rules(
    logits: np.ndarray, seqs: list[list[int]], sp: SpecialTokens, first: bool, max_init: int | None
) -> None:
    """In place, per row: OpenAI's ApplyTimestampRules (also what CTranslate2 implements)."""
    tb = sp.timestamp_begin
    for i, seq in enumerate(seqs):
        row = logits[i]
        last_ts = len(seq) >= 1 and seq[-1] >= tb
        penult_ts = len(seq) < 2 or seq[-2] >= tb
        if last_ts:
            if penult_ts:
                row[tb:] = _NEG  # a pair is complete: text (or EOT) must follow
            else:
                row[: sp.eot] = _NEG  # an opening timestamp needs its closing one
        stamps = [t for t in seq if t >= tb]
        if stamps:
            floor = stamps[-1] if (last_ts and not penult_ts) else stamps[-1] + 1
            row[tb:floor] = _NEG
        if first:
            row[:tb] = _NEG
            if max_init is not None:
                row[tb + max_init + 1 :] = _NEG
    # A timestamp is forced where their total probability beats every single text token.
    lp = _log_softmax(logits)
    ts_mass = np.logaddexp.reduce(lp[:, tb:], axis=-1)
    text_max = lp[:, :tb].max(axis=-1)
    force = ts_mass > text_max
    if force.any():
        logits[force, :tb] = _NEG


def _run_prompt(st: DecoderState, prompt: list[int], sp: SpecialTokens) -> tuple[np.ndarray, float]:
    """Feed the prompt; return the logits at the SOT and last positions, and the no-speech probability
    (read at SOT, as CTranslate2 does)."""
    sot_pos = prompt.index(sp.sot) if sp.sot in prompt else len(prompt) - 1
    all_logits = st.forward(np.asarray([prompt], np.int64), positions=[sot_pos, len(prompt) - 1])[0]
    no_speech_prob = 0.0
    if sp.no_speech is not None and sp.sot in prompt:
        row = all_logits[0]
        p = np.exp(row - row.max())
        no_speech_prob = float(p[sp.no_speech] / p.sum())
    return all_logits, no_speech_prob


def forced_prefix(prompt: list[int], sp: SpecialTokens) -> list[int]:
    """The prompt's tokens after the start-of-transcript header (language, task, notimestamps).

    faster-whisper puts its `prefix` there (after a `<|0.00|>` when timestamps are on). They are
    decoded as if already generated: the search continues them, the timestamp rules see them, and
    the result includes them, so that faster-whisper's segments and word alignment cover the whole
    text (its segments are built from the result's tokens alone).
    """
    if sp.sot not in prompt:
        return []
    end = prompt.index(sp.sot) + 1
    while end < len(prompt) and sp.eot < prompt[end] <= sp.no_timestamps:
        end += 1
    return prompt[end:]


def _static_mask(vocab_size: int, opts: SearchOptions, sp: SpecialTokens, use_ts: bool) -> np.ndarray:
    """Tokens never allowed in this generation (suppressed, and timestamps when they are off)."""
    mask = np.zeros(vocab_size, bool)
    for t in (*opts.suppress_tokens, *sp.always_suppressed):
        if 0 <= t < vocab_size:
            mask[t] = True
    if not use_ts:
        mask[sp.timestamp_begin :] = True
    mask[sp.no_timestamps] = True
    return mask


@dataclass(slots=True)
class _Search:
    """What one generation sets up before its first step: the decoder state fed with the prompt,
    the first logits, and the rules every step applies."""

    st: DecoderState
    logits: np.ndarray
    no_speech_prob: float
    static_mask: np.ndarray
    forced: list[int]
    use_ts: bool
    max_len: int
    steps: int
    biased: bool

    @classmethod
    def start(cls, w: Decoder, sp: SpecialTokens, encoder_out: np.ndarray, prompt: list[int],
              graph: HotwordGraph | None, opts: SearchOptions, rows: int) -> _Search:
        max_len = min(opts.max_length, w.max_positions)
        use_ts = sp.no_timestamps not in prompt
        st = DecoderState(w, encoder_out, rows, max_len)
        all_logits, no_speech_prob = _run_prompt(st, prompt, sp)
        return cls(st, all_logits[-1:].copy(), no_speech_prob, _static_mask(w.vocab_size, opts, sp, use_ts),
                   forced_prefix(prompt, sp), use_ts, max_len, max_len - len(prompt),
                   graph is not None and not graph.empty)

    def logprobs(self, seqs: list[list[int]], step: int, opts: SearchOptions, sp: SpecialTokens) -> np.ndarray:
        """This step's log-probabilities, with what may not come next masked out (in `logits`)."""
        logits = self.logits
        first = step == 0 and not self.forced
        logits[:, self.static_mask] = _NEG
        if first and opts.suppress_blank:
            logits[:, list(sp.blank)] = _NEG
            logits[:, sp.eot] = _NEG
        if self.use_ts:
            _apply_timestamp_rules(logits, seqs, sp, first, opts.max_initial_timestamp_index)
        return _log_softmax(logits)


@dataclass(slots=True)
class _Beam:
    """Hypotheses: their tokens, the model's own log-probability, the hotword bonus earned so far
    and their state in the hotword graph; `origins`: the row of the previous beam each extends."""

    seqs: list[list[int]]
    lp: list[float]
    bonus: list[float]
    states: list[int]
    origins: list[int] = field(default_factory=list)
    chosen: set[tuple[int, int]] = field(default_factory=set)

    @classmethod
    def empty(cls) -> _Beam:
        return cls([], [], [], [])

    def add(self, seq: list[int], i: int, t: int, extension: tuple[float, float, int]) -> None:
        lp, bonus, state = extension
        self.seqs.append([*seq, t])
        self.origins.append(i)
        self.lp.append(lp)
        self.bonus.append(bonus)
        self.states.append(state)
        self.chosen.add((i, t))


_SAMPLE_STRIDE = 16  # top_k_per_row looks at every 16th score first


def top_k_per_row(scores: np.ndarray, k: int) -> list[np.ndarray]:
    """The indices of each row's `k` highest scores (all of a row that has no more), in no order.

    As `np.argpartition` over each row, about ten times faster on Whisper's 51,865-token rows: the
    k-th highest of every 16th score is a floor that each row's top k clear, so only the scores at
    or above it (a few hundred) are partitioned. Nothing is approximated."""
    rows, width = scores.shape
    if width <= k:
        return [np.arange(width) for _ in range(rows)]
    if width < 4 * k * _SAMPLE_STRIDE:
        return list(np.argpartition(-scores, k - 1, axis=1)[:, :k])
    sample = scores[:, ::_SAMPLE_STRIDE]
    floors = -np.partition(-sample, k - 1, axis=1)[:, k - 1]
    picked = []
    for row, floor in zip(scores, floors, strict=True):
        above = np.flatnonzero(row >= floor)  # at least the k sampled scores that set the floor
        picked.append(above[np.argpartition(-row[above], k - 1)[:k]])
    return picked


class _Scores:
    """One step's scores for every (hypothesis, token): the model's log-probability plus the hotword
    bonus the token would earn or take back (`graph`'s transitions from the hypothesis's state)."""

    def __init__(self, logprobs: np.ndarray, beam: _Beam, graph: HotwordGraph | None) -> None:
        self.logprobs = logprobs
        self.beam = beam
        self.graph = graph
        lp = np.asarray(beam.lp, np.float64)
        self.total = logprobs + (lp + np.asarray(beam.bonus, np.float64))[:, None].astype(np.float32)
        self.rows: list[Transitions] = []
        if graph is not None:
            for i, s in enumerate(beam.states):
                tr = graph.transitions(s)
                # Default transition (take back what the partial match had earned) for all tokens,
                # then the exceptions that extend or restart a match.
                if tr.default_bonus:
                    self.total[i] += tr.default_bonus
                if tr.tokens.size:
                    self.total[i, tr.tokens] += tr.bonus - tr.default_bonus
                self.rows.append(tr)

    def best(self, k: int) -> list[tuple[float, int, int]]:
        """The `k` best tokens of each hypothesis, as (score, hypothesis, token), best first."""
        total = self.total
        cands: list[tuple[float, int, int]] = []
        for i, idx in enumerate(top_k_per_row(total, k)):
            for t in idx.tolist():
                v = float(total[i, t])
                if v > -np.inf:
                    cands.append((v, i, t))
        cands.sort(key=lambda c: -c[0])
        return cands

    def best_unbiased(self, k: int, eot: int) -> list[tuple[float, int, int]]:
        """The `k` best non-final tokens of each hypothesis by the model's score alone, best first."""
        plain = self.logprobs + np.asarray(self.beam.lp, np.float64)[:, None].astype(np.float32)
        plain[:, eot] = _NEG
        pidx = top_k_per_row(plain, k)
        return sorted(
            ((float(plain[i, t]), i, int(t)) for i in range(plain.shape[0]) for t in pidx[i].tolist()),
            key=lambda c: -c[0],
        )

    def extend(self, i: int, t: int) -> tuple[float, float, int]:
        """(model log-probability, bonus, next graph state) of hypothesis `i` followed by token `t`."""
        beam = self.beam
        # In float64, as the scores are summed (a Python float plus a float32 would be float32).
        lp = float(np.float64(beam.lp[i]) + self.logprobs[i, t])
        if self.graph is None:
            return lp, 0.0, 0
        tr = self.rows[i]
        hit = np.nonzero(tr.tokens == t)[0]
        if hit.size:
            return lp, float(np.float64(beam.bonus[i]) + tr.bonus[hit[0]]), int(tr.next_states[hit[0]])
        return lp, float(np.float64(beam.bonus[i]) + tr.default_bonus), 0


def generate(
    w: Decoder,
    sp: SpecialTokens,
    encoder_out: np.ndarray,
    prompt: list[int],
    graph: HotwordGraph | None,
    opts: SearchOptions,
    checkpoint: Callable[[], None] | None = None,
) -> GenerationResult:
    """Biased beam search for one prompt on one encoder output (T_enc, D).

    `checkpoint` is called before every step: it may raise to abandon the search (a real-time
    interim that a sentence's final has made moot)."""
    beam_size = max(1, opts.beam_size)
    biased = graph is not None and not graph.empty
    reserve = max(0, opts.reserve_slots) if biased else 0
    search = _Search.start(w, sp, encoder_out, prompt, graph, opts, beam_size + reserve)
    beam = _Beam([search.forced], [0.0], [0.0], [0])
    finished: list[tuple[float, list[int], float]] = []  # (ranking score, tokens, model logprob)
    max_cand = max(1, round(beam_size * opts.patience))
    if biased and search.no_speech_prob > NO_SPEECH_THRESHOLD:
        # A window the model hears no speech in has no words for the bonus to choose between: there
        # it only writes listed names into the silence, or holds hypotheses in loops that grow on.
        biased, reserve = False, 0

    def rank(lp: float, bonus: float, n: int) -> float:
        return (lp + bonus) / (max(n, 1) ** opts.length_penalty)

    for step in range(search.steps):
        if checkpoint is not None:
            checkpoint()
        scores = _Scores(search.logprobs(beam.seqs, step, opts, sp), beam, graph if biased else None)
        following = _Beam.empty()
        newly_finished: list[tuple[float, list[int], float]] = []
        for _v, i, t in scores.best(beam_size + 1):
            extension = scores.extend(i, t)
            if t == sp.eot:
                # EOT's bonus is exactly the take-back of an unfinished match (the default).
                newly_finished.append((rank(extension[0], extension[1], len(beam.seqs[i])), beam.seqs[i],
                                       extension[0]))
                continue
            following.add(beam.seqs[i], i, t, extension)
            if len(following.seqs) >= beam_size:
                break
        if reserve:
            _keep_the_models_best(following, scores, beam, reserve, sp.eot)
        for f in sorted(newly_finished, key=lambda f: -f[0]):
            if len(finished) < max_cand or biased:
                finished.append(f)
        if _search_is_over(finished, following, max_cand, biased) \
                or search.st.length >= search.max_len:
            break
        if biased and not finished and all(_in_a_loop(seq) for seq in following.seqs):
            # The bonus can hold every hypothesis in a loop that the model alone would not enter;
            # decoding it on to Whisper's last position costs the most expensive steps of all.
            best = max(range(len(following.seqs)), key=lambda i: rank(following.lp[i], following.bonus[i],
                                                                      len(following.seqs[i])))
            return replace(_result([(0.0, following.seqs[best], following.lp[best])], opts, search.no_speech_prob),
                           looped=True)
        beam = following
        search.st.reorder(np.asarray(following.origins, np.int64))
        search.logits = search.st.forward(np.asarray([[s[-1]] for s in beam.seqs], np.int64))

    if not finished:
        # Ran out of length: the live hypotheses compete, with unfinished matches taken back.
        for i, seq in enumerate(beam.seqs):
            b = beam.bonus[i] + (graph.final_bonus(beam.states[i]) if biased and graph else 0.0)
            finished.append((rank(beam.lp[i], b, len(seq)), seq, beam.lp[i]))
    return _result(finished, opts, search.no_speech_prob)


def _result(finished: list[tuple[float, list[int], float]], opts: SearchOptions, no_speech_prob: float,
            ) -> GenerationResult:
    """The best-ranked hypothesis, scored by the model's own length-normalised log-probability (so
    faster-whisper's thresholds mean what they always did)."""
    _score, best, lp = _ended_where_the_model_ends(max(finished, key=lambda f: f[0]), finished, opts)
    score = lp / (max(len(best), 1) ** opts.length_penalty)
    return GenerationResult(sequences_ids=[list(best)], scores=[score], no_speech_prob=no_speech_prob)


def _ended_where_the_model_ends(
    best: tuple[float, list[int], float], finished: list[tuple[float, list[int], float]], opts: SearchOptions,
) -> tuple[float, list[int], float]:
    """The bonus chooses which words the audio says, not whether it says more after the model would
    end: where the winner goes on past a finished hypothesis that it extends, and the model alone
    scores that shorter one higher, the shorter one wins (a listed name written once more in the
    silence after the last sentence otherwise earns its bonus there)."""

    def own(f: tuple[float, list[int], float]) -> float:
        return f[2] / (max(len(f[1]), 1) ** opts.length_penalty)

    seq = best[1]
    shorter = [f for f in finished if len(f[1]) < len(seq) and seq[: len(f[1])] == f[1] and own(f) > own(best)]
    return max(shorter, key=lambda f: f[0]) if shorter else best


def _keep_the_models_best(following: _Beam, scores: _Scores, beam: _Beam, reserve: int, eot: int) -> None:
    """Hypotheses with hotword bonus can crowd the model's own best path out of the beam: those that
    merely *start* a term before the take-back, and those that earn a term early by skipping the
    audio before it. `reserve` extra slots keep the best continuations by the model's score alone."""
    added = 0
    for v, i, t in scores.best_unbiased(reserve + 1, eot):
        if added >= reserve or v == -np.inf:
            break
        if (i, t) in following.chosen:
            continue
        following.add(beam.seqs[i], i, t, scores.extend(i, t))
        added += 1


def _search_is_over(
    finished: list[tuple[float, list[int], float]], following: _Beam, max_cand: int, patient: bool,
) -> bool:
    """Enough hypotheses have finished (unless, `patient`, the model prefers a live one), or none is
    left. Waiting for a better live hypothesis (`_model_prefers_live`) protects a transcription from
    an early-finishing one with hotword bonus."""
    if not following.seqs:
        return True
    return len(finished) >= max_cand and not (patient and _model_prefers_live(finished, following.lp, following.seqs))


def _model_prefers_live(
    finished: list[tuple[float, list[int], float]], live_lp: list[float], live_seqs: list[list[int]]
) -> bool:
    """Whether to decode on although enough hypotheses have finished.  A hypothesis that earned
    hotword bonus early can finish long before the model's own best path: e.g. one that skips the
    first half of the audio to reach a hotword said later, and ends early.  While a live hypothesis
    is better per token than every finished one by the model's score alone, it may still finish
    and win (with the bonus it earns on the way), so the search goes on."""
    best_done = max(lp / max(len(seq), 1) for _rank, seq, lp in finished)
    return any(lp / max(len(seq), 1) > best_done and not _repeats_itself(seq) and not _in_a_loop(seq)
               for lp, seq in zip(live_lp, live_seqs, strict=True))


def _in_a_loop(seq: list[int]) -> bool:
    """Whether `seq` is in a long loop (`_stuck_in_a_loop`), or was until one of its last two tokens:
    a beam's hypotheses go round one loop together, branching off it by a token at a time."""
    return any(_stuck_in_a_loop(seq[: len(seq) - cut]) for cut in range(3))


def _stuck_in_a_loop(seq: list[int]) -> bool:
    """Whether `seq` ends in one phrase said over `_LOOP_REPEATS` times or more, covering at least
    `_STUCK_SPAN` tokens: long enough that no speech says it so ("好的好的好的" is not)."""
    return _ends_in_repeats(seq, _STUCK_MAX_PERIOD, _STUCK_SPAN)


def _repeats_itself(seq: list[int]) -> bool:
    """Whether `seq` ends in one phrase said `_LOOP_REPEATS` times over: a decoding loop, not the
    model's own best path. Loops grow ever more confident per token, so waiting for one to finish
    (`_model_prefers_live`) would run the search to its length limit, typically in the silence
    after the speech, where the finished hypotheses are few words at a low score."""
    return _ends_in_repeats(seq, _LOOP_MAX_PERIOD, 0)


def _ends_in_repeats(seq: list[int], max_period: int, min_span: int) -> bool:
    """Whether `seq` ends in one phrase of at most `max_period` tokens said `_LOOP_REPEATS` times
    over, or more, until the repeats cover `min_span` tokens."""
    n = len(seq)
    for period in range(1, min(max_period, n // _LOOP_REPEATS) + 1):
        repeats = max(_LOOP_REPEATS, -(-min_span // period))
        if repeats * period > n:
            continue
        tail = seq[n - period :]
        if all(seq[n - (k + 1) * period : n - k * period] == tail for k in range(1, repeats)):
            return True
    return False


def sample(
    w: Decoder,
    sp: SpecialTokens,
    encoder_out: np.ndarray,
    prompt: list[int],
    graph: HotwordGraph | None,
    opts: SearchOptions,
    *,
    num_hypotheses: int,
    temperature: float,
    seed: int | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> GenerationResult:
    """Temperature sampling (faster-whisper's fallback when beam search output looks wrong),
    `num_hypotheses` independent samples with the hotword bonus added to the scaled logits.
    Returns the best sample by length-normalised (model logprob + bonus), like best_of."""
    rng = np.random.default_rng(seed)
    n = max(1, num_hypotheses)
    search = _Search.start(w, sp, encoder_out, prompt, graph, opts, n)
    search.logits = np.repeat(search.logits, n, axis=0)
    search.st.reorder(np.zeros(n, np.int64))
    biased = search.biased
    seqs: list[list[int]] = [list(search.forced) for _ in range(n)]
    lp = np.zeros(n)
    bonus = np.zeros(n)
    states = [0] * n
    done = np.zeros(n, bool)
    for step in range(search.steps):
        if checkpoint is not None:
            checkpoint()
        logprobs = search.logprobs(seqs, step, opts, sp)
        for i in range(n):
            if done[i]:
                continue
            tr = graph.transitions(states[i]) if biased and graph is not None else None
            t = _draw(logprobs[i], tr, temperature, rng)
            lp[i] += float(logprobs[i, t])
            if tr is not None:
                hit = np.nonzero(tr.tokens == t)[0]
                bonus[i] += float(tr.bonus[hit[0]]) if hit.size else tr.default_bonus
                states[i] = int(tr.next_states[hit[0]]) if hit.size else 0
            if t == sp.eot:
                done[i] = True
            else:
                seqs[i].append(t)
        if done.all() or search.st.length >= search.max_len:
            break
        # Finished rows keep feeding a harmless token; their output is ignored.
        feed = np.asarray([[s[-1] if s else sp.eot] for s in seqs], np.int64)
        search.logits = search.st.forward(feed)
    if biased and graph is not None:
        bonus += [0.0 if done[i] else graph.final_bonus(states[i]) for i in range(n)]
    norm = [max(len(s), 1) ** opts.length_penalty for s in seqs]
    best = max(range(n), key=lambda i: (lp[i] + bonus[i]) / norm[i])
    return GenerationResult(
        sequences_ids=[seqs[best]], scores=[float(lp[best] / norm[best])], no_speech_prob=search.no_speech_prob
    )


def _draw(logprobs: np.ndarray, tr: Transitions | None, temperature: float, rng: np.random.Generator) -> int:
    """A token drawn from one hypothesis's distribution, biased exactly as beam search is (`tr`:
    the transitions from its graph state), then scaled by the temperature."""
    z = logprobs.copy()
    if tr is not None:
        z += np.float32(tr.default_bonus)
        z[tr.tokens] += tr.bonus - tr.default_bonus
    z /= np.float32(temperature)
    pz = np.exp(z - z.max())
    return int(rng.choice(pz.shape[0], p=pz / pz.sum()))
