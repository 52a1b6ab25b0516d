"""Open the results database by the documented precedence, refusing where a read needs one."""

from __future__ import annotations

from pathlib import Path

from r2d_sdk._errors import R2DError
from r2d_sdk._settings import database_url
from r2d_sdk.store._store import Store


def open_store(db: str | None = None, recipe_value: str | None = None, must_exist: bool = False) -> Store:
    """The results database: `db` (a path or URL), else R2D_DATABASE_URL, else the recipe's
    `database:`, else ./r2d-results.db. `must_exist` for commands that only read."""
    url = database_url(db, recipe_value)
    if must_exist and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):].split("?", 1)[0])
        if str(path) != ":memory:" and not path.exists():
            raise R2DError(f"no results database at {path}",
                           fix="run a recipe first (`r2d-sdk run RECIPE`), or point --db / R2D_DATABASE_URL "
                               "at an existing database")
    return Store(url)
