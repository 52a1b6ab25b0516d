"""`r2d-sdk train RECIPE`: train the recipe's R2D configurations, one after another.

Runs the same under `accelerate launch --num_processes N --multi_gpu -m r2d_sdk.cli train RECIPE`
(also on a CPU-only machine: `--multi_gpu` is what starts N workers; they train as CPU processes).
"""

from __future__ import annotations

from pathlib import Path

import click

from r2d_sdk.cli._common import db_option, friendly_errors, open_store


@click.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@db_option
@click.option("--only", multiple=True, metavar="NAME", help="Train only this configuration (repeatable).")
@click.option("--force", is_flag=True, help="Retrain even if this configuration was trained on the same data.")
@click.option("--run", "then_run", is_flag=True, help="Then run the recipe's evaluation grid (`r2d-sdk run`).")
@click.option("--limit", type=int, default=None, help="With --run: evaluate only the first N items of each dataset.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def train(recipe: Path, db: str | None, only: tuple[str, ...], force: bool, then_run: bool, limit: int | None,
          quiet: bool) -> None:
    """Train the recipe's `train:` configurations (R2D: SFT + Contrastive Pivot Optimization).

    Each configuration becomes a row of `training_runs` in the results database, with its
    step metrics, held-out pivot accuracy and exported checkpoint. An interrupted
    configuration continues from its last saved state when the command is run again.
    """
    from r2d_sdk.recipe import load_recipe
    from r2d_sdk.train import process_state, run_training

    if limit is not None and not then_run:
        raise click.UsageError("--limit applies to the evaluation: add --run (or use `r2d-sdk run --limit`)")
    from r2d_sdk.run import apply_overrides, build_grid

    loaded = apply_overrides(load_recipe(recipe), limit)
    # A bad evaluation grid fails now, not after the training; the same grid runs afterwards (the
    # r2d defense finds its checkpoint in setup, once training has written it).
    grid = build_grid(loaded) if then_run else None
    state = process_state()
    store = open_store(db, loaded.recipe.database) if state.is_main_process else None
    outcomes = run_training(loaded, store, list(only) or None, force=force, progress=not quiet)
    if not state.is_main_process:
        return
    for outcome in outcomes:
        heldout = outcome.heldout or {}
        figures = ", ".join(f"{key} {heldout[key]:.3f}" for key in ("pivot_acc", "first_pivot_acc", "emit_rate",
                                                                    "answer_acc")
                            if isinstance(heldout.get(key), float))
        recall = heldout.get("answer_recall") or {}
        figures += "".join(f", recall of '{answer.strip()}' {value:.3f}" for answer, value in sorted(recall.items()))
        click.echo(f"{outcome.name}: {outcome.status} (training run {outcome.training_run_id}, {outcome.steps} steps, "
                   f"{outcome.seconds:.0f} s){'; held-out ' + figures if figures else ''}")
        if outcome.checkpoint_path:
            click.echo(f"  checkpoint: {outcome.checkpoint_path}")
    if then_run:
        import asyncio

        from r2d_sdk.cli._console import progress_bar
        from r2d_sdk.report import print_summary
        from r2d_sdk.run import RunOptions, execute

        assert store is not None and grid is not None  # evaluation runs in the main process only
        with progress_bar(quiet) as advance:
            # The limit is stored with the run, so `r2d-sdk run RECIPE --resume` repeats it.
            result = asyncio.run(execute(loaded, grid, store, progress=advance, options=RunOptions(limit=limit)))
        print_summary(result, store)
        failure = result.failure(False)
        if failure is not None:
            raise failure  # printed as `error:` and `fix:`, exit 3, as `r2d-sdk run` does
