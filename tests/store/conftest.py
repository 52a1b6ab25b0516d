"""Store fixtures: one migrated database per backend for the session, emptied after each test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, delete, text

from r2d_sdk.store import Base, Store


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def shared_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A results database migrated once per session (creating a PostgreSQL database per test is slow)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'shared.db'}"
        Store(url).close()
        yield url
        return
    base = os.environ.get("R2D_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    if not _postgres_reachable():
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432; store tests ran on SQLite only")
    name = f"r2d_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        pytest.skip(f"cannot create a PostgreSQL test database: {error}")
    url = base.rsplit("/", 1)[0] + f"/{name}"
    Store(url).close()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(shared_database_url: str) -> Iterator[Store]:
    """A migrated results database with no rows (SQLite, then PostgreSQL)."""
    opened = Store(shared_database_url)
    try:
        yield opened
    finally:
        opened.close()
        engine = create_engine(opened.engine.url)
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
        engine.dispose()
