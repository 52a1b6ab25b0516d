"""docs/sql.md's read-only role: its commands run as written, and `r2d-sdk sql` works through it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sql_snapshots import fill
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from r2d_sdk import ConfigError
from r2d_sdk.cli import cli
from r2d_sdk.store import MetricRow, Store, _sql, read_only_query

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql.md"


def _role_commands() -> list[str]:
    section = DOC.read_text().split("### A read-only role", 1)[1]
    block = re.search(r"```postgresql\n(.*?)```", section, flags=re.DOTALL)
    assert block, "docs/sql.md's 'A read-only role' has no ```postgresql block"
    return [command.strip() for command in block.group(1).split(";\n") if command.strip()]


@pytest.fixture
def reader_url(store: Store) -> Iterator[str]:
    """The URL of a role made by docs/sql.md's commands (a unique name; dropped afterwards)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    role = f"r2d_reader_{uuid.uuid4().hex[:8]}"
    database = store.engine.url.database
    with store.engine.begin() as connection:
        for command in _role_commands():
            connection.execute(text(command.replace("r2d_reader", role)
                                    .replace("DATABASE r2d ", f'DATABASE "{database}" ').rstrip(";")))
    try:
        yield make_url(store.engine.url).set(username=role, password="choose-a-password").render_as_string(
            hide_password=False)
    finally:
        with store.engine.begin() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))


def test_sql_reads_through_the_role(store: Store, reader_url: str) -> None:
    fill(store)
    result = CliRunner().invoke(cli, ["sql", "SELECT count(*) AS n FROM asr_by_cell", "--db", reader_url,
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["n", "1"]


def test_the_role_refuses_what_slips_past_the_parser(store: Store, reader_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fill(store)
    monkeypatch.setattr(_sql, "check_read_only", lambda query, dialect=None: None)
    reader = Store(reader_url)
    try:
        for query in ("SELECT pg_read_file('/etc/hostname')", "SELECT * FROM pg_ls_dir('.')", "DELETE FROM metrics"):
            with pytest.raises(ConfigError) as raised:
                read_only_query(reader.engine, query)
            assert raised.value.message.startswith("refused by the database"), raised.value.message
    finally:
        reader.close()
    # Outside r2d-sdk too: the role may neither write nor, by default, leave read-only transactions.
    engine = create_engine(make_url(reader_url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection, pytest.raises(DBAPIError, match="read-only|permission denied"):
            connection.execute(text("DELETE FROM metrics"))
    finally:
        engine.dispose()
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(MetricRow)).scalar_one() == 1
