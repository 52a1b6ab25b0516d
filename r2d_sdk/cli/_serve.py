"""`r2d-sdk serve RECIPE`: the recipe's routes as an OpenAI-compatible HTTP API."""

from __future__ import annotations

from pathlib import Path

import click

from r2d_sdk.cli._common import db_option, friendly_errors


@click.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--host", default=None, help="Address to listen on (default: the recipe's serve.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: the recipe's serve.port, 8000).")
@db_option
@click.option("--access-log/--no-access-log", default=True, help="Print one line per HTTP request.")
@friendly_errors
def serve(recipe: Path, host: str | None, port: int | None, db: str | None, access_log: bool) -> None:
    """Serve a recipe's routes: POST /v1/chat/completions, GET /v1/models, GET /health.

    Each route of the recipe's `serve:` section answers through its model and defense stack;
    every request is a row in the results database (guard_requests). Ctrl-C or SIGTERM stops
    accepting, lets in-flight requests finish and writes the log.
    """
    from r2d_sdk.recipe import load_recipe
    from r2d_sdk.serve import Gateway
    from r2d_sdk.serve import serve as run_gateway

    gateway = Gateway(load_recipe(recipe), db)
    config = gateway.config
    host, port = host or config.host, port or config.port
    store = gateway.log.store if gateway.log is not None else None
    where = "not logged" if store is None else f"logged to {store.sqlite_path or store.display_url}"
    keys = f"{len(config.api_keys)} API key(s)" if config.api_keys else \
        "no API key (anyone who reaches the port may call it)"
    click.echo(f"serving {', '.join(gateway.guards)} at http://{host}:{port}/v1; {keys}; requests {where}", err=True)
    run_gateway(gateway, host, port, access_log)
