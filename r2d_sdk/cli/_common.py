"""What every command shares: error printing without tracebacks, recipe checks, opening the store."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from r2d_sdk._errors import ConfigError, R2DError

F = TypeVar("F", bound=Callable[..., Any])

db_option = click.option("--db", "db", default=None, metavar="URL",
                         help="Results database: a SQLite path or SQLAlchemy URL "
                              "(default: R2D_DATABASE_URL, else the recipe's `database`, else ./r2d-results.db).")

COMPONENT_FIELDS = ("datasets", "attacks", "defenses", "judges", "metrics")


def friendly_errors(function: F) -> F:
    """Print an R2DError as one message with its fix and exit with its code; no traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except R2DError as error:
            click.secho(f"error: {error.message}", fg="red", err=True)
            if error.fix:
                click.echo(f"  fix: {error.fix}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def limit_datasets(loaded: Any, limit: int | None) -> None:
    """`--limit N`: keep only the first N items of each of the recipe's datasets."""
    if limit is not None:
        for spec in loaded.recipe.datasets:
            spec.limit = min(spec.limit or limit, limit)


def check_recipe(loaded: Any, load_data: bool = True) -> list[str]:
    """Check a loaded recipe as far as can be done without running it; nothing is written.

    Every plugin name and its arguments, the models' generation settings, and (with
    `load_data`) each dataset's items. Errors name the recipe file and the field path.

    Returns:
        One "label: N items" line per dataset (empty without `load_data`).
    """
    from r2d_sdk._context import Context
    from r2d_sdk._registry import lookup, validate_config
    from r2d_sdk.run import load_items
    from r2d_sdk.run._build import build_models

    recipe = loaded.recipe
    where = str(loaded.path) if loaded.path else "<recipe>"
    try:
        for field_name in COMPONENT_FIELDS:
            for index, spec in enumerate(getattr(recipe, field_name)):
                path = f"{field_name}[{index}]"
                try:
                    info = lookup(field_name[:-1], spec.name)
                except ConfigError as error:
                    raise ConfigError(f"{path}.name: {error.message}", error.fix) from None
                validate_config(info, spec.args, f"{path}.args: {field_name[:-1]}")
        models = build_models(recipe, None)
        if not load_data:
            return []
        context = Context(models=models, seed=recipe.seed, generation=recipe.generation.params())
        return [f"{spec.key}: {len(load_items(spec, context, f'datasets[{i}]'))} items"
                for i, spec in enumerate(recipe.datasets)]
    except ConfigError as error:
        raise ConfigError(f"{where}: {error.message}", error.fix) from None


def open_store(db: str | None, recipe_value: str | None = None, must_exist: bool = False) -> Any:
    """The results database by the documented precedence; `must_exist` for commands that only read."""
    from r2d_sdk._settings import database_url
    from r2d_sdk.store import Store

    url = database_url(db, recipe_value)
    if must_exist and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):].split("?", 1)[0])
        if str(path) != ":memory:" and not path.exists():
            raise R2DError(f"no results database at {path}",
                           fix="run a recipe first (`r2d-sdk run RECIPE`), or point --db / R2D_DATABASE_URL "
                               "at an existing database")
    return Store(url)
