"""The Ray executor: the grid's units sharded over Ray actors, the driver the one writer.

Each actor (`CellWorker`) builds the recipe's components once (its local models on the GPUs
Ray gives it) and runs the units it is sent with the same `_run_unit` as one process; it
returns the finished cells (`SampleRecord`s with their calls and judgments), the calls made
outside a sample and its new response-cache entries. The driver writes them through the
run's writer, skipping a cell it already has, so a chunk Ray retried after a worker died is
never written twice. Actors read the database (the response cache, training runs) and write
none of the grid (a defense's setup may still link the run to its training run, as in one
process).

Ray does the scheduling and the recovery: a dead actor is restarted (`max_restarts`) and the
tasks it was running are retried on it (`max_task_retries`). Nothing here queues or retries
work itself beyond handing out the next chunk when one finishes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from r2d_sdk._calls import CallRecord, orphan_sink, stage
from r2d_sdk._errors import R2DError
from r2d_sdk._types import ModelOutput
from r2d_sdk.recipe import LoadedRecipe, RaySpec
from r2d_sdk.run._build import build_grid
from r2d_sdk.run._executors import Cell, Work

if TYPE_CHECKING:
    from r2d_sdk.models import ResponseCache
    from r2d_sdk.store import SampleRecord

NAMESPACE = "r2d"  # Ray namespace of the workers: `ray.util.list_named_actors(all_namespaces=True)`
# Environment a worker needs to behave like the driver (data folder, offline switches); API keys
# are already in the recipe the worker is given.
_ENV_PREFIXES = ("R2D_", "HF_", "TRANSFORMERS_", "LITELLM_", "TOKENIZERS_", "OMP_NUM_THREADS")


@dataclass
class ChunkResult:
    """What a worker returns for one chunk of units."""

    records: list[SampleRecord] = field(default_factory=list)
    orphans: list[CallRecord] = field(default_factory=list)
    cache_puts: list[tuple[str, ModelOutput]] = field(default_factory=list)


class _WorkerCache:
    """The response cache on a worker: reads the database's, keeps its own new entries and
    hands them to the driver (which writes them) instead of writing."""

    def __init__(self, table: ResponseCache) -> None:
        self.table = table
        self.new: dict[str, ModelOutput] = {}
        self.outbox: list[tuple[str, ModelOutput]] = []

    def get(self, key: str) -> ModelOutput | None:
        mine = self.new.get(key)
        if mine is not None:
            return ModelOutput(**{**mine.__dict__, "cached": True, "latency_ms": 0.0, "deployment": None})
        return self.table.get(key)

    def put(self, key: str, output: ModelOutput) -> None:
        self.new[key] = output
        self.outbox.append((key, output))

    def drain(self) -> list[tuple[str, ModelOutput]]:
        out, self.outbox = self.outbox, []
        return out


class CellWorker:
    """A Ray actor: the recipe's components built once, units run concurrently, cells returned."""

    def __init__(self, loaded: LoadedRecipe, database_url: str, run_id: str, concurrency: int,
                 run_unit: Callable[..., Any], cwd: str, env: dict[str, str]) -> None:
        os.environ.update(env)
        if os.path.isdir(cwd):  # relative paths in the recipe mean what they mean on the driver
            os.chdir(cwd)
        from r2d_sdk.store import Store

        self.grid = build_grid(loaded)
        self.store = Store(database_url, migrate=False)  # read: the response cache, training runs
        self.grid.attach(self.store, run_id)
        self.cache = _WorkerCache(self.store.responses)
        for model in self.grid.models.values():
            model.cache = self.cache
        self.concurrency = concurrency
        self.run_unit = run_unit
        self.orphans: list[CallRecord] = []
        self._setup: asyncio.Future[Any] | None = None
        self._slots: asyncio.Semaphore | None = None

    async def _ready(self) -> None:
        # Once per actor life: a restarted actor sets up again on its first chunk.
        if self._setup is None:
            self._setup = asyncio.ensure_future(self._set_up())
        await asyncio.shield(self._setup)

    async def _set_up(self) -> None:
        with orphan_sink(self.orphans.append), stage("setup"):
            await asyncio.gather(*(defense.setup() for defense in self.grid.defenses.values()),
                                 *(judge.setup() for judge in self.grid.judges.values()))

    async def start(self) -> dict[str, Any]:
        """Set up the defenses (load local models) and import LiteLLM, so that a worker is ready
        when this returns and start-up is not counted as the cells' time; says where it runs."""
        from r2d_sdk._network import import_litellm

        import_litellm()
        await self._ready()
        return {"pid": os.getpid(), "host": os.uname().nodename}

    async def run(self, units: list[Any], done: set[Cell]) -> ChunkResult:
        """Run the units (their cells in `done` are skipped) and return what they produced."""
        await self._ready()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        slots = self._slots
        records: list[SampleRecord] = []

        class _Sink:
            def add(self, record: SampleRecord) -> None:
                records.append(record)

        async def one(unit: Any) -> None:
            async with slots:
                with orphan_sink(self.orphans.append):
                    await self.run_unit(self.grid, unit, done, _Sink())

        await asyncio.gather(*(one(unit) for unit in units))
        orphans, self.orphans = self.orphans, []
        return ChunkResult(records, orphans, self.cache.drain())


