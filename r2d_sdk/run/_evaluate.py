"""`r2d_sdk.evaluate`: run a recipe from Python, as `r2d-sdk run` does from the shell.

    import r2d_sdk
    result = r2d_sdk.evaluate("recipes/jbb.yaml", db="results.db", limit=10)
    print(result.run_id, result.samples)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from r2d_sdk.recipe import LoadedRecipe, Recipe, load_recipe, parse_recipe
from r2d_sdk.run._build import build_grid
from r2d_sdk.run._resume import RunOptions, resumed_options, run_to_resume
from r2d_sdk.run._runner import RunResult, execute

if TYPE_CHECKING:
    from r2d_sdk.store import Store

RecipeSource = str | Path | Recipe | LoadedRecipe


def load_any(recipe: RecipeSource) -> LoadedRecipe:
    """A recipe from a file path, YAML text, a `Recipe` or a `LoadedRecipe`.

    A `str` is a path when it has no line break and names an existing file or ends in
    .yaml/.yml; anything else is YAML text.
    """
    if isinstance(recipe, LoadedRecipe):
        return recipe
    if isinstance(recipe, Recipe):
        # Stored as YAML like a file would be, so the run row holds a recipe that can be re-run.
        text = yaml.safe_dump(recipe.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
        return parse_recipe(text, "<recipe object>")
    if isinstance(recipe, Path):
        return load_recipe(recipe)
    if "\n" not in recipe and (Path(recipe).expanduser().is_file() or recipe.endswith((".yaml", ".yml"))):
        return load_recipe(recipe)
    return parse_recipe(recipe, "<recipe text>")


def apply_overrides(loaded: LoadedRecipe, limit: int | None = None, concurrency: int | None = None,
                    ray: str | None = None) -> LoadedRecipe:
    """`--limit N` (the first N items of each dataset), `--concurrency` and `--ray [ADDRESS]`
    (`ray=""`: the recipe's Ray settings, else a local Ray), on the loaded recipe."""
    if ray is not None:
        from r2d_sdk.recipe import RaySpec

        ray_spec = loaded.recipe.executor.ray or RaySpec()
        loaded.recipe.executor.ray = ray_spec.model_copy(update={"address": ray}) if ray else ray_spec
    if limit is not None:
        for spec in loaded.recipe.datasets:
            spec.limit = min(spec.limit or limit, limit)
    if concurrency is not None:
        loaded.recipe.concurrency = concurrency
    return loaded


async def evaluate_async(recipe: RecipeSource, db: str | Store | None = None, *, resume: str | None = None,
                         limit: int | None = None, concurrency: int | None = None,
                         progress: Callable[[int, int], None] | None = None) -> RunResult:
    """`evaluate`, for code already inside an event loop."""
    from r2d_sdk.store import Store, open_store

    source = load_any(recipe)
    # The overrides go on a copy: the caller's recipe object stays as it was written.
    loaded = LoadedRecipe(source.recipe.model_copy(deep=True), source.text, source.path)
    given = db if isinstance(db, Store) else None
    url = None if db is None or isinstance(db, Store) else str(db)  # a str, or a Path given anyway
    store = given
    try:
        options = RunOptions(limit, concurrency)
        if resume:
            # The run's own --limit decides which items the grid holds, so the run is read before
            # the build; a resume needs the database to exist already (nothing is created).
            store = store or open_store(url, loaded.recipe.database, must_exist=True)
            run = run_to_resume(store, loaded, resume)
            options, resume = resumed_options(run, limit, concurrency), run.id
        apply_overrides(loaded, options.limit, options.concurrency)
        grid = build_grid(loaded)  # a bad recipe fails here, before a new database is even created
        store = store or open_store(url, loaded.recipe.database)
        return await execute(loaded, grid, store, resume=resume, progress=progress, options=options)
    finally:
        if store is not None and given is None:
            store.close()


def evaluate(recipe: RecipeSource, db: str | Store | None = None, *, resume: str | None = None,
             limit: int | None = None, concurrency: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Run (or resume) a recipe's grid and store everything in the results database.

    Args:
        recipe: a recipe file path, YAML text, a `Recipe` or a `LoadedRecipe`.
        db: a SQLite path, a database URL or an open `Store` (default: R2D_DATABASE_URL, the
            recipe's `database:`, ./r2d-results.db).
        resume: a run id (or 'latest': the newest run of this recipe) to finish instead of
            starting a new run. It runs with the run's own `limit` and `concurrency` unless
            others are given; a different `limit` is refused.
        limit: use only the first N items of each dataset (stored with the run).
        concurrency: override the recipe's concurrency (stored with the run).
        progress: called with (advance, total) as cells finish.

    Returns:
        The run's id, status, sample counts and metrics, and what ended in error: `errors`,
        `judge_errors`, `first_error` (failed samples never raise; `result.failure()` is the
        error `r2d-sdk run` exits with).

    Raises:
        ConfigError: the recipe is invalid, or `limit` differs from the resumed run's (nothing
            is written).
        R2DError: the run to resume does not exist, is complete, was made from another recipe,
            or is still running in another process; or no database exists to resume in.
        Interrupted: Ctrl-C; the run is saved and `resume` finishes it.

    Inside a running event loop (a notebook), the run goes to a worker thread with its own loop;
    `await evaluate_async(...)` avoids the thread.
    """
    work = evaluate_async(recipe, db, resume=resume, limit=limit, concurrency=concurrency, progress=progress)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()  # type: ignore[arg-type]


def validate(recipe: RecipeSource, limit: int | None = None) -> Any:
    """Build a recipe's grid without running it or writing anything; returns the `Grid`."""
    return build_grid(apply_overrides(load_any(recipe), limit))
