"""`hotasr vocab`: hotword lists on a running server, in the docs' JSON format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hotasr.cli.common import err, fail, print_table, read_hotwords_file
from hotasr.client import DEFAULT_SERVER, Client, ServerError

vocab_app = typer.Typer(help="Manage hotword lists on a server.", no_args_is_help=True)

ServerOpt = Annotated[str, typer.Option("--server", envvar="HOTASR_SERVER", help="Server base URL.")]
KeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar=["HOTASR_API_KEY", "DASHSCOPE_API_KEY"], help="API key.", show_default=False),
]
TermOpt = Annotated[
    list[str] | None,
    typer.Option("--term", "-t", help='A hotword as TEXT[:WEIGHT[:LANG]], e.g. "Dashwood:4:en" (weight 4 if omitted).'),
]
FileOpt = Annotated[Path | None, typer.Option("--file", "-f", help="A JSON file: [{text, weight, lang}, ...].")]


def _client(server: str, api_key: str | None) -> Client:
    if not api_key:
        fail("no API key: pass --api-key or set HOTASR_API_KEY")
    return Client(server, api_key)


def _call(client: Client, action: str, **fields: Any) -> dict[str, Any]:
    try:
        return client.vocabulary(action, **fields)
    except ServerError as exc:
        fail(str(exc))


def parse_term(spec: str) -> dict[str, Any]:
    # Split from the right so a term may itself contain colons ("Vue:3" is unusual but legal).
    parts = spec.rsplit(":", 2)
    text, weight, lang = spec, "4", None
    if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
        text, weight = parts[0], parts[1]
        lang = parts[2] if len(parts) == 3 else None
    elif len(parts) >= 2 and parts[-1].lstrip("-").isdigit():
        text, weight = spec.rsplit(":", 1)
    item: dict[str, Any] = {"text": text, "weight": int(weight)}
    if lang:
        item["lang"] = lang
    return item


def _items(terms: list[str] | None, file: Path | None) -> list[Any]:
    items: list[Any] = read_hotwords_file(file) if file else []
    items += [parse_term(t) for t in terms or []]
    if not items:
        fail("no hotwords given: use --term TEXT[:WEIGHT[:LANG]] or --file FILE.json")
    return items


@vocab_app.command("create")
def create(
    target_model: Annotated[str, typer.Option(help="Model the list is for, e.g. fun-asr.")],
    prefix: Annotated[str, typer.Option(help="1-10 lowercase letters/digits, part of the id.")],
    term: TermOpt = None,
    file: FileOpt = None,
    server: ServerOpt = DEFAULT_SERVER,
    api_key: KeyOpt = None,
) -> None:
    """Create a list; prints its vocabulary_id."""
    output = _call(
        _client(server, api_key), "create_vocabulary",
        target_model=target_model, prefix=prefix, vocabulary=_items(term, file),
    )
    typer.echo(output["vocabulary_id"])


@vocab_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSON file: [{text, weight, lang}, ...].")],
    target_model: Annotated[str, typer.Option(help="Model the list is for, e.g. fun-asr.")],
    prefix: Annotated[str, typer.Option(help="1-10 lowercase letters/digits.")],
    into: Annotated[str | None, typer.Option(help="Replace the terms of this existing list instead.")] = None,
    server: ServerOpt = DEFAULT_SERVER,
    api_key: KeyOpt = None,
) -> None:
    """Create a list from a JSON file (or replace an existing list's terms with --into)."""
    client = _client(server, api_key)
    items = read_hotwords_file(file)
    if into:
        _call(client, "update_vocabulary", vocabulary_id=into, vocabulary=items)
        typer.echo(into)
        return
    output = _call(client, "create_vocabulary", target_model=target_model, prefix=prefix, vocabulary=items)
    typer.echo(output["vocabulary_id"])


@vocab_app.command("list")
def list_(
    prefix: Annotated[str | None, typer.Option(help="Only lists with this prefix.")] = None,
    page_index: Annotated[int, typer.Option(help="Page number, from 0.")] = 0,
    page_size: Annotated[int, typer.Option(help="Lists per page.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    server: ServerOpt = DEFAULT_SERVER,
    api_key: KeyOpt = None,
) -> None:
    """List hotword lists."""
    fields: dict[str, Any] = {"page_index": page_index, "page_size": page_size}
    if prefix:
        fields["prefix"] = prefix
    lists = _call(_client(server, api_key), "list_vocabulary", **fields)["vocabulary_list"]
    if as_json:
        typer.echo(json.dumps(lists, ensure_ascii=False, indent=2))
        return
    print_table(("vocabulary_id", "created", "modified", "status"),
                ((v["vocabulary_id"], v["gmt_create"], v["gmt_modified"], v["status"]) for v in lists))


@vocab_app.command("show")
def show(
    vocabulary_id: str, server: ServerOpt = DEFAULT_SERVER, api_key: KeyOpt = None
) -> None:
    """Print a list with its terms as JSON."""
    output = _call(_client(server, api_key), "query_vocabulary", vocabulary_id=vocabulary_id)
    typer.echo(json.dumps(output, ensure_ascii=False, indent=2))


@vocab_app.command("update")
def update(
    vocabulary_id: str,
    term: TermOpt = None,
    file: FileOpt = None,
    server: ServerOpt = DEFAULT_SERVER,
    api_key: KeyOpt = None,
) -> None:
    """Replace all terms of a list."""
    _call(_client(server, api_key), "update_vocabulary", vocabulary_id=vocabulary_id, vocabulary=_items(term, file))
    err.print(f"Updated {vocabulary_id}.")


@vocab_app.command("delete")
def delete(vocabulary_id: str, server: ServerOpt = DEFAULT_SERVER, api_key: KeyOpt = None) -> None:
    """Delete a list."""
    _call(_client(server, api_key), "delete_vocabulary", vocabulary_id=vocabulary_id)
    err.print(f"Deleted {vocabulary_id}.")


@vocab_app.command("export")
def export(
    vocabulary_id: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    server: ServerOpt = DEFAULT_SERVER,
    api_key: KeyOpt = None,
) -> None:
    """Write a list's terms in the docs' JSON format (importable with 'hotasr vocab import')."""
    terms = _call(_client(server, api_key), "query_vocabulary", vocabulary_id=vocabulary_id)["vocabulary"]
    text = json.dumps(terms, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"Wrote {len(terms)} terms to {output}.")


