"""Open a database and bring its schema to this code's revision (migrate-on-open)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from r2d_sdk._errors import R2DError
from r2d_sdk._locks import file_lock


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("r2d_migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this code knows (the revision files do not change while it runs)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head() or ""


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision this code knows."""
    from alembic.script import ScriptDirectory

    return frozenset(r.revision for r in ScriptDirectory.from_config(_alembic_config("sqlite://")).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def make_engine(url: str) -> Engine:
    """An engine with the pragmas SQLite needs for concurrent readers and foreign keys."""
    kwargs: dict[str, Any] = {}
    for prefix in ("postgresql://", "postgres://"):  # psycopg 3 is the driver we document
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise R2DError(f"cannot open database URL {_redact(url)}: {error}",
                       fix="use a path, sqlite:///file.db or postgresql://user@host/db "
                           "(PostgreSQL needs `pip install 'psycopg[binary]'`)") from None
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`; refuse a database written by newer code."""
    from alembic import command

    try:
        current = current_revision(engine)
    except OperationalError as error:
        raise R2DError(f"cannot connect to the results database {_redact(str(engine.url))}: {error.orig}",
                       fix="check the --db / R2D_DATABASE_URL value and that the server is running") from None
    if current is not None and current not in known_revisions():
        raise R2DError(f"the results database {_redact(str(engine.url))} is at schema revision {current}, which "
                       f"this r2d-sdk ({head_revision()} at most) does not know: newer code wrote it",
                       fix="upgrade the SDK (`pip install -U r2d-sdk`) or point --db / R2D_DATABASE_URL "
                           "at another database")
    if revision == "head" and current == head_revision():
        return
    with _migration_lock(engine):
        # Another process (e.g. a second `accelerate launch` worker) may have migrated meanwhile.
        if revision == "head" and current_revision(engine) == head_revision():
            return
        config = _alembic_config(str(engine.url))
        with migration_connection(engine) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


@contextlib.contextmanager
def migration_connection(engine: Engine) -> Iterator[Any]:
    """A connection in a transaction for migrations; on SQLite with foreign keys off.

    SQLite alters a table in batch mode by copying it, dropping the old one and renaming the
    copy. With `PRAGMA foreign_keys=ON` (every other connection's setting) dropping `runs` would
    cascade into `samples`, `judgments` and `model_calls`. The pragma cannot change inside a
    transaction, so it is set before; `PRAGMA foreign_key_check` afterwards refuses a migration
    that left a dangling reference, and the connection goes back to the pool with keys on again.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # ends SQLAlchemy's autobegun transaction; the pragma holds
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise R2DError(f"a migration left {len(broken)} rows pointing at missing rows "
                                       f"(first: {tuple(broken[0])}); nothing was changed",
                                       fix="report this: the migration must keep every referenced row")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


# Any fixed 64-bit number: PostgreSQL scopes advisory locks to one database, so this key only
# meets other r2d-sdk processes migrating the same database.
PG_MIGRATION_LOCK_KEY = 0x7232_6473_6B00  # "r2dsk"
MIGRATION_LOCK_TIMEOUT_S = 120


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one database across processes.

    SQLite: a file lock beside the database. PostgreSQL: a session advisory lock, held on its
    own connection; without it two processes opening an empty database both run the first
    revision and one fails on `CREATE TABLE alembic_version`. The wait is bounded.
    """
    if engine.dialect.name == "postgresql":
        with _postgres_advisory_lock(engine):
            yield
        return
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with file_lock(f"{path}.migrate.lock"):
        yield


@contextlib.contextmanager
def _postgres_advisory_lock(engine: Engine) -> Iterator[None]:
    with engine.connect() as connection:
        # lock_timeout bounds pg_advisory_lock's wait; the setting lives with this connection only.
        connection.exec_driver_sql(f"SET lock_timeout = '{MIGRATION_LOCK_TIMEOUT_S}s'")
        try:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
        except OperationalError as error:
            raise R2DError(f"another process has been migrating {_redact(str(engine.url))} for over "
                           f"{MIGRATION_LOCK_TIMEOUT_S} s ({error.orig})",
                           fix="wait for it to finish, or find it in pg_stat_activity and stop it") from None
        connection.commit()  # end the autobegun transaction: the session lock outlives it
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
            connection.exec_driver_sql("RESET lock_timeout")
            connection.commit()


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back (used by the migration tests)."""
    from alembic import command

    config = _alembic_config(str(engine.url))
    with migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _redact(url: str) -> str:
    # Never print a password that was put in a URL.
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"
