"""What every command shares: error printing without tracebacks, the --db option, opening the store."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from r2d_sdk._errors import R2DError
from r2d_sdk._redact import redact

F = TypeVar("F", bound=Callable[..., Any])

db_option = click.option("--db", "db", default=None, metavar="URL",
                         help="Results database: a SQLite path or SQLAlchemy URL "
                              "(default: R2D_DATABASE_URL, else the recipe's `database`, else ./r2d-results.db).")

def friendly_errors(function: F) -> F:
    """Print an R2DError as one message with its fix and exit with its code; no traceback.

    The text is redacted (`r2d_sdk._redact`) in case an error made elsewhere carries a key.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except R2DError as error:
            click.secho(f"error: {redact(error.message)}", fg="red", err=True)
            if error.fix:
                click.echo(f"  fix: {redact(error.fix)}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def open_store(db: str | None, recipe_value: str | None = None, must_exist: bool = False) -> Any:
    """The results database by the documented precedence (`r2d_sdk.store.open_store`)."""
    from r2d_sdk.store import open_store as open_results

    return open_results(db, recipe_value, must_exist)
