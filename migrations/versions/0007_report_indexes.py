"""Indexes for the report (its grid, compare and judge-list queries read indexes, not rows) and a
run-by-run `defense_cost` view.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

`r2d-sdk report` reads every verdict of a run in one pass: each sample's grid coordinates, and
per sample the verdicts of all its judges (r2d_sdk/report/_verdicts.py). On a million samples
with four judges that pass took ~30 s on SQLite through the existing single-column indexes
(every judgment fetched from its table row); with these covering indexes it reads index pages
only (~4 s of CPU on the project's 2-core machine):

- ix_samples_cells: a run's samples in grid order, with their status and item (what `compare`
  matches on);
- ix_judgments_verdicts: a sample's judgments with the columns a verdict is made of;
- ix_judgments_run_judge: a run's judges, found by a skip scan instead of reading every judgment.

On SQLite the `defense_cost` view keeps its columns and figures but is written so that a query
for one run reads that run only: SQLite materialised its CTEs for every run of the database
before the run filter applied (1M samples: ~3 s of CPU per run in the file). The `none` baseline
now comes from a window over the per-defense rows and the cached share from a correlated
subquery, both served by covering indexes (ix_samples_cost, ix_model_calls_stage): ~6x less CPU.
PostgreSQL pushes the run filter into revision 0003's CTEs by itself and plans the correlated
form worse (1M samples: 2.1 s against 9 s), so there the view stays as 0003 wrote it and gains
only the indexes.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


PER_DEFENSE = """
    SELECT run_id, model, defense,
           COUNT(*) AS n_samples,
           AVG(CAST(defense_call_count AS FLOAT)) AS mean_defense_calls,
           AVG(CAST(defense_tokens AS FLOAT)) AS mean_defense_tokens,
           AVG(defense_latency_ms) AS mean_defense_latency_ms,
           AVG(CAST(CASE WHEN blocked THEN 1 ELSE 0 END AS FLOAT)) AS blocked_share,
           AVG(CAST(prompt_tokens + completion_tokens AS FLOAT)) AS mean_tokens,
           AVG(latency_ms) AS mean_latency_ms
    FROM samples
    WHERE status = 'ok'
    GROUP BY run_id, model, defense
"""

DEFENSE_COST = f"""
    CREATE VIEW defense_cost AS
    SELECT d.run_id, d.model, d.defense, d.n_samples, d.mean_defense_calls, d.mean_defense_tokens,
           d.mean_defense_latency_ms, d.blocked_share, d.mean_tokens, d.mean_latency_ms,
           (SELECT AVG(CAST(CASE WHEN c.cache_hit THEN 1 ELSE 0 END AS FLOAT))
            FROM samples s JOIN model_calls c ON c.sample_id = s.id
            WHERE s.run_id = d.run_id AND s.model = d.model AND s.defense = d.defense AND s.status = 'ok'
              AND c.stage = 'defense') AS cached_share,
           d.mean_tokens - d.none_tokens AS tokens_vs_none,
           d.mean_latency_ms / NULLIF(d.none_latency_ms, 0) AS latency_ratio
    FROM (SELECT g.*,
                 MAX(CASE WHEN g.defense = 'none' THEN g.mean_tokens END)
                     OVER (PARTITION BY g.run_id, g.model) AS none_tokens,
                 MAX(CASE WHEN g.defense = 'none' THEN g.mean_latency_ms END)
                     OVER (PARTITION BY g.run_id, g.model) AS none_latency_ms
          FROM ({PER_DEFENSE}) g) d
"""

# Revision 0003's definition, restored on downgrade (and kept on PostgreSQL).
PREVIOUS = """
    CREATE VIEW defense_cost AS
    WITH per_defense AS (
        SELECT run_id, model, defense,
               COUNT(*) AS n_samples,
               AVG(CAST(defense_call_count AS FLOAT)) AS mean_defense_calls,
               AVG(CAST(defense_tokens AS FLOAT)) AS mean_defense_tokens,
               AVG(defense_latency_ms) AS mean_defense_latency_ms,
               AVG(CAST(CASE WHEN blocked THEN 1 ELSE 0 END AS FLOAT)) AS blocked_share,
               AVG(CAST(prompt_tokens + completion_tokens AS FLOAT)) AS mean_tokens,
               AVG(latency_ms) AS mean_latency_ms
        FROM samples
        WHERE status = 'ok'
        GROUP BY run_id, model, defense
    ), cached AS (
        SELECT s.run_id, s.model, s.defense,
               AVG(CAST(CASE WHEN c.cache_hit THEN 1 ELSE 0 END AS FLOAT)) AS cached_share
        FROM model_calls c JOIN samples s ON c.sample_id = s.id
        WHERE s.status = 'ok' AND c.stage = 'defense'
        GROUP BY s.run_id, s.model, s.defense
    )
    SELECT d.run_id, d.model, d.defense, d.n_samples, d.mean_defense_calls, d.mean_defense_tokens,
           d.mean_defense_latency_ms, d.blocked_share, d.mean_tokens, d.mean_latency_ms, c.cached_share,
           d.mean_tokens - b.mean_tokens AS tokens_vs_none,
           d.mean_latency_ms / NULLIF(b.mean_latency_ms, 0) AS latency_ratio
    FROM per_defense d
    LEFT JOIN cached c ON c.run_id = d.run_id AND c.model = d.model AND c.defense = d.defense
    LEFT JOIN per_defense b ON b.run_id = d.run_id AND b.model = d.model AND b.defense = 'none'
"""


def upgrade() -> None:
    op.create_index("ix_samples_cells", "samples", ["run_id", "model", "dataset", "item_label", "category", "attack",
                                                    "defense", "status", "item_id", "prompt_index"])
    op.create_index("ix_judgments_verdicts", "judgments",
                    ["sample_id", "judge", "status", "jailbroken", "refused", "label"])
    op.create_index("ix_judgments_run_judge", "judgments", ["run_id", "judge"])
    op.create_index("ix_samples_cost", "samples", ["run_id", "status", "model", "defense", "defense_call_count",
                                                   "defense_tokens", "defense_latency_ms", "blocked", "prompt_tokens",
                                                   "completion_tokens", "latency_ms"])
    op.create_index("ix_model_calls_stage", "model_calls", ["sample_id", "stage", "cache_hit"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP VIEW IF EXISTS defense_cost")
        op.execute(DEFENSE_COST)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP VIEW IF EXISTS defense_cost")
        op.execute(PREVIOUS)
    op.drop_index("ix_model_calls_stage", table_name="model_calls")
    op.drop_index("ix_samples_cost", table_name="samples")
    op.drop_index("ix_judgments_run_judge", table_name="judgments")
    op.drop_index("ix_judgments_verdicts", table_name="judgments")
    op.drop_index("ix_samples_cells", table_name="samples")
