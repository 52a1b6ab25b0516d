"""The cost of each defense: what it spends beyond a plain answer, next to `none`.

One definition: the `defense_cost` view (migrations/versions/0003_defense_cost.py) computes every
figure from the stored samples, so a resumed or merged run reports the same numbers, and
`r2d-sdk sql "SELECT * FROM defense_cost"` shows exactly what this table shows.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from r2d_sdk.report._queries import named_query


def defense_costs(store: Any, run_id: str) -> list[dict[str, Any]]:
    """Per (model, defense) of a run: the `defense_cost` row, cheapest first with `none` on top."""
    rows = named_query(store, "defense_cost", run_id=run_id)
    # Samples finish in any order, so the order is by cost.
    return sorted(rows, key=lambda r: (r["model"], r["defense"] != "none", r["mean_defense_calls"],
                                       r["mean_tokens"], r["defense"]))


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
        table.add_row(*([r["model"]] if len(models) > 1 else []), r["defense"], str(r["n_samples"]),
                      _number(r["mean_defense_calls"], ".2f"), _number(r["mean_defense_tokens"], ".0f"),
                      _number(r["tokens_vs_none"], "+.0f"), _number(r["mean_latency_ms"] / 1000, ".1f"),
                      _number(r["latency_ratio"], ".2f"), _number(r["cached_share"], ".0%"),
                      _number(r["blocked_share"], ".0%"))
    return table


def print_cost_table(console: Any, store: Any, run_id: str) -> None:
    """Print the cost table when the run compared more than one defense."""
    rows = defense_costs(store, run_id)
    if len({r["defense"] for r in rows}) > 1:
        console.print(cost_table(rows))
