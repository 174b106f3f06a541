"""The `hotasr` command."""

from __future__ import annotations

import typer
from threadpoolctl import threadpool_limits

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
    # The heavy work is CTranslate2's, on the threads it is given. numpy's BLAS (feature extraction,
    # small products) keeps a thread per core spinning after each call, on the cores the decoders
    # need: two workers on two cores decoded 16% slower for it.
    threadpool_limits(1, user_api="blas")
    app()
