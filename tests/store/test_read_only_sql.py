"""`r2d-sdk sql`: read-only by a parser check, the driver and the database itself; table/CSV/JSON output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sql_snapshots import fill
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from store_records import record, scored

from r2d_sdk import ConfigError
from r2d_sdk.cli import cli
from r2d_sdk.store import MetricRow, Run, Store, _sql
from r2d_sdk.store._sql import check_read_only, read_only_query
from r2d_sdk.store._sql_functions import REFUSED_FUNCTIONS, REFUSED_PREFIXES
from r2d_sdk.store._sql_session import read_only_session

WRITES = [
    "INSERT INTO runs (id) VALUES ('x')",
    "update runs set status = 'x'",
    "DELETE FROM runs",
    "DROP TABLE runs",
    "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA query_only = OFF",
    "SELECT 1; DELETE FROM runs",
    "SELECT 1; SELECT 2",
    "WITH gone AS (DELETE FROM runs RETURNING id) SELECT * FROM gone",
    "CREATE TABLE t (a INT)",
    "SELECT '--'; COMMIT; DELETE FROM metrics",
    "SELECT $$--$$; COMMIT; DROP TABLE x",
    "",
]


@pytest.mark.parametrize("query", WRITES)
def test_parser_check_refuses_writes(query: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_read_only(query)
    assert raised.value.fix


READS = [
    "SELECT replace(name, 'a', 'b') AS created FROM runs -- DROP TABLE runs",
    "select 'DELETE; DROP' as s",
    "SELECT '--' AS dashes, 'a;b' AS semicolon FROM runs",
    "WITH x AS (SELECT 1 AS a) SELECT a FROM x;",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT count(*) FROM c",
    "EXPLAIN SELECT * FROM samples",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT 1 UNION SELECT 2 ORDER BY 1",
    "SELECT id FROM runs EXCEPT SELECT run_id FROM samples",
    "SELECT 'a%' AS percent, ' :b' AS colon",
]


@pytest.mark.parametrize("query", READS)
def test_parser_check_allows_reads(query: str) -> None:
    check_read_only(query)


@pytest.mark.parametrize("query", READS + ["EXPLAIN QUERY PLAN SELECT * FROM runs",
                                           "EXPLAIN (FORMAT JSON) SELECT * FROM runs",
                                           "EXPLAIN ANALYZE SELECT count(*) FROM samples"])
def test_reads_run(store: Store, query: str) -> None:
    sqlite = store.engine.dialect.name == "sqlite"
    if ("QUERY PLAN" in query and not sqlite) or (("FORMAT JSON" in query or "ANALYZE" in query) and sqlite):
        pytest.skip("the other database's EXPLAIN")
    store.create_run("r", "x", "h", 0)
    columns, rows = read_only_query(store.engine, query)
    assert columns and rows
    if "percent" in columns:
        assert rows == [("a%", " :b")]


@pytest.mark.parametrize("query, says", [
    ("WITH gone AS (DELETE FROM runs RETURNING id) SELECT * FROM gone", "DELETE is not allowed"),
    ("WITH x AS (SELECT 1) DELETE FROM runs", "DELETE is not allowed"),
    ("EXPLAIN ANALYZE DELETE FROM runs", "DELETE is not allowed"),
    ("SELECT * INTO copy FROM runs", "SELECT ... INTO is not allowed"),
    ("SELECT * FROM runs FOR UPDATE", "FOR UPDATE/SHARE (row locks) is not allowed"),
    ("SET ROLE postgres", "SET is not allowed"),
    ("LISTEN x", "LISTEN is not allowed"),
    ("SELECT pg_catalog.pg_read_file('/etc/passwd')", "pg_read_file() is not allowed"),
    ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir() is not allowed"),
    ("SELECT \"nextval\"('samples_id_seq')", "nextval() is not allowed"),
    ("SELECT U&\"\\0070g_read_file\"('/etc/passwd')", "is not allowed: r2d-sdk sql takes function names written plainly"),
    ("SELECT '--'; COMMIT; DELETE FROM metrics", "only one SQL statement at a time"),
    ("SELECT FROM WHERE", "cannot read the SQL query near 'WHERE'"),
    ("SELECT 'unterminated", "cannot read the SQL query"),
    pytest.param("SELECT " + "(" * 5000 + "1" + ")" * 5000, "nested too deeply", id="deeply-nested"),
])
def test_parser_check_says_what_is_refused(query: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_read_only(query, "postgresql")
    assert says in raised.value.message and raised.value.fix


def _count(store: Store, table: type[Run] | type[MetricRow] = Run) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _without_parser_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sql, "check_read_only", lambda query, dialect=None: None)


@pytest.mark.parametrize("query", [
    "INSERT INTO runs (id, name, kind, status, recipe_yaml, recipe_hash, sdk_version, python_version, "
    "packages_json, seed, started_at) VALUES ('x', 'x', 'eval', 'x', 'x', 'x', 'x', 'x', '{}', 0, "
    "'2025-01-01 00:00:00+00:00')",
    "DELETE FROM runs",
    "WITH gone AS (DELETE FROM runs RETURNING id) SELECT * FROM gone",
    "DROP TABLE metrics",
    "DO $$BEGIN DELETE FROM runs; END$$",
])
def test_database_refuses_writes_even_past_the_parser_check(store: Store, query: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store.create_run("r", "x", "h", 0)
    _without_parser_check(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, query)
    assert "read-only" in raised.value.message or "syntax" in raised.value.message
    assert _count(store) == 1
    # The pooled connection is usable for writes again afterwards.
    store.create_run("r2", "x", "h", 0)
    assert _count(store) == 2


@pytest.mark.parametrize("query", [
    "SELECT '--'; COMMIT; DELETE FROM metrics",
    "SELECT 1; DELETE FROM metrics",
    "SELECT 1;\nCOMMIT;\nDROP TABLE metrics",
])
def test_driver_takes_one_statement_even_past_the_parser_check(store: Store, query: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fill(store)
    _without_parser_check(monkeypatch)
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, query)
    assert raised.value.message.startswith("only one SQL statement at a time") and raised.value.fix
    assert _count(store, MetricRow) == 1


def test_postgres_a_commit_cannot_end_read_only(store: Store) -> None:
    """The session itself is read-only: after a COMMIT the next transaction is read-only too."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's query_only holds for the connection, whatever the transaction")
    fill(store)
    with read_only_session(store.engine, timeout=5) as run:
        run("COMMIT")
        with pytest.raises(Exception, match="read-only transaction"):
            run("DELETE FROM metrics")
    assert _count(store, MetricRow) == 1


