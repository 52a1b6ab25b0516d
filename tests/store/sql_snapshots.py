"""What `r2d-sdk sql` must leave as it was: the rows and objects of the database, roles, files, settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from store_records import call, record, scored

from r2d_sdk.store import Store

# Files a smuggled COPY ... TO or lo_export would write on the (local) PostgreSQL server, and
# SQLite's ATTACH or writefile() beside the tests.
PROBE_FILES = [Path(f"/tmp/r2d_sql_probe.{suffix}") for suffix in ("out", "touched", "db", "txt")]


def fill(store: Store) -> str:
    """A run with samples, calls, judgments and a metric, so a deletion anywhere shows."""
    run = store.create_run("probe", "name: probe\n", "h", seed=0)
    store.write_samples(run, [record("1", judgments=[("j", scored(True))], calls=[call("defense")]),
                              record("2", judgments=[("j", scored(False))], calls=[call("judge")])])
    store.replace_metrics(run, [{"dataset": "items", "item_label": "harmful", "model": "target", "attack": "direct",
                                 "defense": "none", "judge": "j", "metric": "asr", "value": 0.5, "ci_low": 0.1,
                                 "ci_high": 0.9, "n": 2, "extra_json": {}}])
    return run


def snapshot(store: Store) -> dict[str, Any]:
    """Tables, views and their row counts; on PostgreSQL also roles, functions, sequences, large
    objects, per-role settings and every relation in every schema; on SQLite the pragmas that
    persist and the files beside the database; the files a probe could write."""
    engine = store.engine
    with engine.connect() as connection:
        inspector = inspect(connection)
        tables = sorted(inspector.get_table_names())
        state: dict[str, Any] = {
            "tables": tables, "views": sorted(inspector.get_view_names()),
            "rows": {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables},
            "probe_files": [path.exists() for path in PROBE_FILES],
        }
        if engine.dialect.name == "postgresql":
            for key, query in {
                "relations": "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                             "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                             "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2",
                "roles": "SELECT rolname, rolsuper, rolcanlogin FROM pg_roles ORDER BY 1",
                "functions": "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                             "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
                "sequences": "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1",
                "large_objects": "SELECT count(*) FROM pg_largeobject_metadata",
                "role_settings": "SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting ORDER BY 1, 2",
                "extensions": "SELECT extname FROM pg_extension ORDER BY 1",
            }.items():
                state[key] = [tuple(row) for row in connection.execute(text(query))]
        else:
            state["pragmas"] = [connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                                for name in ("journal_mode", "user_version", "application_id", "foreign_keys")]
            state["files"] = sorted(os.listdir(Path(engine.url.database or ".").resolve().parent))
    return state
