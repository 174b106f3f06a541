"""Bilingual recordings (issue #19): Mandarin and English sentences alternating in one file.

    # build the set (deterministic; commits bench/sets/bilingual_s0252_ls.json, the recipe only)
    .venv/bin/python bench/bilingual.py build [--shared ../shared/data] [--files 4] [--pairs 5]
    # its tuning twin, and the held-out one (other voices: zh_misc, LibriSpeech test-clean)
    .venv/bin/python bench/bilingual.py build --set tune
    .venv/bin/python bench/bilingual.py build --set heldout --files 2 --pairs 4
    # score the file path (and, with --realtime, the real-time path) against each utterance alone
    nice .venv/bin/python bench/bilingual.py score [--files 2] [--model fun-asr] [--realtime]
    # the same, over 10 redraws of the pauses (each utterance alone with its draw's silence around it)
    nice .venv/bin/python bench/bilingual.py draws [--set heldout --files 2] [--draws 10]
    # language detection on speech segments, per odds of the prior (UNHEARD_ODDS is chosen on --set tune)
    nice .venv/bin/python bench/bilingual.py detect --set tune [--odds 1,3,10,30,100]
    # where the file path's time goes: encoder passes and decoding, bilingual against one language forced
    nice .venv/bin/python bench/bilingual.py cost [--files 4] [--one-at-a-time]
    # one list of Mandarin and English terms on the held-out set: recall and precision per language
    nice .venv/bin/python bench/bilingual.py bias --set heldout

The recipe: from the shared AISHELL speaker S0252 (news sentences W0121-W0500) and LibriSpeech
test-other, `--files` files of `--pairs` (Mandarin, English) pairs, sentences alternating (Mandarin
first), each followed by a pause drawn from 0.4-0.9 s; all draws from `random.Random(SEED)`. The
audio is built from the recipe when scoring (nothing but the recipe is committed).

Scoring: each output sentence belongs to the utterance its middle falls in (a pause counts for
the utterance before it). Per language: CER (Mandarin) / WER (English) over the utterances of
that language, against the references and against the same utterances decoded alone in their own
language (`language_hints` = that language: the monolingual decode); the real-time path (`--realtime`)
also against each utterance streamed alone through a real-time session with its language given
(real time's own monolingual decode: greedy finals, as every real-time final). A *lost half* is an utterance
whose text has nothing in its language's script (no CJK character for Mandarin, no Latin word for
English): dropped, or translated into the other language. Time: the bilingual file decoded with no
language given, against the same file decoded with one language forced (`language_hints` =
["zh"], and ["en"]), and against the sum of its utterances decoded alone. Also reported: the share
of Mandarin sentences ending in 。？！ (DashScope ends every sentence with a mark).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotasr.audio import SAMPLE_RATE, decode_audio  # noqa: E402
from hotasr.evaluation.scoring import ErrorCounts, score_text  # noqa: E402

SEED = 20260119
RECIPE = ROOT / "bench" / "sets" / "bilingual_s0252_ls.json"
# The tuning set: constants of the bilingual path are chosen on it, and reported on RECIPE. Other
# utterances (AISHELL S0252 W0001-W0120, LibriSpeech test-other not in RECIPE), another seed.
TUNE_SEED = 20261206
TUNE_RECIPE = ROOT / "bench" / "sets" / "bilingual_tune.json"
# The held-out set: voices neither of the others has and no constant was chosen on (the zh_misc
# Mandarin recordings, LibriSpeech test-clean), the same recipe with its own seed.
HELDOUT_SEED = 20261207
HELDOUT_RECIPE = ROOT / "bench" / "sets" / "bilingual_heldout.json"
SETS = {"report": RECIPE, "tune": TUNE_RECIPE, "heldout": HELDOUT_RECIPE}
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_DIGITS = re.compile(r"[零一二三四五六七八九幺两]+")


def build(shared: Path, files: int, pairs: int, tune: bool = False) -> dict[str, Any]:
    aishell = shared / "aishell_sample_S0252"
    zh_ids = [f"BAC009S0252W{n:04d}" for n in (range(1, 121) if tune else range(121, 501))]
    zh_ids = [i for i in zh_ids if (aishell / "wav" / f"{i}.wav").is_file()]
    if tune:  # W0001-W0120 also holds digit strings read out ("零零幺二六四四五"): sentences only
        zh_ids = [i for i in zh_ids if not _DIGITS.fullmatch(_zh_reference(aishell, i))]
    other = shared / "librispeech_test_subset" / "test-other"
    en_refs = dict(line.rstrip("\n").split("\t", 1) for line in (other / "text.tsv").read_text().splitlines())
    en_ids = sorted(i for i in en_refs if (other / f"{i}.flac").is_file())
    if tune:  # none of the report set's English utterances
        reported = {u["id"] for f in json.loads(RECIPE.read_text())["files"] for u in f["utterances"]}
        en_ids = [i for i in en_ids if i not in reported]
    rng = random.Random(TUNE_SEED if tune else SEED)
    zh_pick = rng.sample(zh_ids, files * pairs)
    en_pick = rng.sample(en_ids, files * pairs)
    out = []
    for f in range(files):
        utterances = []
        for p in range(pairs):
            k = f * pairs + p
            zid, eid = zh_pick[k], en_pick[k]
            zh_text = _zh_reference(aishell, zid)
            utterances.append({"id": zid, "language": "zh", "audio": f"aishell_sample_S0252/wav/{zid}.wav",
                               "reference": zh_text, "pause_s": _pause(rng)})
            utterances.append({"id": eid, "language": "en", "audio": f"librispeech_test_subset/test-other/{eid}.flac",
                               "reference": en_refs[eid], "pause_s": _pause(rng)})
        out.append({"id": f"bilingual-{f:02d}", "utterances": utterances})
    if tune:
        return {"seed": TUNE_SEED, "source": "AISHELL S0252 W0001-W0120 + LibriSpeech test-other not in "
                f"{RECIPE.name}", "files": out}
    return {"seed": SEED, "source": "AISHELL S0252 W0121-W0500 + LibriSpeech test-other", "files": out}


def build_heldout(shared: Path, files: int, pairs: int) -> dict[str, Any]:
    """The held-out recipe: Mandarin from zh_misc (8 recordings, as many voices and microphones),
    English from LibriSpeech test-clean (8 utterances, 3 voices); `files` x `pairs` must not exceed 8."""
    zh_dir, en_dir = shared / "zh_misc", shared / "librispeech_test_subset" / "test-clean"
    zh_refs, en_refs = _tsv(zh_dir / "text.tsv"), _tsv(en_dir / "text.tsv")
    zh_audio, en_audio = _tsv(zh_dir / "wav.scp"), _tsv(en_dir / "wav.scp")
    rng = random.Random(HELDOUT_SEED)
    zh_pick = rng.sample(sorted(zh_refs), files * pairs)
    en_pick = rng.sample(sorted(en_refs), files * pairs)
    out = []
    for f in range(files):
        utterances = []
        for k in range(f * pairs, (f + 1) * pairs):
            zid, eid = zh_pick[k], en_pick[k]
            utterances.append({"id": zid, "language": "zh", "audio": f"zh_misc/{zh_audio[zid]}",
                               "reference": zh_refs[zid], "pause_s": _pause(rng)})
            utterances.append({"id": eid, "language": "en",
                               "audio": f"librispeech_test_subset/test-clean/{en_audio[eid]}",
                               "reference": en_refs[eid], "pause_s": _pause(rng)})
        out.append({"id": f"bilingual-heldout-{f:02d}", "utterances": utterances})
    return {"seed": HELDOUT_SEED, "source": "zh_misc + LibriSpeech test-clean", "files": out}


def _pause(rng: random.Random) -> float:
    """The pause after a sentence, in seconds: the recipe's draw (and `score --pauses`' redraw)."""
    return round(rng.uniform(0.4, 0.9), 2)


def _tsv(path: Path) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line)


def _zh_reference(aishell: Path, utterance: str) -> str:
    return (aishell / "txt" / f"{utterance}.txt").read_text(encoding="utf-8-sig").strip()


Span = tuple[dict[str, Any], np.ndarray, int, int]


def assemble(recipe_file: dict[str, Any], shared: Path) -> tuple[np.ndarray, list[Span]]:
    """The file's samples and, per utterance, (utterance, its samples, start, end of its span)."""
    parts, spans, at = [], [], 0
    for utt in recipe_file["utterances"]:
        samples = decode_audio(shared / utt["audio"]).samples
        pause = np.zeros(round(utt["pause_s"] * SAMPLE_RATE), np.float32)
        spans.append((utt, samples, at, at + len(samples) + len(pause)))
        parts += [samples, pause]
        at += len(samples) + len(pause)
    return np.concatenate(parts), spans


