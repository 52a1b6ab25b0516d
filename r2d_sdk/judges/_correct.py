"""`r2d-sdk judges correct RUN`: a stored run's rates corrected again, from the newest
calibration of each of its judges (one made after the run, say)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from r2d_sdk._components import Judge
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import build_judges, recorrect_run
from r2d_sdk.store import Store


@dataclass(frozen=True)
class Recorrected:
    run_id: str
    corrected_rows: int


def correct_run(store: Store, run_id: str) -> Recorrected:
    """Recompute the corrected figures of a run's metrics (RUN_ID or 'latest').

    The run's judges are identified from the recipe it stored (`runs.recipe_yaml`), so a judge
    that reads a model named by `${VAR}` needs that variable set as it was for the run.

    Raises:
        R2DError: no such run; ConfigError: its stored recipe no longer validates.
    """
    run = store.get_run(run_id)
    loaded = parse_recipe(run.recipe_yaml, f"the recipe stored with run {run.id}",
                          Path(run.recipe_path) if run.recipe_path else None)
    # A judge whose identity depends on what it loads (a trained judge's checkpoint) is built to ask.
    panel = build_judges(loaded)
    panel.context.store = store
    instruments = {label: judge.instrument() for label, judge in panel.judges.items()
                   if type(judge).instrument is not Judge.instrument}
    return Recorrected(run.id, recorrect_run(store, run.id, loaded, run.recipe_path or "RECIPE", instruments))
