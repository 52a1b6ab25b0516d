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
from rich.padding import Padding
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
    # The corrected figure sits beside the raw one once a judge of the table has a calibration;
    # until then the lines under the table say there is none (`print_corrections`).
    corrections = any(getattr(m, "calibration_id", None) is not None for m in metrics)
    numbers = ("value", "95% CI", *(("corrected", "95% CI ") if corrections else ()), "n", "not\nscored")
    table.add_column("metric", overflow="fold")
    for header in numbers:  # figures never wrap; the names beside them fold instead
        table.add_column(header.strip(), justify="right", no_wrap=True)
    for m in metrics:
        extra = m.extra_json or {}
        corrected = (_fmt(m.corrected), _ci(m.corrected_low, m.corrected_high)) if corrections else ()
        table.add_row(*(Text(getattr(m, attribute) or "") for _, attribute in columns), Text(m.metric), _fmt(m.value),
                      _ci(m.ci_low, m.ci_high), *corrected, str(m.n),
                      str(extra.get("errors", 0) + extra.get("unscorable", 0)))
    return table


def correction_lines(metrics: list[Any]) -> list[str]:
    """Per judge, the calibration its rates were corrected with, or why they were not; then the
    rows whose correction was clipped or has no number, each with its reason."""
    lines: list[str] = []
    judges = list(dict.fromkeys(m.judge for m in metrics if getattr(m, "correction_status", None) is not None))
    for judge in judges:
        rows = [m for m in metrics if m.judge == judge and m.correction_status is not None]
        used = [m for m in rows if m.corrected is not None or m.correction_status in ("clipped", "undefined")]
        if used:
            lines.append(f"{judge}: corrected with {(used[0].correction_note or '').split('; ')[0]}")
        shared = [] if used else list(dict.fromkeys(m.correction_note or "" for m in rows))
        lines += [f"{judge}: {note}" for note in shared]
        for m in rows:
            why = (m.correction_note or "").split("; ", 1)
            cell = " × ".join(part for part in (m.attack, m.defense) if part) + f" {m.metric}"
            if used and m.correction_status == "none":
                lines.append(f"  {cell}: {m.correction_note}")
            elif m.correction_status in ("clipped", "undefined") and len(why) == 2:
                lines.append(f"  {cell}: {m.correction_status}: {why[1]}")
    return lines


def print_metrics(metrics: list[Any], title: str) -> None:
    """The metrics table, then which calibration corrected each judge's rates (or why none)."""
    console.print(metrics_table(metrics, title))
    print_corrections(metrics)


def print_corrections(metrics: list[Any]) -> None:
    """The lines of `correction_lines` under a heading, when any row could be corrected."""
    lines = correction_lines(metrics)
    if not lines:
        return
    # Wrapped to the terminal like the table above them (the table fits 80 columns; so do these).
    if any(getattr(m, "calibration_id", None) is not None for m in metrics):
        console.print("corrected for the judge's error (Rogan–Gladen; the interval carries the run's and the "
                      "calibration's uncertainty, docs/judges.md):")
    else:
        console.print("not corrected for the judge's error (docs/judges.md):")
    for line in lines:
        console.print(Padding(Text(line), (0, 0, 0, 2)))


def print_summary(result: Any, store: Any) -> None:
    """The end-of-run report: metrics, sample counts, skipped components, where the results are."""
    print_metrics(result.metrics, f"run {result.run_id}: {result.status}")
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
    print_metrics(store.metrics(run.id), "metrics")


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