def alone_audio(spans: list[Span], index: int, padded: bool) -> np.ndarray:
    """Utterance `index` for its decode alone: as recorded or, `padded`, with the silence it has in
    the file around it (the pause before it and its own), so that a redraw of the pauses moves
    where both decodes find its speech."""
    utt, samples, _, _ = spans[index]
    if not padded:
        return samples
    before = spans[index - 1][0]["pause_s"] if index else 0.0
    return np.concatenate([np.zeros(round(before * SAMPLE_RATE), np.float32), samples,
                           np.zeros(round(utt["pause_s"] * SAMPLE_RATE), np.float32)])


def span_of(begin_ms: int, end_ms: int, spans: list[Span]) -> int:
    """The utterance a sentence belongs to: the one its middle falls in (a pause counts for the
    utterance before it)."""
    middle = (begin_ms + end_ms) / 2 * SAMPLE_RATE / 1000
    return next((i for i, (_, _, a, b) in enumerate(spans) if a <= middle < b), len(spans) - 1)


def texts_by_utterance(sentences: Any, spans: list[Span]) -> dict[int, list[str]]:
    """The sentences' texts, by the utterance each belongs to (`span_of`)."""
    hyps: dict[int, list[str]] = {i: [] for i in range(len(spans))}
    for sentence in sentences:
        hyps[span_of(sentence.begin_ms, sentence.end_ms, spans)].append(sentence.text)
    return hyps


