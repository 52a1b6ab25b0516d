"""Connections on which the database itself refuses writes and stops a query that runs too long.

SQLite: the store's pooled connection with `PRAGMA query_only`, an authorizer that allows only
reads and a progress handler with a deadline, all removed before it goes back to the pool; the
driver refuses several statements in one `execute()`.

PostgreSQL: a connection of its own, opened with `default_transaction_read_only=on` and
`statement_timeout`: every transaction on it is READ ONLY, so a smuggled COMMIT only starts
another read-only one, and the server cancels a slow query itself (also when the client is
gone). The query goes through the extended protocol (a prepared statement), which takes one
statement only. The connection is closed afterwards, so none of it leaks into the pool.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine

from r2d_sdk._errors import ConfigError, R2DError

Rows = tuple[list[str], list[tuple[Any, ...]]]
RunQuery = Callable[[str], Rows]

# SQLite authorizer: reads only. Read-only introspection pragmas stay usable as table-valued
# functions, e.g. SELECT * FROM pragma_table_info('samples').
_ALLOWED_SQLITE_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                           sqlite3.SQLITE_RECURSIVE}
_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
                 "table_list", "function_list", "collation_list"}
_PROGRESS_EVERY = 1000  # SQLite virtual-machine steps between deadline checks (microseconds of work)
_CONNECT_TIMEOUT_S = 10


class QueryTimedOut(Exception):
    """The database stopped the query at its deadline."""


@contextlib.contextmanager
def read_only_session(engine: Engine, timeout: float) -> Iterator[RunQuery]:
    """A function that runs one query read-only within `timeout` seconds and returns (columns, rows).

    Raises:
        QueryTimedOut: from the function, when the database stopped the query at the deadline.
        ConfigError: the database is neither SQLite nor PostgreSQL.
    """
    if engine.dialect.name == "sqlite":
        with _sqlite_session(engine, timeout) as run:
            yield run
    elif engine.dialect.name == "postgresql":
        with _postgres_session(engine, timeout) as run:
            yield run
    else:
        raise ConfigError(f"r2d-sdk sql supports SQLite and PostgreSQL, not {engine.dialect.name}",
                          fix="point --db at a SQLite file or a postgresql:// URL")


def _fetch(cursor: Any) -> Rows:
    if cursor.description is None:
        return [], []
    return [column[0] for column in cursor.description], [tuple(row) for row in cursor.fetchall()]


def _sqlite_authorizer(action: int, arg1: str | None, *_: Any) -> int:
    if action in _ALLOWED_SQLITE_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    # SQLite asks this while (re)loading the schema for a pragma function; query_only still blocks writes.
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


@contextlib.contextmanager
def _sqlite_session(engine: Engine, timeout: float) -> Iterator[RunQuery]:
    with engine.connect() as connection:
        raw: Any = connection.connection.driver_connection
        deadline = math.inf
        stopped = False

        def past_deadline() -> bool:
            nonlocal stopped
            stopped = time.monotonic() > deadline
            return stopped  # a true value makes SQLite abort the statement ("interrupted")

        def run(query: str) -> Rows:
            nonlocal deadline, stopped
            deadline, stopped = time.monotonic() + timeout, False
            try:
                return _fetch(raw.execute(query))  # rows are computed while fetching, under the handler
            except sqlite3.OperationalError:
                if stopped:
                    raise QueryTimedOut from None
                raise

        raw.execute("PRAGMA query_only = ON")
        raw.set_authorizer(_sqlite_authorizer)
        raw.set_progress_handler(past_deadline, _PROGRESS_EVERY)
        try:
            yield run
        finally:
            connection.rollback()
            raw.set_progress_handler(None, 0)
            raw.set_authorizer(None)
            raw.execute("PRAGMA query_only = OFF")


@contextlib.contextmanager
def _postgres_session(engine: Engine, timeout: float) -> Iterator[RunQuery]:
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    settings = f"-c default_transaction_read_only=on -c statement_timeout={max(1, round(timeout * 1000))}"
    cparams["options"] = f"{cparams['options']} {settings}" if cparams.get("options") else settings
    cparams.setdefault("connect_timeout", _CONNECT_TIMEOUT_S)
    dbapi: Any = engine.dialect.loaded_dbapi
    try:
        raw: Any = engine.dialect.connect(*cargs, **cparams)
    except dbapi.OperationalError as error:
        raise R2DError(f"cannot connect to {engine.url.render_as_string(hide_password=True)}: "
                       f"{str(error).strip().splitlines()[0]}",
                       fix="check the --db / R2D_DATABASE_URL value and that the server is running") from None

    def run(query: str) -> Rows:
        cursor = raw.cursor()
        try:
            # prepare=True: the extended protocol, where the server refuses a second statement.
            cursor.execute(query, prepare=True)
        except dbapi.errors.QueryCanceled as error:
            if "statement timeout" in str(error):
                raise QueryTimedOut from None
            raise
        return _fetch(cursor)

    try:
        yield run
    finally:
        with contextlib.suppress(dbapi.Error):
            raw.rollback()
        raw.close()
