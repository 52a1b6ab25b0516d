"""Executors: what runs the grid's cells once `execute` has the run, the cells to do and the writer.

`execute` (the run row, resume, metrics, status) calls one `Executor.run(work)`. Two exist:
`InProcessExecutor`, the worker pool of one process, and `RayExecutor` (`_ray_executor.py`),
which shards the cells over Ray actors. Either way every finished cell reaches `work.writer`
in this process, the one writer to the database.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from r2d_sdk._calls import stage
from r2d_sdk._errors import ConfigError
from r2d_sdk.recipe import RAY_INSTALL, LoadedRecipe, Recipe

if TYPE_CHECKING:
    from r2d_sdk.run._build import Grid
    from r2d_sdk.run._runner import _Unit, _Writer

Cell = tuple[str, str, str, str, str, int]


@dataclass
class Work:
    """One start of a run, as an executor sees it.

    Attributes:
        loaded: the recipe (Ray workers build their own components from it).
        grid: the components built in this process.
        run_id: the run being written.
        units: the (item, target, attack, defense) units to attack, judge and record.
        done: cells already written (a resume skips them).
        writer: where finished cells go (it commits them in batches).
        progress: (advance, total) callback, or None.
        database_url: where the run is stored (Ray workers read the response cache from it).
        run_unit: attacks, answers, judges and records one unit (`_runner._run_unit`): handed
            over rather than imported, so that executors and the runner import no circle.
    """

    loaded: LoadedRecipe
    grid: Grid
    run_id: str
    units: list[_Unit]
    done: set[Cell]
    writer: _Writer
    progress: Callable[[int, int], None] | None
    database_url: str
    run_unit: Callable[[Grid, Any, set[Cell], Any], Awaitable[int]]

    def advance(self, count: int = 1) -> None:
        if self.progress is not None:
            self.progress(count, len(self.units))


class Executor(Protocol):
    """Runs every unit of `work`, handing each finished cell to `work.writer`."""

    async def run(self, work: Work) -> None: ...


class InProcessExecutor:
    """The recipe's `concurrency` asyncio workers in this process (defenses and judges set up first)."""

    async def run(self, work: Work) -> None:
        with stage("setup"):
            await asyncio.gather(*(defense.setup() for defense in work.grid.defenses.values()),
                                 *(judge.setup() for judge in work.grid.judges.values()))
        queue: asyncio.Queue[_Unit] = asyncio.Queue()
        for unit in work.units:
            queue.put_nowait(unit)

        async def worker() -> None:
            while True:
                try:
                    unit = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    await work.run_unit(work.grid, unit, work.done, work.writer)
                except KeyboardInterrupt:  # raised inside a task it would escape the event loop
                    raise asyncio.CancelledError() from None
                work.advance()

        concurrency = work.loaded.recipe.concurrency
        workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, max(1, len(work.units))))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()


def ray_installed() -> bool:
    """True when Ray can be imported (checked without importing it: that takes a second)."""
    return importlib.util.find_spec("ray") is not None


def check_executor(recipe: Recipe) -> None:
    """Fail validation when the recipe asks for Ray and Ray is not installed."""
    if recipe.executor.ray is not None and not ray_installed():
        raise ConfigError("executor.ray (or --ray): the Ray executor needs Ray, which is not installed",
                          fix=RAY_INSTALL)
