"""Field types the recipe sections share: names, and the `database:` value."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "postgres")


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    # Names become database keys and terminal output; PostgreSQL refuses NUL in text outright.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters (tabs, newlines, NUL)")
    return value


Name = Annotated[str, AfterValidator(_name)]
"""A name or label: not blank, no control characters."""


def check_database(value: str) -> str:
    """A `database:` value: a SQLite path, or a URL SQLAlchemy parses for SQLite or PostgreSQL.

    Parsed only: nothing is opened or connected to, so `validate` stays side-effect free.
    """
    if not value.strip():
        raise ValueError("is empty; leave `database:` out to use ./r2d-results.db")
    if "://" not in value:
        return value  # a SQLite file, created by the run
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError) as error:
        raise ValueError(f"is not a database URL ({error}); write a path, sqlite:///file.db or "
                         "postgresql://user@host/db") from None
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError(f"has port {url.port}; a port is 1 to 65535")
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ValueError(f"names a '{url.get_backend_name()}' database; results go to SQLite (a path or "
                         "sqlite:///file.db) or PostgreSQL (postgresql://user@host/db)")
    try:
        if url.get_backend_name() != "postgres":  # the store reads postgres:// as postgresql+psycopg://
            url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"names the unknown driver '{url.drivername}'; write postgresql://... "
                         "(psycopg) or sqlite:///...") from None
    return value
