"""`hotasr keys`: accounts and API keys, managed directly in the configured database."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hotasr.accounts import AccountError, AccountService
from hotasr.cli.common import err, fail
from hotasr.config import Settings
from hotasr.storage.db import make_engine, make_sessions, migrate

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _service() -> AccountService:
    engine = make_engine(Settings().resolved_database_url)
    migrate(engine)
    return AccountService(make_sessions(engine))


@keys_app.command("create")
def create(
    account: Annotated[str, typer.Option(help="Account the key belongs to (created if new).")],
) -> None:
    """Create a key; the key alone is printed on stdout so scripts can capture it."""
    try:
        new = _service().create_key(account)
    except AccountError as exc:
        fail(str(exc))
    err.print(f"Created key {new.key_id} for account '{new.account}'. It is shown only once:")
    typer.echo(new.secret)


@keys_app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List keys (never their secrets)."""
    keys = _service().list_keys()
    if as_json:
        rows = [{"key_id": k.key_id, "account": k.account, "starts_with": k.hint, "created": k.created_at.isoformat(),
                 "revoked": k.revoked_at.isoformat() if k.revoked_at else None} for k in keys]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("key id", "account", "starts with", "created", "status")
    for key in keys:
        status = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        table.add_row(key.key_id, key.account, key.hint + "…", f"{key.created_at:%Y-%m-%d %H:%M}", status)
    Console().print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by 'hotasr keys list'.")]) -> None:
    """Revoke a key: requests with it get 401 from then on."""
    try:
        _service().revoke_key(key_id)
    except AccountError as exc:
        fail(str(exc))
    err.print(f"Revoked {key_id}.")
