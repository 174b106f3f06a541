"""`hotasr transcribe` (owned by the engine work; placeholder until it lands)."""

import typer


def transcribe_command() -> None:
    """Transcribe audio files."""
    raise typer.Exit(code=2)
