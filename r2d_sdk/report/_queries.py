"""Named queries: every figure a report shows is read from the store by one of these.

Each is plain SQL over the tables and views of docs/sql.md with named parameters, so what a
report prints can be reproduced with `r2d-sdk sql`, and a report of a PostgreSQL database with
millions of samples aggregates in the database, never in Python.

Two kinds of entries need more than a string: a query whose JSON access differs between
SQLite and PostgreSQL is a dict by dialect, and a query that reads each sample's joint verdict
has a `{signature:ALIAS}` slot, filled for the run's judges (bound as :judge_0, :judge_1, ...):
one base-32 digit per judge, its judgment's code (`VERDICT_CODE`).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from r2d_sdk._errors import ConfigError

# One judgment as a number below 32 (0: the sample has no judgment by that judge; 1 unscorable;
# 2 error); a scored one is 3 + jailbroken + 3 * refused + 9 * XSTest label, where jailbroken and
# refused are 0 no, 1 yes, 2 undecided, and the label 0 is none of XSTest's, 1 full refusal, 2
# full compliance or partial refusal. `_verdicts.decode` reads it back.
VERDICT_CODE = ("CASE j.status WHEN 'scored' THEN 3 + COALESCE(CAST(j.jailbroken AS INTEGER), 2)"
                " + 3 * COALESCE(CAST(j.refused AS INTEGER), 2)"
                " + 9 * CASE WHEN j.label = 'full_refusal' THEN 1"
                " WHEN j.label IN ('full_compliance', 'partial_refusal') THEN 2 ELSE 0 END"
                " WHEN 'unscorable' THEN 1 ELSE 2 END")
BASE = 32
MAX_JUDGES = 12  # 32**12 = 2**60: a signature stays inside a signed 64-bit integer

_CELL = "s.model, s.dataset, s.item_label, s.category, s.attack, s.defense"
_MATCH = ("b.run_id = :run_b AND b.dataset = a.dataset AND b.item_id = a.item_id AND b.model = a.model "
          "AND b.attack = a.attack AND b.defense = a.defense AND b.prompt_index = a.prompt_index")

QUERIES: dict[str, str | dict[str, str]] = {
    # What each defense costs beyond a plain answer (the view is the one definition).
    "defense_cost": "SELECT * FROM defense_cost WHERE run_id = :run_id",
    # A run's judges by a skip scan over ix_judgments_run_judge: one index seek per judge.
    "run_judges": """
        WITH RECURSIVE found(judge) AS (
            SELECT MIN(judge) FROM judgments WHERE run_id = :run_id
            UNION ALL
            SELECT (SELECT MIN(judge) FROM judgments WHERE run_id = :run_id AND judge > found.judge)
            FROM found WHERE found.judge IS NOT NULL)
        SELECT judge FROM found WHERE judge IS NOT NULL""",
    # Every sample of a run counted by grid cell, status and the joint verdict of its judges. The
    # signatures are made in a subquery kept apart from the grouping: SQLite would otherwise evaluate
    # the correlated subquery twice per sample (once for the sort key, once for the output).
    "run_verdicts": f"""
        SELECT model, dataset, item_label, category, attack, defense, status, verdicts, COUNT(*) AS n
        FROM (SELECT {_CELL}, s.status, {{signature:s}} AS verdicts
              FROM samples s WHERE s.run_id = :run_id {{apart}}) per_sample
        GROUP BY model, dataset, item_label, category, attack, defense, status, verdicts""",
    # Two runs cell by cell: samples of A matched with B's sample of the same cell and item.
    "compare_verdicts": f"""
        SELECT model, dataset, item_label, attack, defense, matched, verdicts_a, verdicts_b, COUNT(*) AS n
        FROM (SELECT a.model, a.dataset, a.item_label, a.attack, a.defense,
                     CASE WHEN b.id IS NULL THEN 0 ELSE 1 END AS matched,
                     {{signature:a}} AS verdicts_a, {{signature:b}} AS verdicts_b
              FROM samples a LEFT JOIN samples b ON {_MATCH}
              WHERE a.run_id = :run_a {{apart}}) pairs
        GROUP BY model, dataset, item_label, attack, defense, matched, verdicts_a, verdicts_b""",
    # B's samples with no counterpart in A (only read when B has samples A lacks).
    "compare_unmatched_b": """
        SELECT model, dataset, item_label, attack, defense, verdicts_b, COUNT(*) AS n
        FROM (SELECT b.model, b.dataset, b.item_label, b.attack, b.defense, {signature:b} AS verdicts_b
              FROM samples b
              WHERE b.run_id = :run_b AND NOT EXISTS (SELECT 1 FROM samples a WHERE a.run_id = :run_a AND
                  a.dataset = b.dataset AND a.item_id = b.item_id AND a.model = b.model AND a.attack = b.attack
                  AND a.defense = b.defense AND a.prompt_index = b.prompt_index) {apart}) unmatched
        GROUP BY model, dataset, item_label, attack, defense, verdicts_b""",
    "sample_count": "SELECT COUNT(*) AS n FROM samples WHERE run_id = :run_id",
    # Items whose verdict flipped between A and B, on the question each judge decides.
    "flipped_items": f"""
        SELECT a.model, a.dataset, a.item_id, a.attack, a.defense, a.prompt_index, ja.judge,
               ja.jailbroken AS jailbroken_a, jb.jailbroken AS jailbroken_b,
               ja.refused AS refused_a, jb.refused AS refused_b, a.goal
        FROM samples a
        JOIN samples b ON {_MATCH}
        JOIN judgments ja ON ja.sample_id = a.id
        JOIN judgments jb ON jb.sample_id = b.id AND jb.judge = ja.judge
        WHERE a.run_id = :run_a AND ja.status = 'scored' AND jb.status = 'scored'
          AND (ja.jailbroken <> jb.jailbroken OR (ja.jailbroken IS NULL AND jb.jailbroken IS NULL
                                                  AND ja.refused <> jb.refused))
        LIMIT :limit""",
    # The training runs whose checkpoints a run's defenses answered with.
    "defense_training": """
        SELECT d.defense, d.n_samples, t.id AS training_run_id, t.name, t.status, t.base_model, t.data_hash,
               t.data_path, t.n_train, t.n_heldout, t.steps_done, t.total_steps, t.checkpoint_hash,
               t.metrics_json, t.started_at, t.finished_at
        FROM defense_training_runs d JOIN training_runs t ON t.id = d.training_run_id
        WHERE d.run_id = :run_id ORDER BY d.defense""",
    "training_curve": """
        SELECT training_run_id, split, step, loss, ce, cpo, pivot_acc
        FROM training_steps WHERE training_run_id IN :training_run_ids ORDER BY training_run_id, split, step""",
    # One answered sample of a defense: whether the defense records pivots at all.
    "defense_first_info": "SELECT defense_info_json FROM samples WHERE run_id = :run_id AND defense = :defense "
                          "AND status = 'ok' LIMIT 1",
    # Pivot statistics of the answers, for defenses that record pivots (r2d, r2d-prompt).
    "pivot_stats": {
        "sqlite": """
            SELECT model, defense, dataset, item_label, COUNT(*) AS n,
                   SUM(CASE WHEN json_array_length(defense_info_json, '$.pivots') > 0 THEN 1 ELSE 0 END) AS emitted,
                   json_extract(defense_info_json, '$.pivots[0]') AS first_pivot,
                   SUM(CASE WHEN json_extract(defense_info_json, '$.reasoning_closed') THEN 1 ELSE 0 END)
                       AS reasoning_closed
            FROM samples
            WHERE run_id = :run_id AND defense IN :defenses AND status = 'ok'
              AND json_type(defense_info_json, '$.pivots') = 'array'
            GROUP BY model, defense, dataset, item_label, first_pivot""",
        "postgresql": """
            SELECT model, defense, dataset, item_label, COUNT(*) AS n,
                   SUM(CASE WHEN json_array_length(defense_info_json -> 'pivots') > 0 THEN 1 ELSE 0 END) AS emitted,
                   defense_info_json -> 'pivots' ->> 0 AS first_pivot,
                   SUM(CASE WHEN defense_info_json ->> 'reasoning_closed' = 'true' THEN 1 ELSE 0 END)
                       AS reasoning_closed
            FROM samples
            WHERE run_id = :run_id AND defense IN :defenses AND status = 'ok'
              AND json_typeof(defense_info_json -> 'pivots') = 'array'
            GROUP BY model, defense, dataset, item_label, defense_info_json -> 'pivots' ->> 0""",
    },
    # The sample browser's items: per dataset, the first items (in id order) up to a share of the cap.
    "browser_samples": """
        WITH items AS (
            SELECT dataset, item_id, COUNT(*) AS n FROM samples WHERE run_id = :run_id GROUP BY dataset, item_id
        ), ranked AS (
            SELECT dataset, item_id, n,
                   SUM(n) OVER (PARTITION BY dataset ORDER BY LENGTH(item_id), item_id
                                ROWS UNBOUNDED PRECEDING) AS upto
            FROM items
        )
        SELECT s.id, s.dataset, s.item_id, s.item_label, s.category, s.model, s.attack, s.defense, s.prompt_index,
               s.status, s.blocked, s.error,
               SUBSTR(s.prompt, 1, :chars) AS prompt, LENGTH(s.prompt) AS prompt_length,
               SUBSTR(s.reasoning, 1, :chars) AS reasoning, LENGTH(s.reasoning) AS reasoning_length,
               SUBSTR(s.response, 1, :chars) AS response, LENGTH(s.response) AS response_length
        FROM ranked r JOIN samples s ON s.run_id = :run_id AND s.dataset = r.dataset AND s.item_id = r.item_id
        WHERE r.upto - r.n < :per_dataset
        ORDER BY s.dataset, LENGTH(s.item_id), s.item_id, s.attack, s.defense, s.model, s.prompt_index""",
    "browser_judgments": """
        SELECT j.sample_id, j.judge, j.status, j.label, j.jailbroken, j.refused
        FROM judgments j WHERE j.sample_id IN :sample_ids ORDER BY j.sample_id, j.judge""",
    "dataset_items": "SELECT dataset, COUNT(DISTINCT item_id) AS items FROM samples WHERE run_id = :run_id "
                     "GROUP BY dataset",
    # Rates corrected for the judge's error, as the run (or `judges correct`) wrote them (revision 0008).
    "corrected_rates": """
        SELECT model, dataset, item_label, attack, defense, judge, metric, corrected, corrected_low, corrected_high,
               correction_status, calibration_id, correction_note
        FROM metrics
        WHERE run_id = :run_id AND metric IN :metrics AND corrected IS NOT NULL""",
    "calibration_count": "SELECT COUNT(*) AS n FROM calibrations",
}

_SLOT = re.compile(r"\{signature:(\w+)\}")
# Keeps a subquery from being merged into the query around it (SQLite does not flatten a subquery
# with a LIMIT; PostgreSQL's planner keeps one with an OFFSET apart).
_APART = {"sqlite": "LIMIT -1", "postgresql": "OFFSET 0"}


def signature_sql(n_judges: int, sample: str) -> str:
    """A correlated subquery packing one sample's judgments into its signature (a base-32 digit per judge)."""
    place = "CASE j.judge " + " ".join(f"WHEN :judge_{i} THEN {BASE ** i}" for i in range(n_judges)) + " ELSE 0 END"
    return f"(SELECT SUM(({VERDICT_CODE}) * {place}) FROM judgments j WHERE j.sample_id = {sample}.id)"


