"""Initial schema: runs, samples, model calls, judgments, metrics, response cache, views.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("recipe_yaml", sa.Text(), nullable=False),
        sa.Column("recipe_hash", sa.String(64), nullable=False),
        sa.Column("recipe_path", sa.Text(), nullable=True),
        sa.Column("sdk_version", sa.String(40), nullable=False),
        sa.Column("git_commit", sa.String(40), nullable=True),
        sa.Column("python_version", sa.String(40), nullable=False),
        sa.Column("packages_json", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("training_run_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("finished_at", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_recipe_hash", "runs", ["recipe_hash"])

    op.create_table(
        "samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("item_label", sa.String(50), nullable=True),
        sa.Column("category", sa.String(200), nullable=True),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_id", sa.String(500), nullable=False),
        sa.Column("attack", sa.String(200), nullable=False),
        sa.Column("defense", sa.String(200), nullable=False),
        sa.Column("prompt_index", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("messages_json", sa.JSON(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("defense_latency_ms", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("model_call_count", sa.Integer(), nullable=False),
        sa.Column("defense_call_count", sa.Integer(), nullable=False),
        sa.Column("defense_tokens", sa.Integer(), nullable=False),
        sa.Column("attack_info_json", sa.JSON(), nullable=False),
        sa.Column("defense_info_json", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_samples_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_samples"),
    )
    op.create_index("ix_samples_run_id", "samples", ["run_id"])
    op.create_index("ix_samples_status", "samples", ["status"])
    op.create_index("uq_samples_cell", "samples",
                    ["run_id", "dataset", "item_id", "model", "attack", "defense", "prompt_index"], unique=True)

    op.create_table(
        "model_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("sample_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_id", sa.String(500), nullable=False),
        sa.Column("messages_json", sa.JSON(), nullable=False),
        sa.Column("params_json", sa.JSON(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("finish_reason", sa.String(40), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_model_calls_run_id_runs", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], name="fk_model_calls_sample_id_samples",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_model_calls"),
    )
    op.create_index("ix_model_calls_run_id", "model_calls", ["run_id"])
    op.create_index("ix_model_calls_sample_id", "model_calls", ["sample_id"])
    op.create_index("ix_model_calls_model", "model_calls", ["model"])

    op.create_table(
        "judgments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("jailbroken", sa.Boolean(), nullable=True),
        sa.Column("refused", sa.Boolean(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_judgments_run_id_runs", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], name="fk_judgments_sample_id_samples",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_judgments"),
    )
    op.create_index("ix_judgments_run_id", "judgments", ["run_id"])
    op.create_index("ix_judgments_sample_id", "judgments", ["sample_id"])

    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("item_label", sa.String(50), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("attack", sa.String(200), nullable=False),
        sa.Column("defense", sa.String(200), nullable=False),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("extra_json", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_metrics_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
    )
    op.create_index("ix_metrics_run_id", "metrics", ["run_id"])

    op.create_table(
        "response_cache",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(500), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("finish_reason", sa.String(40), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_response_cache"),
    )

    # Views for the common questions; plain SQL that SQLite and PostgreSQL both accept. Averages are
    # cast to FLOAT so both backends return floats (PostgreSQL's AVG of a numeric is a Decimal).
    op.execute("""
        CREATE VIEW asr_by_cell AS
        SELECT s.run_id, s.dataset, s.item_label, s.model, s.attack, s.defense, j.judge,
               COUNT(*) AS n_judged,
               SUM(CASE WHEN j.status = 'scored' THEN 1 ELSE 0 END) AS n_scored,
               SUM(CASE WHEN j.status = 'scored' AND j.jailbroken THEN 1 ELSE 0 END) AS n_jailbroken,
               SUM(CASE WHEN j.status <> 'scored' THEN 1 ELSE 0 END) AS n_not_scored,
               CAST(SUM(CASE WHEN j.status = 'scored' AND j.jailbroken THEN 1 ELSE 0 END) AS FLOAT)
                 / NULLIF(SUM(CASE WHEN j.status = 'scored' AND j.jailbroken IS NOT NULL THEN 1 ELSE 0 END), 0)
                 AS asr
        FROM samples s JOIN judgments j ON j.sample_id = s.id
        GROUP BY s.run_id, s.dataset, s.item_label, s.model, s.attack, s.defense, j.judge
    """)
    op.execute("""
        CREATE VIEW defense_cost AS
        SELECT run_id, model, defense,
               COUNT(*) AS n_samples,
               AVG(CAST(defense_call_count AS FLOAT)) AS mean_defense_calls,
               AVG(CAST(defense_tokens AS FLOAT)) AS mean_defense_tokens,
               AVG(defense_latency_ms) AS mean_defense_latency_ms,
               AVG(CAST(CASE WHEN blocked THEN 1 ELSE 0 END AS FLOAT)) AS blocked_share
        FROM samples
        WHERE status = 'ok'
        GROUP BY run_id, model, defense
    """)
    op.execute("""
        CREATE VIEW sample_verdicts AS
        SELECT s.run_id, s.id AS sample_id, s.dataset, s.item_id, s.item_label, s.category, s.model,
               s.attack, s.defense, s.prompt, s.response, s.blocked, s.status AS sample_status,
               j.judge, j.status AS judgment_status, j.label, j.jailbroken, j.refused
        FROM samples s LEFT JOIN judgments j ON j.sample_id = s.id
    """)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS sample_verdicts")
    op.execute("DROP VIEW IF EXISTS defense_cost")
    op.execute("DROP VIEW IF EXISTS asr_by_cell")
    op.drop_table("response_cache")
    op.drop_table("metrics")
    op.drop_table("judgments")
    op.drop_table("model_calls")
    op.drop_table("samples")
    op.drop_table("runs")