def test_postgres_refuses_a_write_hidden_in_a_function(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("nextval() writes only on PostgreSQL")
    with pytest.raises(ConfigError) as by_name:
        read_only_query(store.engine, "SELECT nextval('samples_id_seq')")
    assert "nextval() is not allowed" in by_name.value.message
    _without_parser_check(monkeypatch)
    with pytest.raises(ConfigError) as by_database:
        read_only_query(store.engine, "SELECT nextval('samples_id_seq')")
    assert "read-only" in by_database.value.message


def test_sqlite_introspection_and_plain_reads_work(store: Store) -> None:
    run = store.create_run("r", "x", "h", 0)
    store.write_samples(run, [record("1", judgments=[("j", scored(True))])])
    columns, rows = read_only_query(store.engine, "SELECT run_id, n_jailbroken FROM asr_by_cell")
    assert columns == ["run_id", "n_jailbroken"] and rows == [(run, 1)]
    if store.engine.dialect.name == "sqlite":
        _, info = read_only_query(store.engine, "SELECT name FROM pragma_table_info('samples')")
        assert ("item_id",) in info


def test_sql_error_is_a_message(store: Store) -> None:
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, "SELECT nope FROM runs")
    assert raised.value.message.startswith("SQL error") and "nope" in raised.value.message


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "r.db"
    store = Store(f"sqlite:///{path}")
    run = store.create_run("r", "x", "h", 0)
    store.write_samples(run, [record("1", judgments=[("j", scored(True))]), record("2", judgments=[("j", scored(False))])])
    store.close()
    return path


@pytest.mark.parametrize("query", ["DELETE FROM runs", "ATTACH DATABASE 'x.db' AS x", "PRAGMA foreign_keys=OFF",
                                   "SELECT 1; DROP TABLE runs", "UPDATE runs SET name = 'x'"])
def test_cli_refuses_writes_with_one_message(db_file: Path, query: str) -> None:
    result = CliRunner().invoke(cli, ["sql", query, "--db", str(db_file)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "fix:" in result.output
    assert "Traceback" not in result.output


def test_cli_output_formats(db_file: Path) -> None:
    query = "SELECT item_id, jailbroken FROM sample_verdicts ORDER BY item_id"
    as_json = CliRunner().invoke(cli, ["sql", query, "--db", str(db_file), "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [{"item_id": "1", "jailbroken": 1}, {"item_id": "2", "jailbroken": 0}]
    as_csv = CliRunner().invoke(cli, ["sql", query, "--db", str(db_file), "--format", "csv"])
    assert list(csv.reader(io.StringIO(as_csv.output))) == [["item_id", "jailbroken"], ["1", "1"], ["2", "0"]]
    table = CliRunner().invoke(cli, ["sql", query, "--db", str(db_file)])
    assert table.exit_code == 0 and "item_id" in table.output and "jailbroken" in table.output


def test_cli_on_a_missing_database_does_not_create_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sql", "SELECT 1", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no results database" in result.output
    assert not (tmp_path / "none.db").exists()


REPORTED_BYPASSES = ["SELECT '--'; COMMIT; DELETE FROM metrics", "SELECT '--'; COMMIT; CREATE TABLE x(i int)",
                     "SELECT $$--$$; COMMIT; DROP TABLE metrics"]


@pytest.mark.parametrize("query", REPORTED_BYPASSES)
def test_cli_refuses_the_reported_postgres_bypasses(store: Store, query: str) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the report was about PostgreSQL; SQLite's probes are in test_sql_probes.py")
    fill(store)
    url = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["sql", query, "--db", url])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: only one SQL statement at a time") and "  fix: " in result.output
    assert "Traceback" not in result.output
    assert _count(store, MetricRow) == 1
    with store.engine.connect() as connection:
        assert "x" not in sa_inspect(connection).get_table_names()


@pytest.mark.parametrize("name", sorted(REFUSED_FUNCTIONS) + [prefix + "x" for prefix in REFUSED_PREFIXES])
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_every_refused_function_is_found_by_the_parser(name: str, dialect: str) -> None:
    """However sqlglot files a function away (a generic call or a known function), its name is refused."""
    for query in (f"SELECT {name}(1)", f"SELECT {name.upper()}(1) FROM runs", f"SELECT * FROM {name}('x')"):
        with pytest.raises(ConfigError, match=r"\(\) is not allowed"):
            check_read_only(query, dialect)
