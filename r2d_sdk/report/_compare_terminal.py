"""`r2d-sdk compare` in the terminal: a table that fits 80 columns, and a stacked layout below that."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from r2d_sdk.report._compare import ComparedCell, Comparison, flips_sql

NARROW = 80  # below this width each cell takes two lines instead of one row
_COORDINATES = ("model", "dataset", "attack", "defense", "judge")


def _difference(cell: ComparedCell) -> tuple[str, str]:
    interval = cell.interval
    if cell.difference is None or interval is None:
        return "-", "-"
    return f"{100 * cell.difference:+.1f}", f"{100 * interval[0]:+.1f}…{100 * interval[1]:+.1f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _varying(cells: list[ComparedCell]) -> tuple[list[str], list[str]]:
    """Coordinates that differ between cells (columns) and those that do not (the title)."""
    columns, constant = [], []
    for name in _COORDINATES:
        values = list(dict.fromkeys(_coordinate(c, name) for c in cells))
        if len(values) > 1 or name in ("attack", "defense"):
            columns.append(name)
        elif values:
            constant.append(f"{name} {values[0]}")
    return columns, constant


def _coordinate(cell: ComparedCell, name: str) -> str:
    if name == "dataset":
        return f"{cell.dataset} ({cell.item_label})" if cell.item_label else cell.dataset
    if name == "judge":
        return cell.judge if cell.question == "jailbroken" else f"{cell.judge} (refusal)"
    return str(getattr(cell, name))


def comparison_table(comparison: Comparison, width: int) -> Table:
    """The cells as a table; stacked (coordinates over figures) when `width` is under 80 columns."""
    columns, constant = _varying(comparison.cells)
    title = f"run {comparison.run_b.id} (B) against run {comparison.run_a.id} (A): ASR %, or refusal %"
    if constant:
        title += "\n" + ", ".join(constant)
    table = Table(title=escape(title), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    narrow = width < NARROW
    if narrow:
        table.add_column("cell", overflow="fold")
        table.add_column("A → B, B − A (95% CI), flips", overflow="fold")
    else:
        for name in columns:
            table.add_column(name, overflow="fold", max_width=22)
        for header in ("A", "B", "B−A", "95% CI", "", "flips"):
            table.add_column(header, justify="right", no_wrap=True)
    for cell in comparison.cells:
        difference, interval = _difference(cell)
        flag = "*" if cell.flagged else ""
        coordinates = [_coordinate(cell, name) for name in columns]
        if narrow:
            figures = f"{_rate(cell.a.value)} → {_rate(cell.b.value)}, {difference} ({interval}) {flag}\n" \
                      f"flips {cell.flips}/{cell.paired}"
            table.add_row(Text(" / ".join(coordinates)), Text(figures))
        else:
            table.add_row(*(Text(c) for c in coordinates), _rate(cell.a.value), _rate(cell.b.value), difference,
                          interval, Text(flag, style="bold red"), f"{cell.flips}")
    return table


def print_comparison(comparison: Comparison, console: Console | None = None) -> None:
    """The comparison table, the flipped items, and the SQL that lists every flip."""
    console = console or Console()
    if not comparison.cells:
        console.print("no cell of the two runs has a verdict to compare (same models, attacks, defenses, judges?)")
        return
    console.print(comparison_table(comparison, console.width))
    console.print("* the 95% interval of B − A excludes 0 (Newcombe, two independent proportions); "
                  "flips: items decided in both runs whose answer changed", soft_wrap=False, highlight=False)
    if comparison.only_a or comparison.only_b:
        console.print(f"samples without a counterpart: {comparison.only_a} in A, {comparison.only_b} in B")
    if comparison.flipped:
        console.print(f"first {len(comparison.flipped)} flipped items:")
        for flip in comparison.flipped:
            console.print(Text(f"  {flip['dataset']} {flip['item_id']} · {flip['attack']} · {flip['defense']} · "
                               f"{flip['judge']}: {_verdict(flip, 'a')} → {_verdict(flip, 'b')}"))
        console.print("every flip: r2d-sdk sql " + _quoted(flips_sql(comparison)), soft_wrap=True, markup=False,
                      highlight=False)


def _verdict(flip: dict[str, Any], side: str) -> str:
    jailbroken, refused = flip[f"jailbroken_{side}"], flip[f"refused_{side}"]
    if jailbroken is not None:
        return "jailbroken" if jailbroken else "not jailbroken"
    return "refused" if refused else "complied"


def _quoted(sql: str) -> str:
    return '"' + sql.replace('"', '\\"') + '"'
