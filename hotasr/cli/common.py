"""Helpers shared by the CLI commands: settings, errors without tracebacks."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """One plain line on stderr: messages quote user input ("['zh']"), which is not rich markup."""
    err.print("error: " + message, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)
