"""Migrations: empty → head matches the models, every revision walks down and up, newer databases refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import Engine, inspect, text

from r2d_sdk import R2DError
from r2d_sdk.cli import cli
from r2d_sdk.store import Base, Store, current_revision, downgrade, head_revision, make_engine, upgrade
from r2d_sdk.store._migrate import _alembic_config

VIEWS = {"asr_by_cell", "defense_cost", "sample_verdicts"}


def _revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _schema_diffs(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        # Views are not tables of the models; compare_metadata does not reflect them, but be explicit.
        return [d for d in compare_metadata(context, Base.metadata) if not any(v in repr(d) for v in VIEWS)]


def _user_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_empty_database_upgrades_to_head_and_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _schema_diffs(engine) == []
    assert set(Base.metadata.tables) <= _user_tables(engine)
    assert set(inspect(engine).get_view_names()) >= VIEWS
    engine.dispose()


def test_every_revision_walks_down_and_up(database_url: str) -> None:
    revisions = _revisions()
    assert revisions and revisions[-1] == head_revision()
    engine = make_engine(database_url)
    upgrade(engine)
    for expected in reversed([None, *revisions[:-1]]):  # step down one revision at a time
        downgrade(engine, "-1")
        assert current_revision(engine) == expected
    assert _user_tables(engine) == set() and inspect(engine).get_view_names() == []
    for revision in revisions:  # and up again, one at a time
        upgrade(engine, revision)
        assert current_revision(engine) == revision
    assert _schema_diffs(engine) == []
    engine.dispose()


def test_database_from_newer_code_fails_with_the_fix(database_url: str) -> None:
    Store(database_url).close()
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(R2DError) as raised:
        Store(database_url)
    assert "9999_from_the_future" in raised.value.message
    assert raised.value.fix is not None and "pip install -U r2d-sdk" in raised.value.fix


def test_newer_database_through_the_cli_is_one_message(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store(f"sqlite:///{path}").close()
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    result = CliRunner().invoke(cli, ["runs", "list", "--db", str(path)])
    assert result.exit_code == 1, result.output
    assert "ffff" in result.output and "pip install -U r2d-sdk" in result.output
    assert "Traceback" not in result.output


def test_existing_database_is_migrated_when_opened(database_url: str) -> None:
    """A database left at the first revision, with a run in it, reaches head on open and keeps the run."""
    engine = make_engine(database_url)
    upgrade(engine, _revisions()[0])
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO runs (id, name, kind, status, recipe_yaml, recipe_hash, sdk_version, python_version, "
            "packages_json, seed, started_at) VALUES ('old1', 'old run', 'eval', 'completed', 'x', 'h', '0.0.1', "
            "'3.11', '{}', 0, '2025-01-01 00:00:00+00:00')"))
    engine.dispose()
    store = Store(database_url)
    assert current_revision(store.engine) == head_revision()
    assert store.get_run("old1").name == "old run"
    store.close()


def test_db_upgrade_command(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    first = CliRunner().invoke(cli, ["db", "upgrade", "--db", str(path)])
    assert first.exit_code == 0, first.output
    assert f"upgraded from an empty database to revision {head_revision()}" in first.output
    again = CliRunner().invoke(cli, ["db", "upgrade", "--db", str(path)])
    assert again.exit_code == 0 and f"already at revision {head_revision()}" in again.output


def _rebuild_runs(engine: Engine, connection_for: object) -> None:
    """What a later revision may do: alter `runs` in batch mode (SQLite copies and drops the table)."""
    import sqlalchemy as sa
    from alembic.operations import Operations

    with connection_for(engine) as connection:  # type: ignore[operator]
        operations = Operations(MigrationContext.configure(connection, opts={"render_as_batch": True}))
        with operations.batch_alter_table("runs", recreate="always") as batch:
            batch.add_column(sa.Column("scratch", sa.Integer(), nullable=True))


def test_a_batch_rebuild_of_a_parent_table_keeps_its_children(tmp_path: Path) -> None:
    from contextlib import contextmanager

    from store_records import record

    from r2d_sdk.store._migrate import migration_connection

    def filled(name: str) -> Store:
        store = Store(f"sqlite:///{tmp_path / name}")
        run_id = store.create_run("r", "name: r\n", "h", seed=0)
        store.write_samples(run_id, [record("1"), record("2")])
        return store

    def samples(store: Store) -> int:
        with store.engine.connect() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM samples")).scalar_one())

    @contextmanager
    def keys_on(engine: Engine):  # type: ignore[no-untyped-def]
        with engine.begin() as connection:  # a pooled connection: foreign keys on, as everywhere else
            yield connection

    # The hazard: with foreign keys on, dropping the old `runs` cascades into `samples`.
    unsafe = filled("unsafe.db")
    _rebuild_runs(unsafe.engine, keys_on)
    assert samples(unsafe) == 0
    # The migration connection turns them off around the rebuild, checks, and turns them on again.
    safe = filled("safe.db")
    _rebuild_runs(safe.engine, migration_connection)
    assert samples(safe) == 2
    with safe.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# A child that opens the store at an agreed moment, so the processes race for the empty schema.
_OPEN_AT = """
import sys, time
from r2d_sdk.store import Store
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
Store(sys.argv[1]).close()
"""


def test_processes_opening_one_fresh_postgres_database_at_once_all_succeed() -> None:
    """Three processes migrating one empty PostgreSQL database at the same moment: one migrates,
    the others wait for it (without the advisory lock two of them failed creating alembic_version)."""
    import subprocess
    import sys
    import time

    from postgres_databases import postgres_database

    with postgres_database() as url:
        start_at = str(time.time() + 4)  # after every child has imported the SDK
        children = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, url, start_at], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outcomes = [(child.wait(timeout=120), child.stderr.read()) for child in children]  # type: ignore[union-attr]
        for child in children:
            child.stdout.close()  # type: ignore[union-attr]
            child.stderr.close()  # type: ignore[union-attr]
        assert [code for code, _ in outcomes] == [0, 0, 0], "\n".join(err for _, err in outcomes)
        engine = make_engine(url)
        assert current_revision(engine) == head_revision()
        assert _schema_diffs(engine) == []
        engine.dispose()
