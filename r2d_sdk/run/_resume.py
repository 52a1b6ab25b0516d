"""What a run started with, and finding the run a `--resume` means.

A run stores its command-line overrides (`--limit`, `--concurrency`): `--resume` applies them
again, refuses a different `--limit` (it would change which items the run covers), and the
printed resume command repeats them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from r2d_sdk._errors import ConfigError, R2DError
from r2d_sdk.recipe import LoadedRecipe


@dataclass(frozen=True)
class RunOptions:
    """The overrides a run was started with (None: not given).

    Attributes:
        limit: `--limit N`, the first N items of each dataset.
        concurrency: `--concurrency N`.
    """

    limit: int | None = None
    concurrency: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("limit", self.limit), ("concurrency", self.concurrency)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}",
                                  fix=f"give --{name} 1 or more, or leave it out")

    def as_json(self) -> dict[str, int]:
        """What `runs.overrides_json` holds: only the options given."""
        return {key: value for key, value in (("limit", self.limit), ("concurrency", self.concurrency))
                if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RunOptions:
        data = data or {}
        return cls(limit=data.get("limit"), concurrency=data.get("concurrency"))

    def args(self) -> list[str]:
        """As command-line arguments."""
        return [part for key, value in (("--limit", self.limit), ("--concurrency", self.concurrency))
                if value is not None for part in (key, str(value))]


def resume_command(recipe: str, run_id: str, options: RunOptions, db: str | None = None) -> str:
    """The shell command that resumes a run as it was started."""
    words = ["r2d-sdk", "run", recipe, "--resume", run_id, *options.args(), *(["--db", db] if db else [])]
    return shlex.join(words)


def run_to_resume(store: Any, loaded: LoadedRecipe, resume: str) -> Any:
    """The run `--resume ID|latest` names, if this recipe may resume it.

    'latest' is the newest evaluation run of this recipe as it is now (its hash). Refused: a
    run made from another recipe text, and a completed run.
    """
    if resume == "latest":
        run = store.newest_run(recipe_hash=loaded.hash)
        if run is None:
            raise _no_run_of_this_recipe(store, loaded)
    else:
        run = store.get_run(resume)
    if run.recipe_hash != loaded.hash:
        raise R2DError(f"run {run.id} was made from a different recipe (the file changed since)",
                       fix=f"start a new run without --resume, or restore the recipe as it was ({_stored_recipe(run.id)})")
    if run.status == "completed":
        raise R2DError(f"run {run.id} is already complete", fix="start a new run without --resume")
    return run


def resumed_options(run: Any, limit: int | None, concurrency: int | None) -> RunOptions:
    """The options a resume runs with: the run's own, a new `--concurrency` if given.

    Raises:
        ConfigError: `limit` differs from the run's (a run from before overrides were stored
            takes the one given).
    """
    if run.overrides_json is None:
        return RunOptions(limit, concurrency)
    stored = RunOptions.from_json(run.overrides_json)
    if limit is not None and limit != stored.limit:
        started = f"--limit {stored.limit}" if stored.limit is not None else "no --limit (every item)"
        raise ConfigError(f"run {run.id} was started with {started}; resuming it with --limit {limit} would change "
                          f"which items it covers",
                          fix=f"resume without --limit (the run's own applies), or start a new run with --limit "
                              f"{limit} (without --resume)")
    return RunOptions(stored.limit, concurrency if concurrency is not None else stored.concurrency)


def _no_run_of_this_recipe(store: Any, loaded: LoadedRecipe) -> R2DError:
    """No run has this recipe's hash: say whether the recipe changed since one of its runs."""
    path = str(loaded.path) if loaded.path else None
    earlier = (store.newest_run(recipe_path=path) if path else None) or store.newest_run(name=loaded.recipe.name)
    if earlier is None:
        return R2DError(f"no run of this recipe in {store.display_url}",
                        fix="start it without --resume; `r2d-sdk runs list` shows the runs stored there")
    where = path or f"the recipe '{loaded.recipe.name}'"
    started = f"{earlier.started_at:%Y-%m-%d %H:%M:%S} UTC"
    if earlier.status == "completed":
        fix = f"start a new run without --resume (run {earlier.id} is complete)"
    else:
        fix = (f"to finish run {earlier.id}, restore the recipe as it was ({_stored_recipe(earlier.id)}) and resume "
               f"again; or start a new run without --resume")
    return R2DError(f"{where} changed since its newest run, {earlier.id} ({earlier.status}, started {started}): "
                    f"--resume latest only resumes a run of the recipe as it is now", fix=fix)


def _stored_recipe(run_id: str) -> str:
    return f"`r2d-sdk sql \"SELECT recipe_yaml FROM runs WHERE id = '{run_id}'\"` prints it"
