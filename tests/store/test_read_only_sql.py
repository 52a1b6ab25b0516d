"""`r2d-sdk sql`: read-only by a keyword check and by the database itself; table/CSV/JSON output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from store_records import record, scored

from r2d_sdk import ConfigError
from r2d_sdk.cli import cli
from r2d_sdk.store import Run, Store, _sql
from r2d_sdk.store._sql import check_read_only, read_only_query

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
    "",
]


@pytest.mark.parametrize("query", WRITES)
def test_keyword_check_refuses_writes(query: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_read_only(query)
    assert raised.value.fix


@pytest.mark.parametrize("query", [
    "SELECT replace(name, 'a', 'b') AS created FROM runs -- DROP TABLE runs",
    "select 'DELETE; DROP' as s",
    "WITH x AS (SELECT 1 AS a) SELECT a FROM x;",
    "EXPLAIN SELECT * FROM samples",
])
def test_keyword_check_allows_reads(query: str) -> None:
    check_read_only(query)


def _runs(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Run)).scalar_one()


@pytest.mark.parametrize("query", [
    "INSERT INTO runs (id, name, kind, status, recipe_yaml, recipe_hash, sdk_version, python_version, "
    "packages_json, seed, started_at) VALUES ('x', 'x', 'eval', 'x', 'x', 'x', 'x', 'x', '{}', 0, "
    "'2025-01-01 00:00:00+00:00')",
    "DELETE FROM runs",
    "WITH gone AS (DELETE FROM runs RETURNING id) SELECT * FROM gone",
    "DROP TABLE metrics",
])
def test_database_refuses_writes_even_past_the_keyword_check(store: Store, query: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store.create_run("r", "x", "h", 0)
    monkeypatch.setattr(_sql, "check_read_only", lambda query: None)
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, query)
    assert "read-only" in raised.value.message or "syntax" in raised.value.message
    assert _runs(store) == 1
    # The pooled connection is usable for writes again afterwards.
    store.create_run("r2", "x", "h", 0)
    assert _runs(store) == 2


def test_postgres_refuses_a_write_hidden_in_a_function(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("nextval() writes only on PostgreSQL")
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, "SELECT nextval('samples_id_seq')")
    assert "read-only" in raised.value.message


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
