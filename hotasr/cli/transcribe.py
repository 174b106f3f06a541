"""`hotasr transcribe`: transcribe local files, optionally biased by a hotword list.

The list comes from a JSON file in the docs' format (`--hotwords terms.json`) or from a server
(`--vocabulary-id vocab-...`, fetched with query_vocabulary). Errors are one line on stderr and a
non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hotasr.api.dashscope_shapes import transcript_from_document, word_json
from hotasr.catalog import ModelInfo, get_model
from hotasr.cli.common import err, fail, print_error, print_warning, read_hotwords_file
from hotasr.client import DEFAULT_SERVER, Client, ServerError
from hotasr.hotwords import Hotword, HotwordError, parse_hotword_list
from hotasr.subtitles import to_srt, to_vtt
from hotasr.tasks.client import transcribe_remote
from hotasr.transcript import Sentence, Transcript, word_joiner

# The model, audio decoding and settings are imported where a file is transcribed here: every
# `hotasr` command line imports this module, and the others (`vocab`, `keys`, `--help`) should
# not wait for them.
if TYPE_CHECKING:
    from hotasr.config import Settings
    from hotasr.diarization import DiarizationOptions  # imported when --diarize asks for it

# A progress bar for anything shorter only flickers.
_PROGRESS_MIN_MS = 30_000


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    srt = "srt"
    vtt = "vtt"


class Biasing(StrEnum):
    hotasr = "hotasr"
    prompt = "prompt"
    none = "none"


def transcribe_command(
    files: Annotated[list[Path], typer.Argument(help="Audio files (any format FFmpeg reads).", show_default=False)],
    hotwords: Annotated[
        Path | None,
        typer.Option("--hotwords", help='Hotword list: a JSON file [{"text", "weight", "lang"}, ...].'),
    ] = None,
    vocabulary_id: Annotated[
        str | None,
        typer.Option("--vocabulary-id", help=f"Use a hotword list stored on the server (default {DEFAULT_SERVER})."),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option("--server", envvar="HOTASR_SERVER", show_default=False,
                     help="Transcribe on this hotasr server (files are uploaded) instead of in this process."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar=["HOTASR_API_KEY", "DASHSCOPE_API_KEY"],
            help="API key for --server.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="DashScope model name.")] = "fun-asr",
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Language spoken (also filters hotwords by lang).")
    ] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (OutputFormat.text),
    biasing: Annotated[
        Biasing,
        typer.Option("--biasing", help="hotasr: biased decoding; prompt: Whisper prompt; none: ignore hotwords."),
    ] = Biasing.hotasr,
    channel: Annotated[
        int | None, typer.Option("--channel", help="Transcribe only this channel (0-based); default: downmix.")
    ] = None,
    diarize: Annotated[
        bool, typer.Option("--diarize", help="Label sentences with speakers (0, 1, ...), split at speaker changes.")
    ] = False,
    speaker_count: Annotated[
        int | None, typer.Option("--speaker-count", help="With --diarize: the number of speakers (2-100).")
    ] = None,
) -> None:
    """Transcribe audio files."""
    # faster-whisper and hotasr log their warnings; the CLI prints the transcript's own instead.
    logging.getLogger("hotasr").setLevel(logging.ERROR)
    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    if hotwords is not None and vocabulary_id is not None:
        fail("use either --hotwords or --vocabulary-id, not both")
    diarization = _diarization_options(diarize, speaker_count)
    if server is not None:
        if hotwords is not None or biasing is not Biasing.hotasr or channel is not None:
            fail("--hotwords, --biasing and --channel work in-process only; on a server, store the list "
                 "(hotasr vocab import) and pass --vocabulary-id")
        extra = _server_parameters(diarization is not None, speaker_count)
        transcripts = _transcribe_on_server(files, server, api_key, model, vocabulary_id, language, extra)
    else:
        transcripts = _transcribe_here(
            files, model, hotwords, vocabulary_id, api_key, language, biasing, channel, diarization
        )
    _output(transcripts, output_format, len(files))


def _transcribe_here(
    files: list[Path], model: str, hotwords: Path | None, vocabulary_id: str | None, api_key: str | None,
    language: str | None, biasing: Biasing, channel: int | None, diarization: DiarizationOptions | None,
) -> list[tuple[Path, Transcript | str]]:
    """Transcribes `files` in this process: a file that fails gets its one-line error in its place."""
    from hotasr.audio import AudioError
    from hotasr.config import Settings
    from hotasr.engine import EngineError
    from hotasr.recognize import ModelNotServed

    settings = Settings()
    info = _served_model(model, settings)
    terms, target_model = _hotword_list(hotwords, vocabulary_id, api_key, info, settings)
    transcripts: list[tuple[Path, Transcript | str]] = []
    for path in files:
        try:
            transcripts.append((path, _transcribe_one(
                path, model, settings, terms, language, target_model, biasing.value, channel, diarization
            )))
        except (AudioError, EngineError, ModelNotServed) as exc:
            transcripts.append((path, str(exc)))
        except Exception as exc:  # a bug or a runtime failure still gets one line, not a traceback
            transcripts.append((path, f"{type(exc).__name__}: {exc}"))
    return transcripts


def _served_model(model: str, settings: Settings) -> ModelInfo:
    from hotasr.recognize import ModelNotServed, check_served

    try:
        check_served(model, settings)
    except ModelNotServed as exc:
        fail(exc.message)
    info = get_model(model)
    assert info is not None  # check_served refuses unknown names
    return info


def _hotword_list(
    hotwords: Path | None, vocabulary_id: str | None, api_key: str | None, info: ModelInfo, settings: Settings,
) -> tuple[list[Hotword], str | None]:
    """The list to bias by (from the file or the server, or none) and the model it was stored for."""
    try:
        if hotwords is not None:
            items = read_hotwords_file(hotwords)
            return parse_hotword_list(items, info.hotword_langs, settings.max_terms_per_vocabulary), None
        if vocabulary_id is not None:
            return _fetch_vocabulary(vocabulary_id, DEFAULT_SERVER, api_key, info.hotword_langs)
    except HotwordError as exc:
        fail(f"hotword list: {exc}")
    return [], None


def _server_parameters(diarized: bool, speaker_count: int | None) -> dict[str, Any]:
    """The task's extra parameters for --diarize / --speaker-count, as the server's API names them."""
    extra: dict[str, Any] = {}
    if diarized:
        extra["diarization_enabled"] = True
        if speaker_count is not None:
            extra["speaker_count"] = speaker_count
    return extra


def _output(transcripts: list[tuple[Path, Transcript | str]], output_format: OutputFormat, count: int) -> None:
    """Print each transcript (errors and warnings on stderr); exit 1 if any file failed."""
    results: list[tuple[Path, Transcript]] = []
    failed = 0
    for path, transcript in transcripts:
        if isinstance(transcript, str):
            print_error(f"{path}: {transcript}")
            failed += 1
            continue
        for warning in transcript.warnings:
            print_warning(f"{path}: {warning}")
        results.append((path, transcript))
        if output_format is not OutputFormat.json:
            typer.echo(_render(path, transcript, output_format, several=count > 1), nl=False)
    if output_format is OutputFormat.json and results:
        payload = [_as_json(p, t) for p, t in results]
        typer.echo(json.dumps(payload[0] if count == 1 else payload, ensure_ascii=False, indent=2))
    if failed:
        raise typer.Exit(1)


def _diarization_options(diarize: bool, speaker_count: int | None) -> DiarizationOptions | None:
    if not diarize:
        if speaker_count is not None:
            fail("--speaker-count needs --diarize")
        return None
    from hotasr.diarization import DiarizationOptions

    try:
        return DiarizationOptions(speaker_count)
    except ValueError as exc:
        fail(f"--speaker-count: {exc}")


def _transcribe_on_server(
    files: list[Path], server: str, api_key: str | None, model: str, vocabulary_id: str | None,
    language: str | None, extra: dict[str, Any],
) -> list[tuple[Path, Transcript | str]]:
    if not api_key:
        fail("--server needs an API key: pass --api-key or set HOTASR_API_KEY")
    try:
        with err.status(f"transcribing {len(files)} file(s) on {server}"):
            results = transcribe_remote(server, api_key, files, model=model, vocabulary_id=vocabulary_id,
                                        language_hints=[language] if language else None, extra_parameters=extra)
    except (ServerError, FileNotFoundError) as exc:
        fail(str(exc))
    out: list[tuple[Path, Transcript | str]] = []
    for path, result in zip(files, results, strict=True):
        if result.get("subtask_status") == "FAILED":
            out.append((path, f"{result.get('code')}: {result.get('message')}"))
        else:
            out.append((path, transcript_from_document(result)))
    return out


def _transcribe_one(
    path: Path,
    model: str,
    settings: Settings,
    terms: list[Hotword],
    language: str | None,
    target_model: str | None,
    biasing: Any,
    channel: int | None,
    diarization: DiarizationOptions | None = None,
) -> Transcript:
    from hotasr.audio import AudioLimits, decode_audio
    from hotasr.recognize import recognize

    decoded = decode_audio(path, channel=channel, limits=AudioLimits.from_settings(settings))

    def run(progress: Callable[[float], None] | None = None) -> Transcript:
        return recognize(
            decoded.samples,
            model=model,
            settings=settings,
            hotwords=terms,
            language_hints=[language] if language else None,
            vocabulary_target_model=target_model,
            biasing=biasing,
            progress=progress,
            speech_gate=True,
        )

    if decoded.info.duration_ms < _PROGRESS_MIN_MS:
        transcript = run()
    else:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(path.name, total=1.0)
            transcript = run(lambda done: bar.update(task, completed=done))
    transcript.warnings[:0] = decoded.warnings
    if diarization is not None:
        from hotasr.diarization import diarize_transcript

        transcript = diarize_transcript(decoded.samples, transcript, settings.model_cache_dir, diarization)
    return transcript


def _fetch_vocabulary(
    vocabulary_id: str, server: str, api_key: str | None, langs: frozenset[str]
) -> tuple[list[Hotword], str | None]:
    if not api_key:
        fail("--vocabulary-id needs an API key: pass --api-key or set HOTASR_API_KEY")
    try:
        output = Client(server, api_key).vocabulary("query_vocabulary", vocabulary_id=vocabulary_id)
    except ServerError as exc:
        fail(f"cannot fetch vocabulary {vocabulary_id}: {exc}")
    items = output.get("vocabulary")
    if not isinstance(items, list):
        fail(f"server returned no hotword list for {vocabulary_id}")
    terms = parse_hotword_list(items, langs, max_terms=max(len(items), 1))
    return terms, output.get("target_model")


# -- output ------------------------------------------------------------------------------------


def _render(path: Path, transcript: Transcript, fmt: OutputFormat, *, several: bool) -> str:
    if fmt is OutputFormat.text:
        text = transcript.text + "\n"
        spoken = transcript.spoken
        if any(s.speaker_id is not None for s in spoken):
            text = _by_speaker(spoken, transcript)
        return f"{path}: {text}" if several else text
    if fmt is OutputFormat.srt:
        return to_srt(transcript, speakers=True) + ("\n" if several else "")
    return to_vtt(transcript, speakers=True)


def _by_speaker(cues: list[Sentence], transcript: Transcript) -> str:
    """One line per speaker turn: "Speaker 0: ..." (consecutive sentences of a speaker joined)."""
    lines: list[tuple[int | None, list[str]]] = []
    for s in cues:
        if lines and lines[-1][0] == s.speaker_id:
            lines[-1][1].append(s.text.strip())
        else:
            lines.append((s.speaker_id, [s.text.strip()]))
    joiner = word_joiner(transcript.language)
    return "".join(f"Speaker {speaker}: {joiner.join(texts)}\n" for speaker, texts in lines)


def _as_json(path: Path, transcript: Transcript) -> dict[str, Any]:
    # DashScope's field names (begin_time/end_time in ms) so the output reads like its results.
    return {
        "file": str(path),
        "language": transcript.language,
        "duration_ms": transcript.duration_ms,
        "text": transcript.text,
        "sentences": [
            {
                "begin_time": s.begin_ms,
                "end_time": s.end_ms,
                "text": s.text,
                **({"speaker_id": s.speaker_id} if s.speaker_id is not None else {}),
                "words": [word_json(w) for w in s.words],
            }
            for s in transcript.sentences
        ],
        "warnings": transcript.warnings,
    }