def query_text(store: Any, name: str, judges: list[str] | None = None) -> str:
    """The SQL of a named query for this store's database (and these judges, where it has a slot)."""
    if name not in QUERIES:
        raise ConfigError(f"no report query named '{name}'", fix=f"use one of: {', '.join(sorted(QUERIES))}")
    entry = QUERIES[name]
    dialect = store.engine.dialect.name
    sql = entry[dialect] if isinstance(entry, dict) else entry
    sql = sql.replace("{apart}", _APART.get(dialect, ""))
    if _SLOT.search(sql):
        if not judges:  # a run without judgments: every signature is empty
            return _SLOT.sub("NULL", sql)
        sql = _SLOT.sub(lambda slot: signature_sql(len(judges), slot.group(1)), sql)
    return sql


def named_query(store: Any, name: str, judges: list[str] | None = None, **params: Any) -> list[dict[str, Any]]:
    """Rows of a named query as dicts; list and tuple parameters expand for `IN :name`."""
    from sqlalchemy import bindparam

    if judges is not None:
        if len(judges) > MAX_JUDGES:
            raise ConfigError(f"a report reads at most {MAX_JUDGES} judges per run; this one has {len(judges)}",
                              fix="query the others with `r2d-sdk sql` (the `sample_verdicts` view)")
        params.update({f"judge_{i}": judge for i, judge in enumerate(judges)})
    statement = text(query_text(store, name, judges))
    expanding = [key for key, value in params.items() if isinstance(value, list | tuple)]
    if expanding:
        statement = statement.bindparams(*(bindparam(key, expanding=True) for key in expanding))
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement, params)]
