"""`r2d-sdk sql` never waits forever: the database itself stops a query at its timeout."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from store_records import record, scored

from r2d_sdk import ConfigError
from r2d_sdk.cli import cli
from r2d_sdk.store import Store, read_only_query

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
TIMED_OUT = "the query ran longer than 1 s (r2d-sdk sql --timeout)"


def _postgres_only(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")


def _running(store: Store, marker: str) -> list[int]:
    """Backends (other than this one) running a query that contains `marker`."""
    with store.engine.connect() as connection:
        return list(connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
            "AND position(:marker in query) > 0"), {"marker": marker}).scalars())


@pytest.fixture
def cleanup_backends(store: Store) -> Iterator[list[str]]:
    """Markers of queries a test started; any backend still running one is ended afterwards."""
    markers: list[str] = []
    yield markers
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as connection:
            for marker in markers:
                for pid in _running(store, marker):
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_endless_recursive_query_is_stopped(store: Store) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, ENDLESS, timeout=1)
    assert raised.value.message == TIMED_OUT and "--timeout" in (raised.value.fix or "")
    assert time.monotonic() - started < 10
    # The pooled connection keeps no deadline, query_only or authorizer: long work and writes go on.
    with store.engine.connect() as connection:
        many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT count(*) FROM c"
        assert connection.execute(text(many)).scalar_one() == 200000
    store.create_run("after", "x", "h", 0)


def test_pg_sleep_is_cancelled_by_the_server(store: Store, cleanup_backends: list[str]) -> None:
    _postgres_only(store)
    marker = f"r2d_sleep_{uuid.uuid4().hex[:8]}"
    cleanup_backends.append(marker)
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, f"SELECT pg_sleep(100000) AS {marker}", timeout=1)
    assert raised.value.message == TIMED_OUT
    assert time.monotonic() - started < 10
    assert _running(store, marker) == []


def test_server_stops_the_query_after_the_client_is_killed(store: Store, tmp_path: Path,
                                                           cleanup_backends: list[str]) -> None:
    """statement_timeout lives on the server: killing `r2d-sdk sql` mid-query leaves no backend running it."""
    _postgres_only(store)
    marker = f"r2d_killed_{uuid.uuid4().hex[:8]}"
    cleanup_backends.append(marker)
    url = store.engine.url.render_as_string(hide_password=False)
    client = subprocess.Popen([sys.executable, "-c", "from r2d_sdk.cli import main; main()", "sql",
                               f"SELECT pg_sleep(100000) AS {marker}", "--db", url, "--timeout", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not _running(store, marker):
            assert client.poll() is None, f"r2d-sdk sql ended before running the query: {client.stdout.read()!r}"
            assert time.monotonic() < deadline, "the query never started"
            time.sleep(0.1)
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=10)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    deadline = time.monotonic() + 10
    while _running(store, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(store, marker) == []


def test_postgres_sessions_carry_the_timeout_and_read_only(store: Store) -> None:
    _postgres_only(store)
    query = "SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only')"
    assert read_only_query(store.engine, query)[1] == [("30s", "on")]
    assert read_only_query(store.engine, query, timeout=2.5)[1] == [("2500ms", "on")]


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, 10**9, True])
def test_timeout_must_be_a_positive_number_of_seconds(store: Store, timeout: float) -> None:
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, "SELECT 1", timeout=timeout)
    assert "timeout" in raised.value.message and raised.value.fix


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "r.db"
    store = Store(f"sqlite:///{path}")
    run = store.create_run("r", "x", "h", 0)
    store.write_samples(run, [record("1", judgments=[("j", scored(True))])])
    store.close()
    return path


def test_cli_timeout_is_one_message(db_file: Path) -> None:
    result = CliRunner().invoke(cli, ["sql", ENDLESS, "--db", str(db_file), "--timeout", "1"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {TIMED_OUT}\n  fix: ") and "Traceback" not in result.output


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_cli_refuses_a_bad_timeout(db_file: Path, value: str) -> None:
    result = CliRunner().invoke(cli, ["sql", "SELECT 1", "--db", str(db_file), "--timeout", value])
    assert result.exit_code == 2
    assert result.output.startswith("error: the query timeout must be") and "  fix: " in result.output


def test_cli_timeout_allows_a_query_that_finishes(db_file: Path) -> None:
    result = CliRunner().invoke(cli, ["sql", "SELECT count(*) AS n FROM samples", "--db", str(db_file),
                                      "--timeout", "5", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["n", "1"]
