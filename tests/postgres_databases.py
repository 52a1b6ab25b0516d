"""Throwaway PostgreSQL databases for the store tests (both conftests use them)."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator

import pytest


def postgres_reachable(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the local server, dropped afterwards (skips when unreachable)."""
    base = os.environ.get("R2D_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    if not postgres_reachable():
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432; store tests ran on SQLite only")
    from sqlalchemy import create_engine, text

    name = f"r2d_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        pytest.skip(f"cannot create a PostgreSQL test database: {error}")
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
