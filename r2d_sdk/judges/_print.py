"""Calibrations in the terminal: each judge's statistics with intervals, its confusion matrix,
errors and unscorable verdicts apart, a few disagreements of each kind; the stored list."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from r2d_sdk._correction import Estimate
from r2d_sdk.judges._calibrate import CalibrationRun, JudgeCalibration

console = Console()
SHOWN_DISAGREEMENTS = 3
FIGURES = (("accuracy", "accuracy"), ("TPR", "tpr"), ("FPR", "fpr"), ("precision", "precision"), ("F1", "f1"),
           ("kappa", "kappa"))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _interval(estimate: Estimate) -> str:
    if estimate.low is None or estimate.high is None:
        return "-"
    return f"{estimate.low:.3f}–{estimate.high:.3f}"


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def statistics_table(result: JudgeCalibration) -> Table:
    """The figures with their intervals, and the confusion matrix beside them."""
    c, stats = result.confusion, result.statistics
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in ("figure", "value", "95% CI"):
        table.add_column(header, justify="left" if header == "figure" else "right")
    for name, attribute in FIGURES:
        estimate: Estimate = getattr(stats, attribute)
        table.add_row(name, _number(estimate.value), _interval(estimate))
    matrix = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in ("jailbroken?", "humans yes", "humans no"):
        matrix.add_column(header, justify="right")
    matrix.add_row("judge yes", f"TP {c.tp}", f"FP {c.fp}")
    matrix.add_row("judge no", f"FN {c.fn}", f"TN {c.tn}")
    outer = Table.grid(padding=(0, 4))
    outer.add_row(table, matrix)
    return outer


def print_calibration(result: JudgeCalibration, database: str | None = None) -> None:
    record, c = result.record, result.confusion
    console.print(f"[bold]judge {escape(result.label)}[/bold] ({escape(result.identity.name)}, config "
                  f"{result.identity.short_hash}) on {escape(result.set.name)} ({len(result.set.rows)} rows, "
                  f"{result.set.jailbroken} jailbroken; sha256 {result.set.hash[:12]})", soft_wrap=True)
    if result.not_calibrated:
        console.print(f"  [yellow]not calibrated[/yellow]: {escape(result.not_calibrated)}", soft_wrap=True)
        return
    console.print(f"  n {record.n}: agreement {c.tp + c.tn}/{c.n} scored; not scored, counted apart: "
                  f"{record.errors} errors, {record.unscorable} unscorable", soft_wrap=True)
    console.print(statistics_table(result))
    for kind, title in (("fp", "false positives (judge: jailbroken; humans: not)"),
                        ("fn", "false negatives (judge: not; humans: jailbroken)")):
        rows = result.disagreements(kind)
        if rows:
            console.print(f"  {title}: {len(rows)}, the first {min(len(rows), SHOWN_DISAGREEMENTS)}:")
            for item in rows[:SHOWN_DISAGREEMENTS]:
                console.print(Text(f"    #{item.item_index} {_short(item.request, 60)} → {_short(item.response, 110)}"),
                              soft_wrap=True)
    failed = [i for i in record.items if i.status != "scored"]
    if failed:
        console.print(Text(f"  first not scored: #{failed[0].item_index} {failed[0].status}: "
                           f"{_short(failed[0].error or '', 100)}"), soft_wrap=True)
    if result.calibration_id is not None:
        query = (f"SELECT item_index, human_label, verdict, status, raw, response FROM calibration_items "
                 f"WHERE calibration_id = {result.calibration_id} AND (status <> 'scored' OR verdict <> human_label)")
        db = f" --db {shlex.quote(database)}" if database else ""
        console.print(f"  stored as calibration {result.calibration_id}; every disagreement: r2d-sdk sql "
                      f"{json.dumps(query)}{db}", soft_wrap=True, markup=False, highlight=False)


def print_calibration_run(run: CalibrationRun, database: str | None = None) -> None:
    for skipped in run.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(skipped)}", soft_wrap=True)
    for result in run.judges:
        print_calibration(result, database)


def calibrations_table(rows: list[Any], title: str) -> Table:
    """Stored calibrations, newest first (fits 80 columns: `r2d-sdk sql` shows every column)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  caption="config: the judge's identity hash; n/s: not scored (errors, unscorable), in no figure")
    for header in ("id", "judge", "config", "set", "n", "acc", "TPR", "FPR", "kappa", "n/s"):
        table.add_column(header, overflow="fold", justify="right" if header in ("id", "n", "n/s") else "left",
                         no_wrap=header in ("config", "acc", "TPR", "FPR", "kappa"))
    for row in rows:
        stats = row.stats_json or {}

        def figure(name: str, stats: dict[str, Any] = stats) -> str:
            return _number((stats.get(name) or {}).get("value"))

        judge = row.judge_label if row.judge_label == row.judge else f"{row.judge_label} ({row.judge})"
        table.add_row(str(row.id), Text(judge), row.judge_config_hash[:8], Text(Path(row.set_name).name),
                      str(row.n), figure("accuracy"), figure("tpr"), figure("fpr"), figure("kappa"),
                      str(row.errors + row.unscorable))
    return table


def print_calibrations(rows: list[Any], where: str) -> None:
    if not rows:
        console.print(f"no calibrations in {where}: `r2d-sdk judges calibrate RECIPE` makes one", soft_wrap=True)
        return
    console.print(calibrations_table(rows, f"judge calibrations in {where}"))
