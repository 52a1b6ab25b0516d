"""Attempts to get a write, a lock or a side effect past `r2d-sdk sql`, on SQLite and PostgreSQL.

Each must be refused with one ConfigError that names a fix, and leave the database (rows,
tables, views; on PostgreSQL roles, functions, sequences, large objects, settings; on SQLite
its persistent pragmas and the files beside it) exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sql_snapshots import PROBE_FILES, fill, snapshot
from sqlalchemy import delete, update

from r2d_sdk import ConfigError
from r2d_sdk.store import Base, Run, Store, read_only_query

OUT, TOUCHED, ATTACHED, WRITTEN = PROBE_FILES

PROBES = [
    # the reported bypasses: `--` inside a literal hid the rest from the old keyword check
    "SELECT '--'; COMMIT; DELETE FROM metrics",
    "SELECT '--'; COMMIT; CREATE TABLE x(i int)",
    "SELECT $$--$$; COMMIT; DROP TABLE metrics",
    # literals, quoting and comments read differently by a naive scanner
    "SELECT $tag$ ; $tag$; COMMIT; DELETE FROM runs",
    "SELECT $a$ $$ $a$; DELETE FROM samples",
    "SELECT 'it''s'; DELETE FROM samples",
    "SELECT 'a\\'; DELETE FROM metrics; --'",
    "SELECT E'\\''; DELETE FROM metrics; --'",
    "SELECT 1 AS \"a\"\"\"; DELETE FROM metrics",
    "SELECT 1 /* ; */; DELETE FROM runs",
    "SELECT 1 /* /* */ ; DELETE FROM runs; /* */",
    "SELECT 1 -- comment\n; DELETE FROM runs",
    "/* SELECT */ DELETE FROM runs",
    "-- SELECT\nDELETE FROM runs",
    "SELECT 1;\nCOMMIT;\nDELETE FROM metrics",
    # semicolons inside identifiers
    "SELECT 1 AS \"a;b\"; DELETE FROM runs",
    "SELECT * FROM \"runs; DROP TABLE runs\"",
    # unicode escapes (U&"\0070..." is pg_read_file) and look-alike characters
    "SELECT U&\"\\0070g_read_file\"('/etc/passwd')",
    "SELECT U&\"pg_ls_dir\"('.')",
    "SELECT 1\uff1b DELETE FROM runs",
    # plain writes and DDL
    "DELETE FROM metrics",
    "UPDATE runs SET name = 'x'",
    "INSERT INTO runs (id) VALUES ('x')",
    "REPLACE INTO metrics (id) VALUES (1)",
    "MERGE INTO metrics m USING runs r ON m.run_id = r.id WHEN MATCHED THEN DELETE",
    "DROP TABLE metrics",
    "TRUNCATE metrics",
    "ALTER TABLE runs ADD COLUMN x INT",
    "CREATE TABLE x (i INT)",
    "CREATE TEMP TABLE x AS SELECT 1",
    "CREATE VIEW x AS SELECT 1",
    "CREATE ROLE r2d_probe_role LOGIN SUPERUSER",
    "CREATE FUNCTION r2d_probe_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "GRANT ALL ON runs TO PUBLIC",
    "COMMENT ON TABLE runs IS 'x'",
    "REINDEX TABLE runs",
    # writes inside a read: CTEs, EXPLAIN ANALYZE, SELECT INTO, row locks
    "WITH gone AS (DELETE FROM metrics RETURNING id) SELECT * FROM gone",
    "WITH x AS (UPDATE runs SET name = 'x' RETURNING id) SELECT count(*) FROM x",
    "WITH x AS (INSERT INTO runs (id) VALUES ('x') RETURNING id) SELECT 1",
    "WITH x AS (SELECT 1) DELETE FROM metrics",
    "SELECT * FROM (WITH gone AS (DELETE FROM metrics RETURNING id) SELECT id FROM gone) AS t",
    "EXPLAIN ANALYZE DELETE FROM metrics",
    "EXPLAIN (ANALYZE, COSTS OFF) DELETE FROM metrics",
    "EXPLAIN ANALYZE SELECT nextval('samples_id_seq')",
    "SELECT * INTO runs_copy FROM runs",
    "SELECT * FROM runs FOR UPDATE",
    "SELECT * FROM runs FOR SHARE NOWAIT",
    # COPY, to and from files and programs
    f"COPY runs TO '{OUT}'",
    f"COPY (SELECT 1) TO PROGRAM 'touch {TOUCHED}'",
    "COPY metrics FROM PROGRAM 'echo 1'",
    "COPY metrics FROM STDIN",
    # procedural code, session and transaction control
    "DO $$BEGIN DELETE FROM metrics; END$$",
    "DO $$BEGIN COMMIT; DELETE FROM metrics; END$$",
    "CALL r2d_probe_procedure()",
    "SET default_transaction_read_only = off",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SET ROLE postgres",
    "SET SESSION AUTHORIZATION postgres",
    "RESET ALL",
    "BEGIN",
    "COMMIT",
    "START TRANSACTION READ WRITE",
    "PREPARE p AS DELETE FROM metrics",
    "EXECUTE p",
    "DECLARE c CURSOR FOR SELECT 1",
    "LISTEN r2d_probe",
    "NOTIFY r2d_probe, 'x'",
    "LOCK TABLE runs IN ACCESS EXCLUSIVE MODE",
    "VACUUM",
    "ANALYZE runs",
    "CHECKPOINT",
    "DISCARD ALL",
    # functions with side effects, however they are written
    "SELECT nextval('samples_id_seq')",
    "SELECT setval('samples_id_seq', 1000)",
    "VALUES (nextval('samples_id_seq'))",
    "SELECT 1 UNION ALL SELECT nextval('samples_id_seq')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')",
    "SELECT \"pg_read_file\"('/etc/passwd')",
    "SELECT PG_READ_FILE/**/('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT * FROM ROWS FROM (pg_ls_dir('.'))",
    "SELECT pg_stat_file('postgresql.conf')",
    "SELECT lo_import('/etc/passwd')",
    f"SELECT lo_export(1, '{OUT}')",
    "SELECT dblink_exec('dbname=test', 'DELETE FROM metrics')",
    "SELECT pg_advisory_lock(42)",
    "SELECT pg_try_advisory_xact_lock(42)",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT pg_terminate_backend(0)",
    "SELECT pg_cancel_backend(0)",
    "SELECT pg_reload_conf()",
    "SELECT pg_rotate_logfile()",
    "SELECT pg_notify('r2d_probe', 'x')",
    "SELECT query_to_xml('DELETE FROM metrics RETURNING 1', true, true, '')",
    "SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''/etc/passwd''))')",
    "SELECT ARRAY[pg_read_file('/etc/passwd')]",
    "SELECT CAST(pg_read_file('/etc/passwd') AS text)",
    # SQLite's own: attach a file, change a pragma, load an extension
    f"ATTACH DATABASE '{ATTACHED}' AS probe",
    "DETACH DATABASE main",
    "PRAGMA query_only = OFF",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA user_version = 7",
    "SELECT load_extension('probe')",
    f"SELECT writefile('{WRITTEN}', 'x')",
    # nothing at all
    "",
    "   ;  ",
    "-- only a comment",
]


@pytest.fixture(scope="module")
def filled(shared_database_url: str) -> Iterator[tuple[Store, dict[str, Any]]]:
    """One filled database per backend for all probes (none may change it), and its snapshot."""
    for path in PROBE_FILES:
        path.unlink(missing_ok=True)
    store = Store(shared_database_url)
    fill(store)
    try:
        yield store, snapshot(store)
    finally:
        with store.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
        store.close()


def test_there_are_enough_probes() -> None:
    assert len(set(PROBES)) == len(PROBES) >= 40


@pytest.mark.parametrize("query", PROBES)
def test_probe_is_refused_and_changes_nothing(filled: tuple[Store, dict[str, Any]], query: str) -> None:
    store, before = filled
    with pytest.raises(ConfigError) as raised:
        read_only_query(store.engine, query)
    assert raised.value.message and raised.value.fix
    assert snapshot(store) == before
    # The pooled connection writes again afterwards (SQLite's query_only and authorizer are off).
    with store.engine.connect() as connection:
        connection.execute(update(Run).values(name=Run.name))
        connection.rollback()
