"""The `hotasr` command."""

from __future__ import annotations

import typer

from hotasr.cli.evaluate import eval_command
from hotasr.cli.keys import keys_app
from hotasr.cli.serve import serve_command
from hotasr.cli.transcribe import transcribe_command
from hotasr.cli.vocab import vocab_app
from hotasr.cli.worker import worker_command

app = typer.Typer(
    name="hotasr",
    help="Self-hosted speech recognition with hotword lists (DashScope-compatible).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_command)
app.add_typer(keys_app, name="keys")
app.add_typer(vocab_app, name="vocab")
app.command("transcribe")(transcribe_command)
app.command("eval")(eval_command)
app.command("worker")(worker_command)


def main() -> None:
    app()