def in_script(text: str, language: str) -> bool:
    return bool(_CJK.search(text) if language == "zh" else _LATIN_WORD.search(text))


def realtime_sentences(samples: np.ndarray, model: str, settings: Any, hints: list[str] | None = None) -> list[Any]:
    """Final sentences of `samples` streamed through a real-time session (as `hotasr.api.realtime`
    sets one up for `model` and `language_hints` = `hints`), in 100 ms frames as fast as it takes
    them, with 1.5 s of silence after the audio so that the last sentence ends by voice activity."""
    import asyncio
    import functools
    from concurrent.futures import ThreadPoolExecutor

    from hotasr.recognize import recognize
    from hotasr.streaming.segmenter import SegmenterConfig
    from hotasr.streaming.session import RealtimeSession, SentenceDecode, SentenceEvent, StreamOptions

    bound = functools.partial(recognize, model=model, settings=settings, beam_size=settings.realtime_final_beam,
                              language_hints=hints)

    def decode(sentence: SentenceDecode) -> Any:
        return bound(sentence.samples, kind=sentence.kind, prefix=sentence.prefix, context=sentence.context,
                     heard=sentence.heard, cancel=sentence.cancel)

    finals: list[SentenceEvent] = []

    async def emit(event: Any) -> None:
        if isinstance(event, SentenceEvent) and event.final:
            finals.append(event)
        elif not isinstance(event, SentenceEvent):
            raise RuntimeError(str(event))

    async def run() -> None:
        options = StreamOptions(segmenter=SegmenterConfig(max_sentence_silence_ms=800),
                                settled_prefix=settings.realtime_settled_prefix, chunked=settings.realtime_chunks)
        with ThreadPoolExecutor(max_workers=1) as pool:
            session = RealtimeSession(options, decode, pool, emit)
            audio = np.concatenate([samples, np.zeros(round(1.5 * SAMPLE_RATE), np.float32)])
            for at in range(0, len(audio), SAMPLE_RATE // 10):
                await session.feed(audio[at : at + SAMPLE_RATE // 10])
            await session.finish()

    asyncio.run(run())
    return finals


def score(args: argparse.Namespace) -> None:
    print(json.dumps(score_report(args), ensure_ascii=False, indent=2))


def score_report(args: argparse.Namespace) -> dict[str, Any]:
    """`score`'s report: per language, the path's error rate and that of each utterance alone."""
    from hotasr.recognize import recognize
    from tests.engine_fixtures import settings_for

    recipe = json.loads(SETS[args.set].read_text())
    shared = Path(args.shared)
    settings = settings_for(args.weights)
    rec = dict(model=args.model, settings=settings)
    warm, _ = assemble(recipe["files"][0], shared)
    report: dict[str, Any]
    recognize(warm[: 8 * SAMPLE_RATE], **rec)  # type: ignore[arg-type]  # model load, untimed

    totals: dict[str, dict[str, Any]] = {
        lang: {"bi": ErrorCounts(), "alone": ErrorCounts(), "ref": ErrorCounts(), "lost": 0, "n": 0}
        for lang in ("zh", "en")
    }
    times = {"bilingual": 0.0, "forced_zh": 0.0, "forced_en": 0.0, "alone": 0.0}
    cpu = dict.fromkeys(times, 0.0)
    rt = {lang: {"bi": ErrorCounts(), "alone": ErrorCounts(), "forced": ErrorCounts(), "lost": 0}
          for lang in ("zh", "en")}
    zh_sentences = zh_marked = 0
    warnings_seen: list[str] = []
    # The decode with one language forced, scored on that language's utterances (the other's are
    # translated or left out, which the forced language asks for): what it loses of its own.
    forced_own = {lang: {"errors": ErrorCounts(), "lost": 0, "no_words": 0, "other_language": 0}
                  for lang in ("zh", "en")}
    pauses = random.Random(args.pauses) if args.pauses else None  # 0: the recipe's own
    for recipe_file in recipe["files"][: args.files]:
        if pauses is not None:  # the same utterances, other pauses: other sentence cuts in a stream
            recipe_file = {**recipe_file, "utterances": [{**u, "pause_s": _pause(pauses)}
                                                         for u in recipe_file["utterances"]]}
        samples, spans = assemble(recipe_file, shared)
        if args.realtime_only:
            score_realtime(args, samples, spans, settings, rt, warnings_seen)
            continue
        t, c = time.perf_counter(), time.process_time()
        transcript = recognize(samples, language_hints=args.hints, **rec)  # type: ignore[arg-type]
        times["bilingual"] += time.perf_counter() - t
        cpu["bilingual"] += time.process_time() - c
        warnings_seen += transcript.warnings
        for hints, key in ((["zh"], "forced_zh"), (["en"], "forced_en")):
            if args.forced:
                t, c = time.perf_counter(), time.process_time()
                forced = recognize(samples, language_hints=hints, **rec)  # type: ignore[arg-type]
                times[key] += time.perf_counter() - t
                cpu[key] += time.process_time() - c
                score_forced(forced, spans, hints[0], forced_own[hints[0]], args.verbose)
        hyps = texts_by_utterance(transcript.sentences, spans)
        for sentence in transcript.sentences:
            if sentence.language == "zh":
                zh_sentences += 1
                zh_marked += sentence.text.rstrip()[-1:] in ("。", "？", "！")
        for i, (utt, _, _, _) in enumerate(spans):
            lang = utt["language"]
            t, c = time.perf_counter(), time.process_time()
            audio = alone_audio(spans, i, args.pauses is not None)
            alone = recognize(audio, language_hints=[lang], **rec)  # type: ignore[arg-type]
            times["alone"] += time.perf_counter() - t
            cpu["alone"] += time.process_time() - c
            hyp = " ".join(hyps[i])
            totals[lang]["bi"] += score_text(utt["reference"], hyp, language=lang).overall
            totals[lang]["alone"] += score_text(utt["reference"], alone.text, language=lang).overall
            totals[lang]["n"] += 1
            lost = not in_script(hyp, lang)
            totals[lang]["lost"] += lost
            if args.verbose or lost:
                print(f"{utt['id']} [{lang}]{' LOST' if lost else ''}\n  ref   {utt['reference']}\n"
                      f"  bi    {hyp}\n  alone {alone.text}")
        if args.realtime:
            score_realtime(args, samples, spans, settings, rt, warnings_seen)
    report = {
        "model": args.model, "hints": args.hints, "weights": args.weights, "pauses": args.pauses,
        "files": min(args.files, len(recipe["files"])),
        "per_language": {
            lang: {"utterances": v["n"], "metric": "CER" if lang == "zh" else "WER",
                   "bilingual": round(v["bi"].error_rate or 0, 2), "alone": round(v["alone"].error_rate or 0, 2),
                   "lost_halves": v["lost"]}
            for lang, v in totals.items()
        },
        "decode_seconds": {k: round(v, 2) for k, v in times.items()},
        "decode_cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "zh_sentences_ending_in_a_mark": f"{zh_marked}/{zh_sentences}",
        "warnings": warnings_seen,
    }
    if args.forced:
        report["forced_own_language"] = {
            lang: {"error_rate": round(v["errors"].error_rate or 0, 2), "lost_halves": v["lost"],
                   "warned_no_words": v["no_words"], "warned_other_language": v["other_language"]}
            for lang, v in forced_own.items()}
    if args.realtime:
        report["realtime"] = {"model": args.realtime_model, **{
            lang: {"bilingual": round(v["bi"].error_rate or 0, 2), "alone": round(v["alone"].error_rate or 0, 2),
                   "forced": round(v["forced"].error_rate or 0, 2), "lost_halves": v["lost"]}
            for lang, v in rt.items()
        }}
    return report


def draws(args: argparse.Namespace) -> None:
    """`score --pauses SEED --realtime` for seeds 0 (the recipe's own pauses) to `--draws`: one line
    per draw, then per path and language the mean (and spread) of the distance to each utterance
    alone, both decoded with the draw's silence around them. One draw of 20 utterances a language
    moves by points either way (which words Whisper base gets right turns on where its audio
    starts); the mean over draws is the estimate of what the path costs."""
    paths = {"file": "per_language", "real time": "realtime"}
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    lost = 0
    for seed in range(args.draws + 1):
        report = score_report(argparse.Namespace(**{**vars(args), "pauses": seed, "realtime": not args.file_only}))
        cells = []
        for path, key in paths.items():
            if key not in report:
                continue
            for lang in ("zh", "en"):
                row = report[key][lang]
                gaps[path, lang].append(row["bilingual"] - row["alone"])
                lost += row["lost_halves"]
                cells.append(f"{path} {lang} {row['bilingual']:.2f}/{row['alone']:.2f}")
        print(f"draw {seed}: " + ", ".join(cells) + f"; zh sentences ending in a mark "
              f"{report['zh_sentences_ending_in_a_mark']}", flush=True)
    for (path, lang), values in gaps.items():
        mean, sd = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        print(f"{path} {lang}: distance to alone, mean {mean:+.2f} (standard error {sd / len(values) ** 0.5:.2f}), "
              f"range {min(values):+.2f} to {max(values):+.2f}")
    print(f"lost halves, all draws and paths: {lost}")


def score_forced(transcript: Any, spans: list[Span], language: str, totals: dict[str, Any], verbose: bool) -> None:
    """A decode with `language` forced, scored on the utterances of that language."""
    hyps = texts_by_utterance(transcript.sentences, spans)
    totals["no_words"] += sum("gave no words" in w for w in transcript.warnings)
    totals["other_language"] += sum("sounds like" in w for w in transcript.warnings)
    if verbose:
        print(f"decode with {language} forced, warnings: {transcript.warnings}")
    for i, (utt, _, _, _) in enumerate(spans):
        if utt["language"] != language:
            continue
        hyp = " ".join(hyps[i])
        totals["errors"] += score_text(utt["reference"], hyp, language=language).overall
        lost = not in_script(hyp, language)
        totals["lost"] += lost
        if verbose and lost:
            print(f"{utt['id']} [{language}] LOST in the decode with {language} forced")


def score_realtime(args: argparse.Namespace, samples: np.ndarray, spans: list[Span], settings: Any,
                   rt: dict[str, dict[str, Any]], warnings_seen: list[str]) -> None:
    """The file streamed through a real-time session, each utterance scored; unless `--no-alone`,
    against the same utterance streamed alone with its language given; with `--realtime-forced`,
    also against the same file streamed with each language forced (`language_hints` = [it]), whose
    sentences are cut where the bilingual stream's are: only the language decision differs."""
    rt_hyps = stream_by_utterance(args, samples, spans, settings, None, warnings_seen)
    forced = {lang: stream_by_utterance(args, samples, spans, settings, [lang], [])
              for lang in (("zh", "en") if args.realtime_forced else ())}
    for i, (utt, _, _, _) in enumerate(spans):
        lang, hyp = utt["language"], " ".join(rt_hyps[i])
        rt[lang]["bi"] += score_text(utt["reference"], hyp, language=lang).overall
        alone_text = ""
        if not args.no_alone:  # the same utterance streamed alone with its language given
            utt_samples = alone_audio(spans, i, args.pauses is not None)
            alone_text = " ".join(e.text for e in realtime_sentences(utt_samples, args.realtime_model, settings,
                                                                    [lang]) if e.text)
            rt[lang]["alone"] += score_text(utt["reference"], alone_text, language=lang).overall
        if forced:
            rt[lang]["forced"] += score_text(utt["reference"], " ".join(forced[lang][i]), language=lang).overall
        lost = not in_script(hyp, lang)
        rt[lang]["lost"] += lost
        if args.verbose or lost:
            print(f"{utt['id']} [{lang}] real time{' LOST' if lost else ''}: {hyp}\n  alone {alone_text}"
                  + (f"\n  forced {' '.join(forced[lang][i])}" if forced else ""))


def stream_by_utterance(args: argparse.Namespace, samples: np.ndarray, spans: list[Span], settings: Any,
                        hints: list[str] | None, warnings_seen: list[str]) -> dict[int, list[str]]:
    """The texts of the file's real-time finals, by the utterance each one's middle falls in."""
    hyps: dict[int, list[str]] = {i: [] for i in range(len(spans))}
    for event in realtime_sentences(samples, args.realtime_model, settings, hints):
        index = span_of(event.begin_ms, event.end_ms, spans)
        if event.text:
            hyps[index].append(event.text)
        else:
            warnings_seen += event.warnings
    return hyps


# A mixed list for the held-out set (`bias`): names and rare words of its references, picked by
# reading them and the decode without a list (so the words it got wrong are over-represented: the
# no-list row is not a baseline to quote), with the docs' pair of terms that are never said.
HELDOUT_TERMS = (
    ("肯德基", "zh"), ("富士康", "zh"), ("达摩院", "zh"), ("停滞", "zh"), ("房地产", "zh"), ("中介", "zh"),
    ("Hester Prynne", "en"), ("brothels", "en"), ("squalid", "en"), ("counselled", "en"),
    ("赛德克巴莱", "zh"), ("Seediq Bale", "en"),
)


def bias(args: argparse.Namespace) -> None:
    """Each file decoded with no language given, without and with one list of Mandarin and English
    terms (weight 4): per language, recall and precision of the terms (each utterance scored on its
    language's terms) and CER / WER."""
    from hotasr.evaluation.scoring import HotwordCounts, hotword_counts
    from hotasr.hotwords import Hotword
    from hotasr.recognize import recognize
    from tests.engine_fixtures import settings_for

    settings = settings_for(args.weights)
    terms = [Hotword(text, 4, lang) for text, lang in HELDOUT_TERMS]
    recipe = json.loads(SETS[args.set].read_text())
    rows: dict[str, dict[str, Any]] = {}
    for name, hotwords in (("no list", []), ("mixed list", terms)):
        counts = {lang: HotwordCounts() for lang in ("zh", "en")}
        errors = {lang: ErrorCounts() for lang in ("zh", "en")}
        warnings: list[str] = []
        for recipe_file in recipe["files"][: args.files]:
            samples, spans = assemble(recipe_file, Path(args.shared))
            transcript = recognize(samples, model=args.model, settings=settings, hotwords=hotwords)
            warnings += transcript.warnings
            hyps = texts_by_utterance(transcript.sentences, spans)
            for i, (utt, _, _, _) in enumerate(spans):
                lang, hyp = utt["language"], " ".join(hyps[i])
                mine = [t.text for t in terms if t.lang == lang]
                counts[lang] += hotword_counts(utt["reference"], hyp, mine, language=lang)
                errors[lang] += score_text(utt["reference"], hyp, language=lang).overall
                if args.verbose:
                    print(f"{name} {utt['id']} [{lang}] {hyp}")
        rows[name] = {lang: {**counts[lang].to_dict(), "error_rate": round(errors[lang].error_rate or 0, 2)}
                      for lang in counts} | {"warnings": warnings}
    print(json.dumps(rows, ensure_ascii=False, indent=2))


def detection_items(shared: Path, part: str) -> list[tuple[str, Path]]:
    """(language, audio) of the utterances whose speech segments `detect` scores: the tuning part is
    AISHELL S0252 W0001-W0120, the LibriSpeech test-other utterances the report set leaves out and
    the LJSpeech sample; the report part, the report set's own utterances (AISHELL W0121-W0500)."""
    reported = {u["id"] for f in json.loads(RECIPE.read_text())["files"] for u in f["utterances"]}
    aishell = shared / "aishell_sample_S0252" / "wav"
    numbers = range(1, 121) if part == "tune" else range(121, 501)
    items = [("zh", aishell / f"BAC009S0252W{n:04d}.wav") for n in numbers]
    other = sorted((shared / "librispeech_test_subset" / "test-other").glob("*.flac"))
    items += [("en", p) for p in other if (p.stem in reported) == (part == "report")]
    if part == "tune":
        items += [("en", p) for p in sorted((shared / "ljspeech_sample").glob("*.wav"))]
    return [(lang, p) for lang, p in items if p.is_file()]


def detect(args: argparse.Namespace) -> None:
    """Each utterance cut at its pauses as the file path cuts a recording (`speech_segments`), each
    segment's language detected among `paraformer-realtime-v2`'s seven on its fitted window; the
    segments misdetected with zh and en expected, for each odds a language outside them needs
    (1: no prior)."""
    from hotasr.catalog import get_model
    from hotasr.engine import load_engine
    from hotasr.engine.faster_whisper_adapter import DecodePass, PassPlan
    from hotasr.engine.speech import speech_segments
    from hotasr.engine.whisper import fitted_window
    from hotasr.recognize import expected_languages
    from tests.engine_fixtures import settings_for

    settings = settings_for(args.weights)
    engine: Any = load_engine(settings.models["paraformer-realtime-v2"], settings)
    info = get_model("paraformer-realtime-v2")
    assert info is not None and info.languages is not None
    found: list[tuple[str, str, float, dict[str, float]]] = []
    for lang, path in detection_items(Path(args.shared), args.set):
        samples = decode_audio(path).samples
        for start, end in speech_segments(samples) or [(0, len(samples))]:
            pass_ = DecodePass(engine.model, PassPlan(fitted_window(end - start, args.margin), info.languages))
            features = pass_.feature_extractor(samples[start:end])
            found.append((lang, path.stem, (end - start) / SAMPLE_RATE,
                          dict(pass_.detect_language(features=features)[2])))
    print(f"{len(found)} segments, {sum(d < 2 for _, _, d, _ in found)} of them under 2 s")
    expected = expected_languages(info, [])
    for odds in args.odds:
        # The engine's own weighing (DecodePass._weighed), with zh and en expected as `recognize` has them.
        weighed = DecodePass(engine.model, PassPlan(heard=expected, unheard_weight=1 / odds))._weighed
        chosen = [(lang, stem, d, max(probs.items(), key=weighed)[0]) for lang, stem, d, probs in found]
        wrong = [(stem, d, got) for lang, stem, d, got in chosen if got != lang]
        print(f"odds {odds:g}: {len(wrong)} misdetected: "
              + ", ".join(f"{stem} ({d:.2f} s, {got})" for stem, d, got in wrong))


def cost(args: argparse.Namespace) -> None:
    """The files decoded with no language given, then with zh and with en forced: CPU seconds in the
    encoder (passes, frames) and in decoding (calls, tokens), counted at the adapter's seams.

    The seams are timed on the process's CPU clock: with a recording's stretches decoded side by
    side (the default), the parts overlap and add up to more than the total; `--one-at-a-time`
    decodes them one after the other, which attributes the time (and gives the time without
    batching)."""
    from hotasr.engine import faster_whisper_adapter as adapter
    from hotasr.engine import whisper
    from hotasr.recognize import recognize
    from tests.engine_fixtures import settings_for

    counts: defaultdict[str, float] = defaultdict(float)  # the untimed model load counts too, then is cleared
    encoding, generate = adapter.EncoderMemo.encoding, adapter.DecodePass.generate_with_fallback

    def timed(name: str, call: Callable[[], Any]) -> Any:
        start = time.process_time()
        out = call()
        counts[f"{name}_cpu_s"] += time.process_time() - start
        counts[f"{name}_calls"] += 1
        return out

    def counted_encoding(memo: Any, features: np.ndarray, encode: Any) -> Any:
        def encode_timed(f: np.ndarray) -> Any:
            counts["encoder_frames"] += f.shape[-1]
            return timed("encoder", lambda: encode(f))
        return encoding(memo, features, encode_timed)

    def counted_generate(self: Any, *a: Any, **k: Any) -> Any:
        out = timed("decoding", lambda: generate(self, *a, **k))
        counts["tokens"] += len(out[0].sequences_ids[0])
        return out

    adapter.EncoderMemo.encoding = counted_encoding  # type: ignore[method-assign,assignment]
    adapter.DecodePass.generate_with_fallback = counted_generate  # type: ignore[method-assign]
    if args.one_at_a_time:
        whisper._BATCH_STRETCHES = 1
    settings = settings_for(args.weights)
    recipe = json.loads(SETS[args.set].read_text())
    files = [assemble(f, Path(args.shared))[0] for f in recipe["files"][: args.files]]
    recognize(files[0][: 8 * SAMPLE_RATE], model=args.model, settings=settings)  # model load, untimed
    for hints in (None, ["zh"], ["en"]):
        counts.clear()
        start = time.process_time()
        for samples in files:
            recognize(samples, model=args.model, settings=settings, language_hints=hints)
        total = time.process_time() - start
        keys = ("encoder_cpu_s", "encoder_calls", "encoder_frames", "decoding_cpu_s", "decoding_calls", "tokens")
        print(json.dumps({"hints": hints, "cpu_s": round(total, 2), **{k: round(counts[k], 2) for k in keys}}))


def _decoding_parser(sub: Any, name: str, default_set: str) -> argparse.ArgumentParser:
    """A subcommand that decodes a set's files: which set, files and model."""
    parser: argparse.ArgumentParser = sub.add_parser(name)
    parser.add_argument("--set", choices=sorted(SETS), default=default_set,
                        help="tune: the set constants are chosen on; heldout: voices nothing was chosen on")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--model", default="fun-asr")
    parser.add_argument("--weights", default="whisper-base")
    return parser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    b.add_argument("--files", type=int, default=4)
    b.add_argument("--pairs", type=int, default=5)
    b.add_argument("--set", choices=sorted(SETS), default="report")
    s = _decoding_parser(sub, "score", "report")
    s.add_argument("--hints", type=lambda v: v.split(","), default=None,
                   help="language_hints of the bilingual decode, e.g. zh,en (default: none)")
    s.add_argument("--forced", action="store_true", help="also time the file decoded in one language (slow)")
    s.add_argument("--verbose", action="store_true")
    s.add_argument("--realtime", action="store_true", help="also stream each file through a real-time session")
    s.add_argument("--realtime-model", default="paraformer-realtime-v2")
    s.add_argument("--realtime-only", action="store_true", help="only the real-time path (implies --realtime)")
    s.add_argument("--no-alone", action="store_true", help="real time: skip streaming each utterance alone")
    s.add_argument("--realtime-forced", action="store_true",
                   help="real time: also stream each file with zh, then en forced (the same sentence cuts)")
    s.add_argument("--pauses", type=int, default=None, metavar="SEED",
                   help="redraw the pauses between utterances (0.4-0.9 s) with this seed (0: keep the recipe's), "
                        "and decode each utterance alone with its pauses around it: how much where sentences "
                        "fall moves the scores")
    s.add_argument("--unheard-odds", type=float, default=None,
                   help="override hotasr.engine.whisper.UNHEARD_ODDS (1: no prior), to choose it on --set tune")
    w = _decoding_parser(sub, "draws", "report")
    w.add_argument("--draws", type=int, default=10, help="pause seeds 1..N, after the recipe's own (0)")
    w.add_argument("--realtime-model", default="paraformer-realtime-v2")
    w.add_argument("--file-only", action="store_true", help="only the file path (real time is left out)")
    w.set_defaults(hints=None, forced=False, verbose=False, realtime_only=False, no_alone=False,
                   realtime_forced=False)
    d = sub.add_parser("detect")
    d.add_argument("--set", choices=sorted(SETS), default="tune")
    d.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    d.add_argument("--weights", default="whisper-base")
    d.add_argument("--odds", type=lambda v: [float(x) for x in v.split(",")], default=[1, 3, 10, 30, 100])
    d.add_argument("--margin", type=int, default=500, help="encoder frames of silence after a segment (decodes: 500)")
    _decoding_parser(sub, "cost", "report").add_argument(
        "--one-at-a-time", action="store_true", help="decode a recording's stretches one after the other")
    _decoding_parser(sub, "bias", "heldout").add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.command == "bias":
        bias(args)
    elif args.command == "detect":
        detect(args)
    elif args.command == "cost":
        cost(args)
    elif args.command == "draws":
        draws(args)
    elif args.command == "build":
        if args.set == "heldout":
            recipe = build_heldout(Path(args.shared), args.files, args.pairs)
        else:
            recipe = build(Path(args.shared), args.files, args.pairs, tune=args.set == "tune")
        SETS[args.set].write_text(json.dumps(recipe, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {SETS[args.set]}")
    else:
        args.realtime = args.realtime or args.realtime_only
        if args.unheard_odds is not None:
            import hotasr.engine.whisper

            hotasr.engine.whisper.UNHEARD_ODDS = args.unheard_odds
        score(args)


if __name__ == "__main__":
    main()
