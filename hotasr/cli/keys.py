"""`hotasr keys`: accounts and API keys, managed directly in the configured database."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from hotasr.cli.common import err, fail, print_table

if TYPE_CHECKING:
    from hotasr.accounts import AccountService

# The database layer (SQLAlchemy, migrations) is imported by the commands that use it: every
# `hotasr` command line imports this module, and `hotasr vocab` should not wait for it.

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _service() -> AccountService:
    from hotasr.accounts import AccountService
    from hotasr.config import Settings
    from hotasr.storage.db import make_engine, make_sessions, migrate

    engine = make_engine(Settings().resolved_database_url)
    migrate(engine)
    return AccountService(make_sessions(engine))


def _database() -> str:
    """The database keys go to, password hidden: a server started with other settings will not know them."""
    from sqlalchemy import make_url

    from hotasr.config import Settings

    return make_url(Settings().resolved_database_url).render_as_string(hide_password=True)


@keys_app.command("create")
def create(
    account: Annotated[str, typer.Option(help="Account the key belongs to (created if new).")],
) -> None:
    """Create a key; the key alone is printed on stdout so scripts can capture it."""
    from hotasr.accounts import AccountError

    try:
        new = _service().create_key(account)
    except AccountError as exc:
        fail(str(exc))
    err.print(f"Created key {new.key_id} for account '{new.account}' in {_database()}. It is shown only once:",
              markup=False, highlight=False)
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
    print_table(
        ("key id", "account", "starts with", "created", "status"),
        ((key.key_id, key.account, key.hint + "…", f"{key.created_at:%Y-%m-%d %H:%M}",
          f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active") for key in keys),
    )


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by 'hotasr keys list'.")]) -> None:
    """Revoke a key: requests with it get 401 from then on."""
    from hotasr.accounts import AccountError

    try:
        _service().revoke_key(key_id)
    except AccountError as exc:
        fail(str(exc))
    err.print(f"Revoked {key_id}.")
