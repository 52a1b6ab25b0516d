"""Read-only SQL for users: SELECT/WITH/EXPLAIN/VALUES only, enforced by the database as well.

Two locks, so that either alone is enough: a keyword check gives a clear message before the
query runs, and the connection itself refuses writes (SQLite: `PRAGMA query_only` plus an
authorizer that allows only reads; PostgreSQL: a READ ONLY transaction).
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from r2d_sdk._errors import ConfigError

_ALLOWED_START = re.compile(r"^\s*(select|with|explain|values)\b", re.IGNORECASE)
# `replace` is left out on purpose: it is also a common string function; REPLACE INTO starts
# with a word the start check refuses and INSERT OR REPLACE contains INSERT.
_FORBIDDEN = re.compile(r"\b(attach|detach|insert|update|delete|drop|create|alter|vacuum|pragma|reindex|"
                        r"truncate|grant|revoke|copy|merge)\b",
                        re.IGNORECASE)
_FIX = "write a SELECT; to change the database open it with sqlite3 or psql"

# SQLite authorizer: reads only. Read-only introspection pragmas stay usable as table-valued
# functions, e.g. SELECT * FROM pragma_table_info('samples').
_ALLOWED_SQLITE_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                           sqlite3.SQLITE_RECURSIVE}
_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
                 "table_list", "function_list", "collation_list"}
_REFUSED_BY_DATABASE = ("not authorized", "read-only transaction", "readonly database", "query_only")


def _strip_comments_and_strings(query: str) -> str:
    query = re.sub(r"--[^\n]*|/\*.*?\*/", " ", query, flags=re.DOTALL)
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", query)


def check_read_only(query: str) -> None:
    """Refuse anything but a single read statement, before it reaches the database.

    Raises:
        ConfigError: the query writes, attaches, sets a pragma or holds several statements.
    """
    bare = _strip_comments_and_strings(query).strip().rstrip(";").strip()
    if not bare:
        raise ConfigError("the SQL query is empty", fix="give a SELECT, e.g. r2d-sdk sql \"SELECT * FROM runs\"")
    if ";" in bare:
        raise ConfigError("only one SQL statement at a time: r2d-sdk sql runs a single read-only query",
                          fix="remove the extra statements")
    if not _ALLOWED_START.match(bare):
        word = bare.split(None, 1)[0].upper()
        raise ConfigError(f"{word} is not allowed: r2d-sdk sql runs read-only queries (SELECT, WITH, EXPLAIN)",
                          fix=_FIX)
    found = _FORBIDDEN.search(bare)
    if found:
        raise ConfigError(f"{found.group(1).upper()} is not allowed: r2d-sdk sql is read-only", fix=_FIX)


def _sqlite_authorizer(action: int, arg1: str | None, *_: Any) -> int:
    if action in _ALLOWED_SQLITE_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    # SQLite asks this while (re)loading the schema for a pragma function; query_only still blocks writes.
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def read_only_query(engine: Engine, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only query and return (column names, rows).

    Raises:
        ConfigError: the query is not read-only (refused before or by the database) or fails.
    """
    check_read_only(query)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw: Any = connection.connection.driver_connection
        if sqlite:
            raw.execute("PRAGMA query_only = ON")
            raw.set_authorizer(_sqlite_authorizer)
        elif engine.dialect.name == "postgresql":
            connection.execute(text("SET TRANSACTION READ ONLY"))
        try:
            result = connection.execute(text(query))
            columns = list(result.keys())
            rows = [tuple(row) for row in result]
        except SQLAlchemyError as error:
            message = str(getattr(error, "orig", error)).strip().splitlines()[0]
            if any(marker in message.lower() for marker in _REFUSED_BY_DATABASE):
                raise ConfigError(f"refused by the database, r2d-sdk sql is read-only: {message}",
                                  fix=_FIX) from None
            raise ConfigError(f"SQL error: {message}",
                              fix="check table and column names: docs/sql.md lists the schema") from None
        finally:
            connection.rollback()
            if sqlite:
                raw.set_authorizer(None)
                raw.execute("PRAGMA query_only = OFF")
    return columns, rows