def _unit_key(unit: Any) -> tuple[str, str, str, str, str]:
    return (unit.dataset, unit.item.id, unit.model, unit.attack, unit.defense)


def _chunks(units: Iterable[Any], size: int) -> deque[list[Any]]:
    units = list(units)
    return deque(units[i:i + size] for i in range(0, len(units), size))


class RayExecutor:
    """Runs the cells on `spec.workers` Ray actors (`executor: {ray: ...}` or `--ray`).

    Attributes:
        startup_seconds: connecting to (or starting) Ray and starting the workers, with their
            components and defenses set up; measured apart from the cells' time.
        workers: where each worker started (`pid`, `host`), in start order.
    """

    def __init__(self, spec: RaySpec) -> None:
        self.spec = spec
        self.startup_seconds = 0.0
        self.workers: list[dict[str, Any]] = []

    async def run(self, work: Work) -> None:
        if not work.units:  # nothing left to do (a resumed, finished grid): no cluster needed
            return
        import ray

        started = time.monotonic()
        started_ray = self._connect(ray)
        actors: list[Any] = []
        try:
            actors = self._create(ray, work)
            await self._wait_started(ray, actors)
            self.startup_seconds = time.monotonic() - started
            await self._drive(ray, work, actors)
        finally:
            for actor in actors:  # stop them (and free their GPUs) on success, error or Ctrl-C
                ray.kill(actor, no_restart=True)
            if started_ray:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join the running Ray (this process's, or `address`), else start a local one; True if started here."""
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.spec.address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = self.spec.address or "this machine"
            raise R2DError(f"could not reach a Ray cluster at {where}: {error}",
                           fix="start one (`ray start --head` on the head node), or leave out "
                               "`executor.ray.address` to start a local Ray") from None
        return True

    def _create(self, ray: Any, work: Work) -> list[Any]:
        spec = self.spec
        per_worker = max(1, math.ceil(work.loaded.recipe.concurrency / spec.workers))
        env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}
        worker = ray.remote(CellWorker)
        return [worker.options(name=f"r2d-{work.run_id}-{index}", namespace=NAMESPACE, num_cpus=spec.num_cpus,
                               num_gpus=spec.num_gpus, max_restarts=spec.max_restarts,
                               max_task_retries=spec.max_task_retries)
                .remote(work.loaded, work.database_url, work.run_id, per_worker, work.run_unit, os.getcwd(), env)
                for index in range(spec.workers)]

    async def _wait_started(self, ray: Any, actors: list[Any]) -> None:
        try:
            async with asyncio.timeout(self.spec.start_timeout):
                self.workers = list(await asyncio.gather(*(asyncio.wrap_future(a.start.remote().future())
                                                           for a in actors)))
        except TimeoutError:
            raise R2DError(f"{len(actors)} Ray workers (num_cpus={self.spec.num_cpus:g}, "
                           f"num_gpus={self.spec.num_gpus:g} each) did not start within "
                           f"{self.spec.start_timeout:g} s; the cluster has {ray.cluster_resources()}",
                           fix="lower executor.ray.workers or num_gpus/num_cpus, add nodes, or raise "
                               "executor.ray.start_timeout") from None
        except ray.exceptions.RayActorError as error:
            raise R2DError(f"a Ray worker could not start: {error}",
                           fix="the error above comes from building the recipe on the worker: the same "
                               "files, packages and database must be reachable from every node") from None

    async def _drive(self, ray: Any, work: Work, actors: list[Any]) -> None:
        per_worker = max(1, math.ceil(work.loaded.recipe.concurrency / len(actors)))
        size = self.spec.chunk_size or max(1, per_worker // 4)
        depth = max(2, math.ceil(2 * per_worker / size))  # chunks in flight per worker: twice what it runs
        chunks = _chunks(work.units, size)
        done_by_unit: dict[tuple[str, ...], set[Cell]] = {}
        for cell in work.done:
            done_by_unit.setdefault(cell[:5], set()).add(cell)
        written = set(work.done)
        in_flight: dict[asyncio.Future[Any], tuple[int, list[Any]]] = {}

        def submit(index: int) -> None:
            units = chunks.popleft()
            done = {c for unit in units for c in done_by_unit.get(_unit_key(unit), ())}
            future = asyncio.wrap_future(actors[index].run.remote(units, done).future())
            in_flight[future] = (index, units)

        for index in range(len(actors)):
            for _ in range(depth):
                if chunks:
                    submit(index)
        try:
            while in_flight:
                finished, _ = await asyncio.wait(in_flight, timeout=self.spec.stall_timeout,
                                                 return_when=asyncio.FIRST_COMPLETED)
                if not finished:  # e.g. a dead worker Ray cannot place again: its cells would wait forever
                    raise R2DError(f"no cell finished for {self.spec.stall_timeout:g} s on Ray "
                                   f"(the cluster has {ray.available_resources()} free)",
                                   fix="check `ray status` and the workers' logs (/tmp/ray/session_latest/logs), "
                                       "then resume the run (--resume RUN_ID); raise executor.ray.stall_timeout "
                                       "for cells that rightly take longer")
                for future in finished:
                    index, units = in_flight.pop(future)
                    self._take(work, self._result(ray, future), written)
                    work.advance(len(units))
                    if chunks:
                        submit(index)
        finally:
            for future in in_flight:
                future.cancel()

    def _result(self, ray: Any, future: asyncio.Future[Any]) -> ChunkResult:
        try:
            return future.result()  # type: ignore[no-any-return]
        except ray.exceptions.RayTaskError as error:  # the cells' own code raised: as in one process
            raise error.as_instanceof_cause() from None
        except ray.exceptions.RayActorError as error:
            raise R2DError(f"a Ray worker died more often than executor.ray.max_restarts="
                           f"{self.spec.max_restarts} allows: {error}",
                           fix="the cells written so far are kept: resume the run (--resume RUN_ID), "
                               "after checking the workers' logs (/tmp/ray/session_latest/logs)") from None

    @staticmethod
    def _take(work: Work, result: ChunkResult, written: set[Cell]) -> None:
        """Write a chunk's cells (each once), its outside-a-sample calls and cache entries."""
        for record in result.records:
            if record.cell in written:  # never a second time (Ray delivers a chunk's result once anyway)
                continue
            written.add(record.cell)
            work.writer.add(record)
        work.writer.orphans.extend(result.orphans)
        for key, output in result.cache_puts:
            work.writer.store.responses.put(key, output)
