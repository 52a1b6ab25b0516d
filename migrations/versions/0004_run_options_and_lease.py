"""Runs remember how they were started and who is running them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

- overrides_json: the command-line overrides a run started with (`{"limit": 60, "concurrency":
  4}`, only those given), so `--resume` reproduces the start and the printed resume command is
  complete. NULL for runs started before this revision (their overrides are unknown).
- heartbeat_at, host, pid: the lease of the process running the run. It refreshes heartbeat_at
  every few seconds; `--resume` refuses a run whose lease is fresh and takes over one whose
  heartbeat is old or whose process is gone from this host.

Batch mode: SQLite rebuilds `runs` to drop the columns again (migrations run with its foreign
keys off, so `samples` and the other children are kept).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("overrides_json", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", UTC_TS, nullable=True))
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("pid")
        batch.drop_column("host")
        batch.drop_column("heartbeat_at")
        batch.drop_column("overrides_json")
