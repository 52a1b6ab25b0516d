"""The cost table: what each defense spends beyond a plain answer, next to `none`.

Read from the stored samples, so a resumed or merged run reports the same figures:
`defense_call_count` and `defense_tokens` count the defense-stage model calls after a sample's
first (a defense that calls its model once costs nothing extra), `latency_ms` is the whole
defended answer. Served-from-cache calls take no time, so the share of cached calls is shown
beside the latency: compare latencies on fresh runs (a new database) only.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table
from sqlalchemy import text

COST_SQL = """
SELECT s.model, s.defense, COUNT(*) AS n,
       AVG(CAST(s.defense_call_count AS FLOAT)) AS extra_calls,
       AVG(CAST(s.defense_tokens AS FLOAT)) AS extra_tokens,
       AVG(CAST(s.prompt_tokens + s.completion_tokens AS FLOAT)) AS tokens,
       AVG(s.latency_ms) AS latency_ms,
       AVG(CASE WHEN s.blocked THEN 1.0 ELSE 0.0 END) AS blocked
FROM samples s
WHERE s.run_id = :run_id AND s.status = 'ok'
GROUP BY s.model, s.defense
"""
CACHED_SQL = """
SELECT s.model, s.defense, AVG(CASE WHEN c.cache_hit THEN 1.0 ELSE 0.0 END) AS cached
FROM model_calls c JOIN samples s ON c.sample_id = s.id
WHERE s.run_id = :run_id AND s.status = 'ok' AND c.stage = 'defense'
GROUP BY s.model, s.defense
"""


def defense_costs(engine: Any, run_id: str) -> list[dict[str, Any]]:
    """Per (model, defense): mean extra calls and tokens, latency, and the same relative to `none`.

    `tokens_vs_none` is the mean of all defense-stage tokens minus `none`'s, and `latency_ratio`
    the mean latency over `none`'s, both for the same model (None when the run has no `none`).
    """
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(text(COST_SQL), {"run_id": run_id})]
        cached = {(r.model, r.defense): r.cached for r in connection.execute(text(CACHED_SQL), {"run_id": run_id})}
    baseline = {r["model"]: r for r in rows if r["defense"] == "none"}
    for row in rows:
        base = baseline.get(row["model"])
        row["cached"] = cached.get((row["model"], row["defense"]))
        row["tokens_vs_none"] = row["tokens"] - base["tokens"] if base else None
        row["latency_ratio"] = row["latency_ms"] / base["latency_ms"] if base and base["latency_ms"] else None
    # Cheapest first, `none` at the top: samples finish in any order, so the order is by cost.
    return sorted(rows, key=lambda r: (r["model"], r["defense"] != "none", r["extra_calls"], r["tokens"],
                                       r["defense"]))


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


# Short headers: the table has to fit an 80-column terminal beside the longest defense name.
HEADERS = (("n", "samples"), ("+calls", "extra calls"), ("+tokens", "extra tokens"), ("Δtok", "tokens vs none"),
           ("sec", "latency"), ("×none", "latency / none's"), ("cache", "calls from cache"), ("block", "blocked"))


def cost_table(rows: list[dict[str, Any]]) -> Table:
    """The rows as a table; the model column only when there is more than one model."""
    models = {r["model"] for r in rows}
    table = Table(title="defense cost per sample, beyond a plain answer (docs/defenses.md)", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    for header in (["model"] if len(models) > 1 else []) + ["defense"]:
        table.add_column(header, no_wrap=True)
    for header, _ in HEADERS:
        table.add_column(header, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(*([r["model"]] if len(models) > 1 else []), r["defense"], str(r["n"]),
                      _number(r["extra_calls"], ".2f"), _number(r["extra_tokens"], ".0f"),
                      _number(r["tokens_vs_none"], "+.0f"), _number(r["latency_ms"] / 1000, ".1f"),
                      _number(r["latency_ratio"], ".2f"), _number(r["cached"], ".0%"), _number(r["blocked"], ".0%"))
    return table


def print_cost_table(console: Any, store: Any, run_id: str) -> None:
    """Print the cost table when the run compared more than one defense."""
    rows = defense_costs(store.engine, run_id)
    if len({r["defense"] for r in rows}) > 1:
        console.print(cost_table(rows))
