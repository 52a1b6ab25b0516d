"""One definition of defense cost: the `defense_cost` view carries every figure the reports show.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Until now the terminal's cost table computed its own figures (total tokens, whole-answer
latency, the share of calls served from the cache, the comparison with `none`) beside this
view's. The view keeps its columns and gains those, so `r2d-sdk sql` and every report read the
same numbers:

- mean_defense_calls / mean_defense_tokens: defense-stage model calls (and their tokens) after a
  sample's first, i.e. beyond a plain answer;
- mean_tokens: all defense-stage tokens of a sample; tokens_vs_none: that minus `none`'s for the
  same run and model;
- mean_latency_ms: the whole defended answer; latency_ratio: over `none`'s;
- mean_defense_latency_ms: the defense's own time, model calls excluded;
- cached_share: defense-stage calls answered from the response cache (they take no time, so
  compare latencies of fresh runs only); blocked_share.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFENSE_COST = """
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

PREVIOUS = """
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
"""


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS defense_cost")
    op.execute(DEFENSE_COST)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS defense_cost")
    op.execute(PREVIOUS)
