"""`r2d-sdk` commands. Heavy imports happen inside each command so `--help` stays fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from r2d_sdk._version import __version__
from r2d_sdk.cli._common import db_option, friendly_errors, open_store


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="r2d-sdk")
def cli() -> None:
    """Evaluate jailbreak attacks and defenses, and train R2D, from YAML recipes."""


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@friendly_errors
def validate(recipe: Path) -> None:
    """Check a recipe (fields, plugin names and arguments, datasets) without running it."""
    from r2d_sdk.recipe import load_recipe
    from r2d_sdk.run import build_grid

    loaded = load_recipe(recipe)
    grid = build_grid(loaded)  # the build `run` does, so what passes here can run; nothing is written
    r = loaded.recipe
    if r.datasets:
        click.echo(f"{recipe}: valid. {', '.join(grid.counts())}; {len(r.targets)} target(s) × {len(r.attacks)} "
                   f"attack(s) × {len(r.defenses)} defense(s); judges: {', '.join(s.key for s in r.judges)}")
    if r.serve is not None:
        from r2d_sdk.serve import build_routes

        routes = build_routes(loaded)  # what `serve` builds
        click.echo(f"{recipe}: valid. routes: " + ", ".join(f"{name} ({route.model.name}, {route.defense_label})"
                                                           for name, route in routes.items()))
    elif not r.datasets:
        click.echo(f"{recipe}: valid.")


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@db_option
@click.option("--resume", default=None, metavar="RUN_ID|latest",
              help="Finish an interrupted run, with the --limit and --concurrency it started with.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N items of each dataset.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Override the recipe's concurrency.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Run the cells on Ray actors (a local Ray, or the cluster at ADDRESS, e.g. auto); "
                   "needs r2d-sdk[distributed].")
@click.option("--allow-errors", is_flag=True,
              help="Exit 0 although some samples or judgments failed (not when nothing scored).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def run(recipe: Path, db: str | None, resume: str | None, limit: int | None, concurrency: int | None,
        ray_address: str | None, allow_errors: bool, quiet: bool) -> None:
    """Run a recipe's attack × defense grid and store everything in the results database.

    Exit status: 0 done; 3 samples or judgments ended in error (see --allow-errors); 1 the SDK
    could not run it; 2 bad input (recipe, options); 130 interrupted (the resume command is printed).
    """
    from r2d_sdk.cli._console import progress_bar
    from r2d_sdk.recipe import load_recipe
    from r2d_sdk.report import print_summary
    from r2d_sdk.run import Interrupted, apply_overrides, evaluate

    # --ray here; --limit and --concurrency inside evaluate, which checks them against a resumed run.
    loaded = apply_overrides(load_recipe(recipe), ray=ray_address)
    interrupted: Interrupted | None = None
    with progress_bar(quiet) as advance:
        try:
            result = evaluate(loaded, db, resume=resume, limit=limit, concurrency=concurrency, progress=advance)
        except Interrupted as error:
            interrupted = error
    if interrupted is not None:
        click.secho(f"{interrupted.message}", fg="yellow", err=True)
        click.echo(f"  resume with: {interrupted.resume_command(str(recipe), db)}", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # Leave at once: a local model may still be inside a batch we no longer need.
        os._exit(130)
    print_summary(result, open_store(db, loaded.recipe.database, must_exist=True))
    failure = result.failure(allow_errors)
    if failure is not None:
        raise failure  # printed as `error:` and `fix:`, exit 3


@cli.group()
def plugins() -> None:
    """List and describe installed attacks, defenses, judges, metrics and datasets."""


@plugins.command("list")
@click.option("--kind", type=click.Choice(["attack", "defense", "judge", "metric", "dataset"]), default=None)
@friendly_errors
def plugins_list(kind: str | None) -> None:
    """Every registered component, and any plugin package that failed to load."""
    from r2d_sdk.cli._console import print_plugins

    print_plugins(kind)


@plugins.command("info")
@click.argument("name")
@friendly_errors
def plugins_info(name: str) -> None:
    """A component's description and arguments."""
    from r2d_sdk.cli._console import print_plugin_info

    print_plugin_info(name)


@cli.group()
def runs() -> None:
    """Runs stored in the results database."""


@runs.command("list")
@db_option
@click.option("--limit", type=int, default=20)
@friendly_errors
def runs_list(db: str | None, limit: int) -> None:
    """The newest runs."""
    from r2d_sdk.report import print_runs

    print_runs(open_store(db, must_exist=True), limit)


@runs.command("show")
@click.argument("run_id")
@db_option
@friendly_errors
def runs_show(run_id: str, db: str | None) -> None:
    """A run's details and metrics (RUN_ID or 'latest')."""
    from r2d_sdk.report import print_run

    print_run(open_store(db, must_exist=True), run_id)


@cli.command()
@click.argument("query")
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--timeout", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="The database stops the query after this long.")
@friendly_errors
def sql(query: str, db: str | None, fmt: str, timeout: float) -> None:
    """Run one read-only SQL query (SELECT, WITH, EXPLAIN, VALUES) against the results database."""
    from r2d_sdk.report import print_rows
    from r2d_sdk.store import read_only_query

    store = open_store(db, must_exist=True)
    try:
        columns, rows = read_only_query(store.engine, query, timeout=timeout)
    finally:
        store.close()
    print_rows(columns, rows, fmt)


@cli.group()
def db() -> None:
    """Results database maintenance."""


@db.command("upgrade")
@db_option
@friendly_errors
def db_upgrade(db: str | None) -> None:
    """Apply any pending schema migrations."""
    from r2d_sdk._settings import database_url
    from r2d_sdk.store import Store, current_revision, head_revision, make_engine

    url = database_url(db)
    engine = make_engine(url)
    try:
        before = current_revision(engine)
    except Exception:  # unreachable server, unreadable file: Store below says why, with the fix
        before = None
    finally:
        engine.dispose()
    store = Store(url)
    after = current_revision(store.engine)
    change = "already at" if before == after else f"upgraded from {before or 'an empty database'} to"
    click.echo(f"{store.display_url}: {change} revision {after} (this r2d-sdk's latest: {head_revision()})")


from r2d_sdk.cli._train import train  # noqa: E402  (R2D training; torch loads only when it runs)

cli.add_command(train)
from r2d_sdk.cli._export import export_artifact_command  # noqa: E402  (run prompts -> JailbreakBench artifact)

cli.add_command(export_artifact_command)

from r2d_sdk.cli._distill import distill as distill_command  # noqa: E402  (R2D trajectory building)

cli.add_command(distill_command)

from r2d_sdk.cli._serve import serve as serve_command  # noqa: E402  (the OpenAI-compatible gateway)

cli.add_command(serve_command)
from r2d_sdk.cli._report import compare_command, report_command  # noqa: E402  (HTML/Markdown report, compare)

cli.add_command(report_command)
cli.add_command(compare_command)
from r2d_sdk.cli._judges import judges as judges_group  # noqa: E402  (calibrate, list, correct)

cli.add_command(judges_group)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="r2d-sdk")
