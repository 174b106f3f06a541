"""Helpers shared by the CLI commands: settings, errors without tracebacks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Column, Table

err = Console(stderr=True)


def print_error(message: str) -> None:
    """One plain line on stderr, whatever the terminal width (scripts grep it); messages quote user
    input such as "['zh']", so they are never read as rich markup."""
    err.print("error: " + message, style="red", markup=False, highlight=False, soft_wrap=True)


def print_warning(message: str) -> None:
    err.print("warning: " + message, style="yellow", markup=False, highlight=False, soft_wrap=True)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table on stdout whose cells are never cut or wrapped: ids are copied from it whole. On a
    terminal (or pipe) narrower than the table, lines run past its edge instead."""
    table = Table(*(Column(name, no_wrap=True) for name in columns))
    for row in rows:
        table.add_row(*row)
    console = Console()
    needed = console.measure(table, options=console.options.update_width(100_000)).maximum
    (console if needed <= console.width else Console(width=needed)).print(table)


def fail(message: str, code: int = 1) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def read_hotwords_file(path: Path) -> list[Any]:
    """A hotword list file in the docs' format: a JSON array of {text, weight, lang} objects."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path} is not valid JSON: {exc}")
    if not isinstance(data, list):
        fail(f'{path} must hold a JSON array like [{{"text": "...", "weight": 4, "lang": "en"}}]')
    return data
