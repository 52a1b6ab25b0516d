"""The deployment that served each model call: `model_calls.deployment`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

A recipe model may list several deployments (vLLM replicas, API endpoints) behind LiteLLM's
Router. The call log, the cache key and cost accounting stay per logical model (`model`); this
column says which deployment answered (or, for a failed call, which one failed last), so the
split across replicas and a failing replica's share can be read from the table. Null for a
model without deployments and for an answer served from the response cache.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_calls") as batch:
        batch.add_column(sa.Column("deployment", sa.String(200), nullable=True))


def downgrade() -> None:
    # recreate="never": SQLite (3.35+) drops the column in place. Rebuilding the table instead
    # would fail on the `defense_cost` view, which reads model_calls (and not this column).
    with op.batch_alter_table("model_calls", recreate="never") as batch:
        batch.drop_column("deployment")
