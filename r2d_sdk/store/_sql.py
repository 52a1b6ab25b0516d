"""Read-only SQL for users: SELECT/WITH/EXPLAIN only, enforced by the database as well."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from r2d_sdk._errors import ConfigError

_ALLOWED_START = re.compile(r"^\s*(select|with|explain|values)\b", re.IGNORECASE)
_FORBIDDEN = re.compile(r"\b(attach|detach|insert|update|delete|drop|create|alter|replace|vacuum|pragma|"
                        r"truncate|grant|copy)\b", re.IGNORECASE)
_DENIED_SQLITE_ACTIONS = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA,
                          sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}


def _strip_comments_and_strings(query: str) -> str:
    query = re.sub(r"--[^\n]*|/\*.*?\*/", " ", query, flags=re.DOTALL)
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", query)


def check_read_only(query: str) -> None:
    """Refuse anything but a single read statement, before it reaches the database."""
    bare = _strip_comments_and_strings(query).strip().rstrip(";")
    if ";" in bare:
        raise ConfigError("only one SQL statement at a time", fix="remove the extra statements")
    if not _ALLOWED_START.match(bare):
        raise ConfigError("r2d-sdk sql runs read-only queries (SELECT, WITH, EXPLAIN)",
                          fix="open the database file with sqlite3 or psql to change it")
    word = _FORBIDDEN.search(bare)
    if word:
        raise ConfigError(f"'{word.group(1).upper()}' is not allowed: r2d-sdk sql is read-only",
                          fix="write a SELECT; open the database with sqlite3/psql to change it")


def read_only_query(engine: Engine, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only query and return (column names, rows)."""
    check_read_only(query)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            raw = connection.connection.driver_connection
            raw.execute("PRAGMA query_only = ON")  # the database refuses writes too

            def authorizer(action: int, *_: Any) -> int:
                return sqlite3.SQLITE_DENY if action in _DENIED_SQLITE_ACTIONS else sqlite3.SQLITE_OK

            raw.set_authorizer(authorizer)
        elif engine.dialect.name == "postgresql":
            connection.execute(text("SET TRANSACTION READ ONLY"))
        try:
            result = connection.execute(text(query))
            columns = list(result.keys())
            rows = [tuple(row) for row in result]
        except SQLAlchemyError as error:
            message = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise ConfigError(f"SQL error: {message}",
                              fix="check table and column names (docs/sql.md lists the schema; "
                                  "`r2d-sdk sql \"SELECT name FROM sqlite_master\"` on SQLite)") from None
        finally:
            if engine.dialect.name == "sqlite":
                raw = connection.connection.driver_connection
                raw.set_authorizer(None)
                raw.execute("PRAGMA query_only = OFF")
            connection.rollback()
    return columns, rows
