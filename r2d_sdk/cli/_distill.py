"""`r2d-sdk distill`: build R2D trajectories from a recipe's `distill:` section; convert paper-format files."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from r2d_sdk.cli._common import db_option, friendly_errors, open_store


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar over prompts; None when quiet."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("[bold]distill"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("distill", total=None)
        yield lambda step, total: progress.update(task, total=total, advance=step)


@click.command()
@click.argument("recipe", type=click.Path(path_type=Path), required=False)
@db_option
@click.option("--trajectories", "-o", type=click.Path(path_type=Path), default=None,
              help="The trajectory JSONL: the output (default: the recipe's distill.output), or the input of "
                   "--export-paper / the output of --import-paper without a recipe.")
@click.option("--limit", type=int, default=None, help="Use at most N prompts.")
@click.option("--concurrency", type=int, default=None, help="Override distill.concurrency.")
@click.option("--export-paper", type=click.Path(path_type=Path), default=None,
              help="Also write the trajectories in the R2D release's format (instruction/input/output).")
@click.option("--import-paper", type=click.Path(path_type=Path), default=None,
              help="Convert a file in the R2D release's format into trajectories at --trajectories.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def distill(recipe: Path | None, db: str | None, trajectories: Path | None, limit: int | None,
            concurrency: int | None, export_paper: Path | None, import_paper: Path | None, quiet: bool) -> None:
    """Build safety-aware reasoning trajectories (pivots after every step) for R2D training.

    With a RECIPE: run its `distill:` section (a teacher model, or `offline`), record every model
    call in the results database, and append trajectories to the output; running it again skips
    prompts already done. Without one: convert between trajectories and the paper's format.
    """
    from r2d_sdk._errors import ConfigError
    from r2d_sdk.trajectories import read_jsonl, write_jsonl, write_paper_jsonl

    if recipe is None:
        if trajectories is None or (export_paper is None) == (import_paper is None):
            raise ConfigError("without a recipe, give --trajectories and one of --export-paper / --import-paper",
                              fix="r2d-sdk distill RECIPE, or r2d-sdk distill --import-paper IN -o OUT.jsonl")
        if import_paper is not None:
            loaded = read_jsonl(import_paper)
            digest = write_jsonl(loaded, trajectories)
            click.echo(f"{len(loaded)} trajectories from {import_paper} -> {trajectories} (sha256 {digest[:12]})")
        else:
            assert export_paper is not None
            loaded = read_jsonl(trajectories)
            digest = write_paper_jsonl(loaded, export_paper)
            click.echo(f"{len(loaded)} trajectories -> {export_paper} in the paper's format (sha256 {digest[:12]})")
        return
    from r2d_sdk.recipe import load_recipe
    from r2d_sdk.trajectories import distill as run_distill

    loaded_recipe = load_recipe(recipe)
    store = open_store(db, loaded_recipe.recipe.database)
    with _progress(quiet) as progress:
        result = asyncio.run(run_distill(loaded_recipe, store, limit=limit, concurrency=concurrency,
                                         output=trajectories, progress=progress))
    counts = {k: v for k, v in sorted(result.counts.items()) if v}
    click.echo(f"distill run {result.run_id}: {result.total} prompts, {result.already_done} already in "
               f"{result.output}, {counts.get('written', 0)} written ({result.seconds:.0f}s)")
    click.echo(f"  outcomes: {counts}")
    info = result.info
    click.echo(f"  sources: {info.get('sources')}; dropped as near duplicates of evaluation prompts: "
               f"{info.get('dropped_overlap', 0)} (checked against {', '.join(info.get('overlap_checked_against') or ['-'])})")
    click.echo(f"  {result.output} sha256 {result.file_hash}")
    if export_paper is not None:
        digest = write_paper_jsonl(read_jsonl(result.output), export_paper)
        click.echo(f"  paper format: {export_paper} (sha256 {digest[:12]})")
