"""`hotasr eval`: measure what hotword biasing buys on a manifest (see hotasr.evaluation)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hotasr.cli.common import fail

if TYPE_CHECKING:
    from hotasr.config import Settings
    from hotasr.evaluation.runner import EvalReport


def eval_command(
    manifest: Annotated[Path, typer.Argument(help="JSONL manifest (see bench/sets/README.md).")],
    model: Annotated[str, typer.Option(help="DashScope model name to recognise as.")] = "fun-asr",
    modes: Annotated[
        str, typer.Option(help="Comma-separated biasing modes, run on every utterance in one run.")
    ] = "none,prompt,hotasr",
    limit: Annotated[int | None, typer.Option(help="Only the first N utterances.", min=1)] = None,
    out: Annotated[Path, typer.Option(help="Directory for report.json and report.md (created if missing).")] = Path(
        "eval-report"
    ),
    weights: Annotated[
        str | None,
        typer.Option(help="Override the model's weights for this run, e.g. whisper-tiny.en or whisper-base."),
    ] = None,
) -> None:
    """Evaluate hotword biasing on a manifest: WER/CER, U-WER, B-WER, hotword recall/precision, RTF."""
    from hotasr.evaluation.runner import MODES  # imported here so `hotasr --help` stays fast

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in MODES]
    if not mode_list or bad:
        fail(f"--modes takes a comma-separated subset of {','.join(MODES)}; got {modes!r}", code=2)
    settings = _settings(model, weights)
    console = Console(stderr=True)
    report = _evaluate_with_progress(console, manifest, model, mode_list, settings, limit)
    markdown = _write_report(report, out)
    typer.echo(markdown)
    console.print(f"wrote {out / 'report.json'} and {out / 'report.md'}", highlight=False)


def _settings(model: str, weights: str | None) -> Settings:
    """The configuration, with --weights in the model's route; fails unless it serves `model`."""
    from pydantic import ValidationError

    from hotasr.config import ModelRoute, Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        fail(f"invalid configuration: {exc}")
    if weights is not None:
        route = settings.models.get(model) or ModelRoute()
        settings.models[model] = route.model_copy(update={"weights": weights})
    if not settings.is_served(model):
        fail(f"model {model!r} is not configured (served models: {', '.join(sorted(settings.models))})")
    return settings


def _evaluate_with_progress(
    console: Console, manifest: Path, model: str, modes: list[str], settings: Settings, limit: int | None
) -> EvalReport:
    """`evaluate`, with a progress bar on stderr; a bad manifest or a failed recognition is one line."""
    from hotasr.evaluation.manifest import ManifestError
    from hotasr.evaluation.runner import EvaluationError, evaluate

    with Progress(
        TextColumn("[bold]eval[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("loading model", total=None)

        def progress(done: int, total: int, description: str) -> None:
            bar.update(task, completed=done, total=total, description=description)

        try:
            return evaluate(manifest, model=model, modes=modes, settings=settings, limit=limit, progress=progress)
        except (ManifestError, EvaluationError) as exc:
            fail(str(exc))


def _write_report(report: EvalReport, out: Path) -> str:
    """Writes report.json and report.md under `out`; returns the markdown."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(report.to_json() + "\n", encoding="utf-8")
        markdown = report.to_markdown()
        (out / "report.md").write_text(markdown, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write the report to {out}: {exc}")
    return markdown
