"""Read-only, time-limited SQL for users (`r2d-sdk sql`): SELECT/WITH/EXPLAIN/VALUES only.

Three locks, each enough on its own for writes: the parser check (`_sql_guard`) gives the
clear message; the driver takes one statement only; the connection refuses writes and stops
slow queries (`_sql_session`). docs/sql.md, "Read-only and time-limited", states the guarantees.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine

from r2d_sdk._errors import ConfigError

DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 86_400.0  # a day; PostgreSQL's statement_timeout takes at most about 24 days
_SCHEMA_FIX = "check table and column names: docs/sql.md lists the schema"
# SQLite's words for a refused write; PostgreSQL's are SQLSTATEs: read-only transaction, no privilege.
_REFUSED_BY_SQLITE = ("not authorized", "readonly database", "query_only")
_READ_ONLY_SQLSTATE = "25006"
_NO_PRIVILEGE_SQLSTATE = "42501"


def check_read_only(query: str, dialect: str | None = None) -> None:
    """Refuse anything but one read-only statement, before it reaches the database.

    Args:
        query: the SQL text.
        dialect: `sqlite` or `postgresql` (the engine's dialect name); None checks both.

    Raises:
        ConfigError: the query writes, locks, changes the session, calls a function with side
            effects, holds several statements or cannot be parsed.
    """
    from r2d_sdk.store._sql_guard import check_read_only as parser_check  # sqlglot loads on first use

    parser_check(query, dialect)


def read_only_query(engine: Engine, query: str,
                    timeout: float = DEFAULT_TIMEOUT_S) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only query and return (column names, rows).

    Args:
        engine: the results database (SQLite or PostgreSQL).
        query: one SELECT, WITH, EXPLAIN or VALUES statement.
        timeout: seconds the database lets the query run before stopping it.

    Raises:
        ConfigError: the query is not read-only (refused before or by the database), ran past
            `timeout`, or fails; or `timeout` is not a positive number of seconds.
    """
    from r2d_sdk.store._sql_guard import READ_ONLY_FIX
    from r2d_sdk.store._sql_session import QueryTimedOut, read_only_session

    timeout = _checked_timeout(timeout)
    check_read_only(query, engine.dialect.name)
    driver_error: Any = engine.dialect.loaded_dbapi.Error
    try:
        with read_only_session(engine, timeout) as run:
            return run(query)
    except QueryTimedOut:
        raise ConfigError(f"the query ran longer than {timeout:g} s (r2d-sdk sql --timeout)",
                          fix="narrow it (WHERE, LIMIT) or allow more time: r2d-sdk sql --timeout SECONDS "
                              "\"...\"") from None
    except driver_error as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "one statement at a time" in message or "multiple commands" in message:
            raise ConfigError("only one SQL statement at a time: r2d-sdk sql runs a single read-only query",
                              fix="remove the extra statements") from None
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate == _NO_PRIVILEGE_SQLSTATE:
            raise ConfigError(f"refused by the database: {message}",
                              fix="the role in --db may only read what it was granted: GRANT SELECT to it "
                                  "(docs/sql.md, 'A read-only role')") from None
        if sqlstate == _READ_ONLY_SQLSTATE or any(marker in message.lower() for marker in _REFUSED_BY_SQLITE):
            raise ConfigError(f"refused by the database, r2d-sdk sql is read-only: {message}",
                              fix=READ_ONLY_FIX) from None
        raise ConfigError(f"SQL error: {message}", fix=_SCHEMA_FIX) from None


def _checked_timeout(timeout: float) -> float:
    number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if not number or not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise ConfigError(f"the query timeout must be a number of seconds above 0 and at most "
                          f"{MAX_TIMEOUT_S:g} (a day), not {timeout!r}",
                          fix="r2d-sdk sql --timeout 60 \"SELECT ...\"")
    return float(timeout)
