"""`hotasr eval` (owned by the evaluation work; placeholder until it lands)."""

import typer


def eval_command() -> None:
    """Evaluate hotword biasing on a manifest."""
    raise typer.Exit(code=2)
