"""`hotasr serve`: run the API server."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default from config: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default from config: 8000).")] = None,
) -> None:
    """Serve the DashScope-compatible API."""
    import uvicorn

    from hotasr.api.app import create_app
    from hotasr.config import Settings
    from hotasr.logs import configure_logging

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates them
    configure_logging(settings.log_json, settings.log_level)
    app = create_app(settings)
    accounts = app.state.accounts
    if not accounts.has_accounts():
        new = accounts.create_key("default")
        typer.echo(
            f"First start: created account '{new.account}' with this API key (shown once, keep it):\n"
            f"{new.secret}\n"
            "Use it as 'Authorization: Bearer <key>' or DASHSCOPE_API_KEY. "
            "More keys: hotasr keys create --account NAME",
            err=False,
        )
    typer.echo(f"hotasr serving on http://{settings.host}:{settings.port} (data: {settings.data_dir})")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our handler: one format, request ids, optional JSON
        access_log=False,  # hotasr.access logs each request with its id instead
        ws_ping_interval=20,
        # SIGTERM: stop accepting, let in-flight requests and file tasks finish for up to this long.
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
