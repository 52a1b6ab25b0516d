"""`r2d-sdk report` (one offline HTML page, or Markdown) and `r2d-sdk compare` (two runs, cell by cell)."""

from __future__ import annotations

from pathlib import Path

import click

from r2d_sdk.cli._common import db_option, friendly_errors, open_store


@click.command("report")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID|latest [RUN_ID ...]")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="The file to write (default: r2d-report-RUN_ID.html or .md in this folder).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html",
              help="html: one self-contained page; md: Markdown tables and the trade-off plot as a PNG beside it.")
@click.option("--max-samples", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Samples per run in the page's sample browser (the rest: r2d-sdk sql).")
@db_option
@friendly_errors
def report_command(run_ids: tuple[str, ...], output: Path | None, fmt: str, max_samples: int, db: str | None) -> None:
    """Write the report of one or more runs; given two, it also compares them.

    The page opens offline: charts (Vega-Lite, drawn by inlined scripts), the attack × defense
    grid, the trade-off of attack success against over-refusal, cost, R2D training, judge
    agreement and a sample browser, every figure read from the results database.
    """
    from r2d_sdk.report import write_report

    written = write_report(open_store(db, must_exist=True), list(run_ids), output, fmt, max_samples)
    size = f"{written.bytes / 1e6:.1f} MB" if written.bytes >= 100_000 else f"{written.bytes / 1e3:.0f} kB"
    click.echo(f"{written.path}: report of run{'s' if len(written.runs) > 1 else ''} {', '.join(written.runs)} "
               f"({size})" + (f"; trade-off plot {written.image}" if written.image else ""))


@click.command("compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--flips", type=click.IntRange(min=0), default=10, show_default=True,
              help="Flipped items to list (every one: the SQL printed below them).")
@db_option
@friendly_errors
def compare_command(run_a: str, run_b: str, flips: int, db: str | None) -> None:
    """Compare RUN_B with RUN_A cell by cell: both rates, B − A with a 95% interval, flipped items."""
    from r2d_sdk.report import compare_runs, print_comparison

    print_comparison(compare_runs(open_store(db, must_exist=True), run_a, run_b, flip_limit=flips))
