"""`r2d-sdk judges calibrate | list | correct`: thin commands over r2d_sdk.judges."""

from __future__ import annotations

from pathlib import Path

import click

from r2d_sdk.cli._common import db_option, friendly_errors, open_store


@click.group()
def judges() -> None:
    """Measure judges against human labels, and correct rates for their error (docs/judges.md)."""


@judges.command("calibrate")
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--set", "set_name", default=None, metavar="NAME|FILE",
              help="The labelled set: jbb-judge-comparison (built in, the default) or a CSV/JSON/JSONL file.")
@click.option("--judge", "labels", multiple=True, metavar="LABEL",
              help="Calibrate only this judge of the recipe (repeat for several; default: all).")
@click.option("--request-column", default=None, metavar="NAME",
              help="The column holding the request (file default: request; built-in: goal, or prompt).")
@click.option("--response-column", default=None, metavar="NAME", help="The column holding the response.")
@click.option("--label-column", default=None, metavar="NAME", help="The column holding the human label.")
@click.option("--prompt-column", default=None, metavar="NAME",
              help="A column holding the attack prompt as sent, for judges that read the prompt.")
@click.option("--jailbroken-value", "jailbroken_values", multiple=True, metavar="VALUE",
              help="A label value meaning jailbroken (repeatable; default: 1, true, yes, unsafe, jailbroken).")
@click.option("--safe-value", "safe_values", multiple=True, metavar="VALUE",
              help="A label value meaning not jailbroken (repeatable; default: 0, false, no, safe, ...).")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Override the recipe's concurrency.")
@db_option
@friendly_errors
def calibrate_command(recipe: Path, set_name: str | None, labels: tuple[str, ...], request_column: str | None,
                      response_column: str | None, label_column: str | None, prompt_column: str | None,
                      jailbroken_values: tuple[str, ...], safe_values: tuple[str, ...], concurrency: int | None,
                      db: str | None) -> None:
    """Run RECIPE's judges, as a run builds them, over human-labelled rows; print and store how well each agrees.

    Exit status: 0 done; 3 a judge scored none of the rows; 2 bad input; 1 the SDK could not run it.
    """
    from r2d_sdk import R2DError
    from r2d_sdk.judges import calibrate, load_calibration_set, print_calibration_run
    from r2d_sdk.recipe import load_recipe
    from r2d_sdk.run import apply_overrides

    loaded = apply_overrides(load_recipe(recipe), concurrency=concurrency)
    labelled = load_calibration_set(set_name, request_column, response_column, label_column, prompt_column,
                                    jailbroken_values or None, safe_values or None)
    store = open_store(db, loaded.recipe.database)
    try:
        result = calibrate(loaded, labelled, store, list(labels) or None)
        print_calibration_run(result, store.sqlite_path or None)
    finally:
        store.close()
    empty = [r for r in result.judges if r.not_calibrated is None and r.confusion.n == 0]
    if empty:
        first = next((i.error for r in empty for i in r.record.items if i.error), None) or "none recorded"
        ids = ", ".join(str(r.calibration_id) for r in empty if r.calibration_id is not None)
        where = f" --db {store.sqlite_path}" if store.sqlite_path else ""
        raise R2DError(f"judge {', '.join(r.label for r in empty)} scored none of the {len(labelled.rows)} rows "
                       f"(the first: {first})",
                       fix=f"read its answers with r2d-sdk sql \"SELECT item_index, status, raw, error FROM "
                           f"calibration_items WHERE calibration_id IN ({ids})\"{where}; fix the judge's model "
                           "or arguments, then calibrate again", exit_code=3)


@judges.command("list")
@db_option
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@friendly_errors
def list_command(db: str | None, limit: int) -> None:
    """The stored calibrations, newest first."""
    from r2d_sdk.judges import print_calibrations
    from r2d_sdk.store import Calibrations

    store = open_store(db, must_exist=True)
    try:
        print_calibrations(Calibrations(store).list(limit), store.sqlite_path or store.display_url)
    finally:
        store.close()


@judges.command("correct")
@click.argument("run_id", metavar="RUN_ID|latest")
@db_option
@friendly_errors
def correct_command(run_id: str, db: str | None) -> None:
    """Correct a stored run's rates again, from the newest calibration of each of its judges."""
    from r2d_sdk.judges import correct_run
    from r2d_sdk.report import print_metrics

    store = open_store(db, must_exist=True)
    try:
        done = correct_run(store, run_id)
        metrics = store.metrics(done.run_id)
    finally:
        store.close()
    print_metrics(metrics, f"run {done.run_id}: {done.corrected_rows} rates corrected")
