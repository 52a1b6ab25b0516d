"""Results in the terminal: the metrics table, the end-of-run summary, run listings, SQL rows.

Everything is read from the store (metric rows, the `defense_cost` view, sample counts).
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from r2d_sdk.report._cost import print_cost_table

console = Console()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ci(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{100 * low:.1f}–{100 * high:.1f}"


# Grid coordinates of a metric row; a coordinate with one value goes in the title instead of a column.
_COORDINATES = (("dataset", "dataset"), ("label", "item_label"), ("model", "model"), ("attack", "attack"),
                ("defense", "defense"), ("judge", "judge"))
_ALWAYS_SHOWN = ("attack", "defense")


def metrics_table(metrics: list[Any], title: str) -> Table:
    """Each metric per grid cell, with only the coordinates that vary as columns (fits 80 columns)."""
    columns, constant = [], []
    for header, attribute in _COORDINATES:
        values = list(dict.fromkeys(getattr(m, attribute) or "" for m in metrics))
        if len(values) > 1 or header in _ALWAYS_SHOWN:
            columns.append((header, attribute))
        elif values and values[0]:
            constant.append(f"{header} {values[0]}")
    if constant:
        title += "\n" + escape(", ".join(constant))
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for header in ("metric", "value", "95% CI", "n", "not\nscored"):
        table.add_column(header, justify="left" if header == "metric" else "right", overflow="fold")
    for m in metrics:
        extra = m.extra_json or {}
        table.add_row(*(Text(getattr(m, attribute) or "") for _, attribute in columns), Text(m.metric), _fmt(m.value),
                      _ci(m.ci_low, m.ci_high), str(m.n), str(extra.get("errors", 0) + extra.get("unscorable", 0)))
    return table


def print_summary(result: Any, store: Any) -> None:
    """The end-of-run report: metrics, sample counts, skipped components, where the results are."""
    console.print(metrics_table(result.metrics, f"run {result.run_id}: {result.status}"))
    print_cost_table(console, store, result.run_id)  # beside the safety table when defenses are compared
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.samples.items())) or "none"
    console.print(f"samples: {counts} ({result.skipped} already done before this start); {result.seconds:.1f} s")
    for skipped in getattr(result, "skipped_components", []):
        console.print(f"[yellow]skipped[/yellow] {escape(skipped)}", soft_wrap=True)
    if result.samples.get("error"):
        failed = result.samples["error"]
        console.print(f"[yellow]{failed} sample{'s' if failed != 1 else ''} failed[/yellow] (status error, never counted in "
                      f"a metric): r2d-sdk sql \"SELECT error, COUNT(*) FROM samples WHERE run_id = "
                      f"'{result.run_id}' GROUP BY error\"", soft_wrap=True)
    where = store.sqlite_path or store.display_url
    console.print(f"results: [bold]{where}[/bold]  (run id [bold]{result.run_id}[/bold])", soft_wrap=True)
    db_flag = f" --db {where}" if store.sqlite_path else ""
    console.print("example: r2d-sdk sql " + json.dumps(
        f"SELECT attack, defense, judge, n_scored, asr FROM asr_by_cell WHERE run_id = '{result.run_id}'")
        + db_flag, soft_wrap=True, markup=False, highlight=False)


def print_runs(store: Any, limit: int) -> None:
    table = Table(title=f"runs in {store.sqlite_path or store.display_url}")
    for column in ("id", "name", "status", "started (UTC)", "samples"):
        table.add_column(column)
    for run in store.list_runs(limit):
        table.add_row(run.id, run.name, run.status, run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                      str(sum(store.sample_count(run.id).values())))
    console.print(table)


def print_run(store: Any, run_id: str) -> None:
    run = store.get_run(run_id)
    console.print(f"[bold]run {run.id}[/bold] {escape(run.name)}: {run.status}")
    console.print(f"started {run.started_at:%Y-%m-%d %H:%M:%S} UTC, finished "
                  f"{run.finished_at:%Y-%m-%d %H:%M:%S} UTC" if run.finished_at else f"started {run.started_at}")
    console.print(f"sdk {run.sdk_version}, git {run.git_commit or '-'}, python {run.python_version}, seed {run.seed}, "
                  f"recipe {run.recipe_path or '-'} (sha256 {run.recipe_hash[:12]})")
    counts = store.sample_count(run.id)
    console.print("samples: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    if run.error:
        console.print(f"[red]error:[/red] {escape(run.error)}")
    console.print(metrics_table(store.metrics(run.id), "metrics"))


def print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str, indent=2))
    else:
        table = Table()
        for column in columns:
            table.add_column(column)
        for row in rows:
            # Text, not markup: stored responses may contain [brackets] that rich would parse.
            table.add_row(*(Text("NULL" if v is None else str(v)) for v in row))
        console.print(table)
