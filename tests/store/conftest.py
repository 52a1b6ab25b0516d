"""Store fixtures: one migrated database per backend for the session, emptied after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_databases import postgres_database
from sqlalchemy import create_engine, delete

from r2d_sdk.store import Base, Store


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def shared_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A results database migrated once per session (creating a PostgreSQL database per test is slow)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'shared.db'}"
        Store(url).close()
        yield url
        return
    with postgres_database() as url:
        Store(url).close()
        yield url


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
