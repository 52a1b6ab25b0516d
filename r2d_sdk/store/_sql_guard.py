"""The parser check of `r2d-sdk sql`: one read statement, no writes anywhere in it, no side-effect functions.

The query is parsed by sqlglot in the database's own dialect, so comments, string literals,
dollar quoting and quoted identifiers are read the way the database reads them; nothing here
scans the text itself. This check gives the clear message; the database connection refuses
writes on its own as well (see `_sql_session`), so a query the parser misreads still cannot write.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from r2d_sdk._errors import ConfigError
from r2d_sdk.store._sql_functions import refused_function

READ_ONLY_FIX = "write a single SELECT; to change the database open it with sqlite3 or psql"
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}
# The statements a user may run; anything else at the top is refused by its first word.
_READ_ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)
# Nodes that write, change the session or lock, wherever they sit (a CTE, a subquery, EXPLAIN's target).
_WRITE_NODES = (exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.TruncateTable, exp.Command, exp.Set, exp.Pragma,
                exp.Attach, exp.Detach, exp.Transaction, exp.Commit, exp.Rollback, exp.Into, exp.Lock,
                exp.Analyze, exp.Grant, exp.Revoke, exp.Use, exp.Cache, exp.Uncache, exp.Refresh, exp.Kill,
                exp.Execute, exp.Declare, exp.Comment, exp.LoadData)
# EXPLAIN's own words before the statement it explains (PostgreSQL's old syntax, SQLite's QUERY PLAN).
_EXPLAIN_WORDS = {"ANALYZE", "ANALYSE", "VERBOSE", "QUERY", "PLAN"}
# What the database accepts as a function name; sqlglot leaves U&"\0070g_..." escapes undecoded.
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def check_read_only(query: str, dialect: str | None = None) -> None:
    """Refuse anything but one read-only statement, before it reaches the database.

    Args:
        query: the SQL text, as the user gave it.
        dialect: `sqlite` or `postgresql` (the engine's dialect name); None checks both.

    Raises:
        ConfigError: the query is empty, cannot be parsed, holds several statements, writes,
            locks, changes the session or calls a function with side effects.
    """
    for name in [dialect] if dialect else list(_DIALECTS):
        if name not in _DIALECTS:
            raise ConfigError(f"r2d-sdk sql supports SQLite and PostgreSQL, not {name}",
                              fix="point --db at a SQLite file or a postgresql:// URL")
        _check_statement(_one_statement(query, _DIALECTS[name]), query, _DIALECTS[name])


def _one_statement(query: str, dialect: str) -> exp.Expr:
    try:
        with _quiet_sqlglot():
            statements = [s for s in sqlglot.parse(query, dialect=dialect) if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        # sqlglot's description ends with its token's repr; the highlighted text says the same plainly.
        what = str(first.get("description", error)).split(" but got <Token", 1)[0]
        near = f" near {first['highlight']!r} (line {first['line']}, column {first['col']})" if "line" in first else ""
        raise ConfigError(f"cannot read the SQL query{near}: {what}",
                          fix="check the SQL syntax; r2d-sdk sql runs one SELECT, WITH, EXPLAIN or VALUES query"
                          ) from None
    except TokenError:
        raise ConfigError("cannot read the SQL query: an unterminated string, quoted name or comment",
                          fix="close every quote and /* comment */") from None
    except RecursionError:  # the parser descends once per nesting level
        raise ConfigError("cannot read the SQL query: it is nested too deeply",
                          fix="flatten the parentheses or subqueries, e.g. with WITH") from None
    if not statements:
        raise ConfigError("the SQL query is empty", fix="give a SELECT, e.g. r2d-sdk sql \"SELECT * FROM runs\"")
    if len(statements) > 1:
        raise ConfigError("only one SQL statement at a time: r2d-sdk sql runs a single read-only query",
                          fix="remove the extra statements")
    return statements[0]


def _check_statement(statement: exp.Expr, text: str, dialect: str) -> None:
    if isinstance(statement, exp.Command) and str(statement.this).upper() == "EXPLAIN":
        text = _explained_text(statement.expression.name if statement.expression else "", dialect)
        statement = _one_statement(text, dialect)
    if not isinstance(statement, _READ_ROOTS):
        raise ConfigError(f"{_first_word(statement, text, dialect)} is not allowed: r2d-sdk sql runs read-only "
                          "queries (SELECT, WITH, EXPLAIN, VALUES)", fix=READ_ONLY_FIX)
    for node in statement.walk():
        if isinstance(node, _WRITE_NODES):
            raise ConfigError(f"{_describe(node)} is not allowed: r2d-sdk sql is read-only", fix=READ_ONLY_FIX)
        if isinstance(node, exp.Func):
            _check_function(node)


def _explained_text(rest: str, dialect: str) -> str:
    """The statement EXPLAIN explains (EXPLAIN ANALYZE runs it, so it gets the same check)."""
    tokens = Dialect.get_or_raise(dialect).tokenize(rest)
    position, depth = 0, 0
    for position, token in enumerate(tokens):
        if token.token_type == sqlglot.TokenType.L_PAREN and (depth or position == 0):
            depth += 1  # PostgreSQL's option list: EXPLAIN (ANALYZE, FORMAT JSON) ...
        elif depth:
            depth -= token.token_type == sqlglot.TokenType.R_PAREN
        elif token.text.upper() not in _EXPLAIN_WORDS:
            break
    else:
        raise ConfigError("EXPLAIN needs a query to explain", fix="write EXPLAIN SELECT ...")
    return rest[tokens[position].start:]


def _check_function(node: exp.Func) -> None:
    if isinstance(node, exp.Anonymous):
        name = node.name
        if not _PLAIN_NAME.fullmatch(name):
            raise ConfigError(f"the function name {name!r} is not allowed: r2d-sdk sql takes function names "
                              "written plainly (no escapes)", fix="write the function's name without U& escapes")
        names = [name]
    else:
        try:
            names = list(type(node).sql_names())
        except NotImplementedError:  # an abstract node class: it names no function of its own
            names = []
    for name in names:
        if refused_function(name):
            raise ConfigError(f"{name}() is not allowed: r2d-sdk sql refuses functions that read server files, "
                              "take locks, change settings, signal other sessions or advance sequences",
                              fix="leave it out; docs/sql.md, 'Read-only and time-limited', lists them")


def _first_word(statement: exp.Expr, text: str, dialect: str) -> str:
    """The statement's first word as written (LISTEN, SET, DO), or what a WITH ... prefix leads to."""
    tokens = Dialect.get_or_raise(dialect).tokenize(text)
    word = tokens[0].text.upper() if tokens else statement.key.upper()
    return _describe(statement) if word == "WITH" and isinstance(statement, _WRITE_NODES) else word


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Lock):
        return "SELECT ... FOR UPDATE/SHARE (row locks)"
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper()


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to a generic command; the check refuses those anyway."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
