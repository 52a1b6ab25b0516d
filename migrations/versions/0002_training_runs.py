"""Training runs: one row per trained R2D configuration, its step metrics, and per-defense links.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

`runs.training_run_id` (from 0001) stays a plain integer column. (Migrations run with SQLite's
foreign keys off, `store._migrate.migration_connection`, so a later revision may rebuild `runs`
in batch mode without cascading into `samples`.) The view `defense_training_runs` maps each (run, defense) to the training run
whose checkpoint answered, read from the `training_run_id` the `r2d` defense writes into each
sample's defense info.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("base_model", sa.String(500), nullable=False),
        sa.Column("config_json", sa.JSON(), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("data_hash", sa.String(64), nullable=False),
        sa.Column("data_path", sa.Text(), nullable=True),
        sa.Column("n_train", sa.Integer(), nullable=False),
        sa.Column("n_heldout", sa.Integer(), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=True),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("output_dir", sa.Text(), nullable=True),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.Column("checkpoint_hash", sa.String(64), nullable=True),
        sa.Column("metrics_json", sa.JSON(), nullable=False),
        sa.Column("recipe_hash", sa.String(64), nullable=True),
        sa.Column("sdk_version", sa.String(40), nullable=False),
        sa.Column("git_commit", sa.String(40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("finished_at", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_training_runs"),
    )
    op.create_index("ix_training_runs_name", "training_runs", ["name"])
    op.create_index("ix_training_runs_status", "training_runs", ["status"])

    op.create_table(
        "training_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("training_run_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(20), nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("ce", sa.Float(), nullable=True),
        sa.Column("cpo", sa.Float(), nullable=True),
        sa.Column("pivot_acc", sa.Float(), nullable=True),
        sa.Column("learning_rate", sa.Float(), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(["training_run_id"], ["training_runs.id"],
                                name="fk_training_steps_training_run_id_training_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_training_steps"),
    )
    op.create_index("ix_training_steps_training_run_id", "training_steps", ["training_run_id"])
    op.create_index("uq_training_steps_point", "training_steps", ["training_run_id", "split", "step"], unique=True)

    # JSON access differs: SQLite's json_extract, PostgreSQL's ->> (the column is json there).
    if op.get_bind().dialect.name == "postgresql":
        value = "CAST(defense_info_json ->> 'training_run_id' AS INTEGER)"
    else:
        value = "CAST(json_extract(defense_info_json, '$.training_run_id') AS INTEGER)"
    op.execute(f"""
        CREATE VIEW defense_training_runs AS
        SELECT run_id, defense, {value} AS training_run_id, COUNT(*) AS n_samples
        FROM samples
        WHERE {value} IS NOT NULL
        GROUP BY run_id, defense, {value}
    """)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS defense_training_runs")
    op.drop_table("training_steps")
    op.drop_table("training_runs")
