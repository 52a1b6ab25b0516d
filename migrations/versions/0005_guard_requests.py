"""Guard requests: one row per request a Guard answered, its model calls linked to it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

`r2d-sdk serve` (and a `Guard` given a database) writes every request it answers to
`guard_requests`: the route, a short hash of the client's API key (never the key), the request
messages, the response, whether it was blocked and by which defense, each stack member's verdict,
status, latency and tokens. The model calls made answering it go to `model_calls` as a sample's
do, pointing at the request through the new `model_calls.guard_request_id`.

SQLite adds the column by rebuilding `model_calls`, and refuses to rename the rebuilt table
while a view names it: the views are kept as the database has them, dropped for the rebuild and
created again after it (so whatever revision defined them last still does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


@contextlib.contextmanager
def _views_set_aside() -> Iterator[None]:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    views = bind.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid").fetchall()
    for name, _ in reversed(views):
        op.execute(f'DROP VIEW "{name}"')
    yield
    for _, sql in views:
        op.execute(sql)


def upgrade() -> None:
    op.create_table(
        "guard_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("client", sa.String(16), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_id", sa.String(500), nullable=False),
        sa.Column("defense", sa.String(200), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("messages_json", sa.JSON(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("blocked_by", sa.String(200), nullable=True),
        sa.Column("block_reason", sa.Text(), nullable=True),
        sa.Column("verdicts_json", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("first_token_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("model_call_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_guard_requests"),
    )
    op.create_index("ix_guard_requests_route", "guard_requests", ["route"])
    op.create_index("ix_guard_requests_status", "guard_requests", ["status"])
    op.create_index("ix_guard_requests_created_at", "guard_requests", ["created_at"])
    op.create_index("uq_guard_requests_request_id", "guard_requests", ["request_id"], unique=True)
    with _views_set_aside(), op.batch_alter_table("model_calls") as batch:
        batch.add_column(sa.Column("guard_request_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_model_calls_guard_request_id_guard_requests", "guard_requests",
                                 ["guard_request_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_model_calls_guard_request_id", ["guard_request_id"])


def downgrade() -> None:
    with _views_set_aside(), op.batch_alter_table("model_calls") as batch:
        batch.drop_index("ix_model_calls_guard_request_id")
        batch.drop_constraint("fk_model_calls_guard_request_id_guard_requests", type_="foreignkey")
        batch.drop_column("guard_request_id")
    op.drop_table("guard_requests")
