"""Named queries: every figure a report shows is read from the store by one of these.

Each is plain SQL over the tables and views of docs/sql.md with named parameters, so what a
report prints can be reproduced with `r2d-sdk sql`, and a report of a PostgreSQL database with
millions of samples aggregates in the database, never in Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from r2d_sdk._errors import ConfigError

QUERIES: dict[str, str] = {
    # What each defense costs beyond a plain answer (the view is the one definition).
    "defense_cost": "SELECT * FROM defense_cost WHERE run_id = :run_id",
}


def named_query(store: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a named query as dicts."""
    if name not in QUERIES:
        raise ConfigError(f"no report query named '{name}'", fix=f"use one of: {', '.join(sorted(QUERIES))}")
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(QUERIES[name]), params)]
