"""The runner: the attack × defense × item grid, concurrent, resumable, written as it goes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from r2d_sdk._calls import CallRecord, collect, orphan_sink, stage
from r2d_sdk._components import Attack, Defense
from r2d_sdk._errors import R2DError
from r2d_sdk._types import AttackPrompt, Behavior, DefenseResult, Judgment, Message
from r2d_sdk.recipe import LoadedRecipe
from r2d_sdk.run._build import Grid
from r2d_sdk.run._executor_choice import executor_for
from r2d_sdk.run._executors import Executor, Work
from r2d_sdk.run._metrics import compute_metrics
from r2d_sdk.store import SampleRecord, Store

FLUSH_SECONDS = 0.25
FLUSH_ROWS = 200


@dataclass
class RunResult:
    """What a finished (or interrupted) run reports.

    Attributes:
        run_id: the run's id in the results database.
        status: completed (an interrupted run raises Interrupted instead).
        samples: sample counts by status (ok, error).
        metrics: the run's MetricRow objects.
        skipped: cells already done before this start (a resume skips them).
        seconds: wall time of this start.
        skipped_components: components left out of the grid, with the reason (e.g. a missing
            optional artifact file).
        database: where the results are (a SQLite path, or the URL without its password).
    """

    run_id: str
    status: str
    samples: dict[str, int]
    metrics: list[Any]
    skipped: int = 0
    seconds: float = 0.0
    skipped_components: list[str] = field(default_factory=list)
    database: str = ""


@dataclass
class _Unit:
    dataset: str
    item: Behavior
    model: str
    attack: str
    defense: str


class Interrupted(R2DError):
    """Ctrl-C: the run is marked interrupted and can be resumed (`run_id` says which)."""

    run_id: str = ""


@dataclass
class _Writer:
    """Buffers finished samples and commits them together, at most FLUSH_SECONDS apart."""

    store: Store
    run_id: str
    buffer: list[SampleRecord] = field(default_factory=list)
    orphans: list[CallRecord] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)

    def add(self, record: SampleRecord) -> None:
        self.buffer.append(record)
        if len(self.buffer) >= FLUSH_ROWS or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        records, self.buffer = self.buffer, []
        orphans, self.orphans = self.orphans, []
        self.store.write_samples(self.run_id, records)
        self.store.write_orphan_calls(self.run_id, orphans)
        if not records:
            self.store.responses.flush()
        self.last_flush = time.monotonic()


def _defended(defense: Defense) -> Callable[[list[Message]], Any]:
    async def target(messages: list[Message]) -> DefenseResult:
        return await defense.respond(messages)

    return target


async def _judge_all(grid: Grid, item: Behavior, prompt: str, response: str) -> list[tuple[str, Judgment]]:
    async def one(label: str) -> tuple[str, Judgment]:
        judge = grid.judges[label]
        try:
            with stage("judge"):
                return label, await judge.judge(item, prompt, response)
        except Exception as error:  # a judge that raises still yields an honest error row
            return label, Judgment.failed(f"{type(error).__name__}: {error}")

    return list(await asyncio.gather(*(one(label) for label in grid.judges)))


class SampleSink(Protocol):
    """Where `_run_unit` puts each finished cell: the writer here, a list on a Ray worker."""

    def add(self, record: SampleRecord) -> None: ...


async def _run_unit(grid: Grid, unit: _Unit, done: set[tuple[Any, ...]], writer: SampleSink) -> int:
    """Attack one item, answer each prompt through the defense, judge, record. Returns cells written."""
    attack: Attack = grid.attacks[unit.attack]
    defense = grid.defenses[(unit.model, unit.defense)]
    model = grid.context.models[unit.model]
    with collect() as attack_calls, stage("attack"):
        try:
            prompts: list[AttackPrompt] = await attack.prompts(unit.item, _defended(defense))
            attack_error = None
        except Exception as error:
            prompts, attack_error = [AttackPrompt([{"role": "user", "content": unit.item.goal}])], error
    written = 0
    pending_attack_calls = list(attack_calls)  # go with the first cell written (index 0 may be done)
    for index, prompt in enumerate(prompts):
        cell = (unit.dataset, unit.item.id, unit.model, unit.attack, unit.defense, index)
        if cell in done:
            continue
        record = SampleRecord(
            dataset=unit.dataset, item_id=unit.item.id, item_label=unit.item.label or None,
            category=unit.item.category or None, goal=unit.item.goal, model=unit.model, model_id=model.model_id,
            attack=unit.attack, defense=unit.defense, prompt_index=index, prompt=prompt.text,
            messages=[dict(m) for m in prompt.messages], response=None, attack_info=dict(prompt.info),
        )
        with collect() as calls:
            if attack_error is not None:
                record.status, record.error = "error", f"attack failed: {type(attack_error).__name__}: {attack_error}"
            else:
                started = time.perf_counter()
                try:
                    with stage("defense"):
                        result = await defense.respond(list(prompt.messages))
                    record.response, record.blocked = result.response, result.blocked
                    record.reasoning, record.defense_info = result.reasoning, dict(result.info)
                except Exception as error:  # the model call or the defense failed: its own status
                    record.status, record.error = "error", f"{type(error).__name__}: {error}"
                record.latency_ms = (time.perf_counter() - started) * 1000
            if record.status == "ok":
                record.judgments = await _judge_all(grid, unit.item, prompt.text, record.response or "")
            else:
                record.judgments = [(label, Judgment.failed(f"no response to judge: {record.error}"))
                                    for label in grid.judges]
        defense_model_ms = sum(c.latency_ms for c in calls if c.stage == "defense")
        record.defense_latency_ms = max(0.0, record.latency_ms - defense_model_ms)
        record.calls, pending_attack_calls = pending_attack_calls + calls, []
        writer.add(record)
        written += 1
    return written


def _units(grid: Grid) -> Iterator[_Unit]:
    for dataset, items in grid.items.items():
        for item in items:
            for model in grid.targets:
                for attack in grid.attacks:
                    for defense in {d for (m, d) in grid.defenses if m == model}:
                        yield _Unit(dataset, item, model, attack, defense)


def _ordered_units(grid: Grid) -> list[_Unit]:
    # Keep the recipe's defense order (sets above lose it) so progress and output read naturally.
    order = list(dict.fromkeys(d for (_, d) in grid.defenses))
    return sorted(_units(grid), key=lambda u: (u.dataset, u.model, u.attack, order.index(u.defense)))


def _attack_applies(recipe: Any, unit: _Unit) -> bool:
    """An attack with `datasets:` runs only on those datasets (e.g. JBB artifacts, not XSTest)."""
    spec = next((s for s in recipe.attacks if s.key == unit.attack), None)
    return spec is None or spec.datasets is None or unit.dataset in spec.datasets


async def execute(loaded: LoadedRecipe, grid: Grid, store: Store, resume: str | None = None,
                  progress: Any = None, executor: Executor | None = None) -> RunResult:
    """Run (or resume) a built grid against a store. `progress` gets (advance, total) callbacks;
    `executor` runs the cells (default: the one the recipe's `executor:` names).

    `grid` comes from `build_grid(loaded)`: the recipe is validated and built once, before the
    store is opened, so a bad recipe writes nothing.
    """
    recipe = loaded.recipe
    started = time.monotonic()
    if not recipe.datasets:  # a train- or distill-only recipe has nothing to evaluate
        raise R2DError(f"{loaded.path or 'the recipe'} has no `datasets:`: there is nothing to evaluate",
                       fix="add datasets and judges, or use `r2d-sdk train` / `r2d-sdk distill` for this recipe")
    if resume:
        # 'latest' means the newest run of this recipe, not whatever ran last in the database.
        run = store.get_run(resume, loaded.hash if resume == "latest" else None)
        if run.recipe_hash != loaded.hash:
            raise R2DError(f"run {run.id} was made from a different recipe (the file changed since)",
                           fix="start a new run without --resume, or restore the recipe as it was")
        if run.status == "completed":
            raise R2DError(f"run {run.id} is already complete", fix="start a new run without --resume")
        run_id = run.id
        store.set_status(run_id, "running")
    else:
        path = str(loaded.path) if loaded.path else None
        run_id = store.create_run(recipe.name, loaded.text, loaded.hash, recipe.seed, path)
    grid.attach(store, run_id)
    done = store.done_cells(run_id)
    writer = _Writer(store, run_id)
    units = [unit for unit in _ordered_units(grid) if _attack_applies(recipe, unit)]
    if progress is not None:
        progress(0, len(units))
    work = Work(loaded, grid, run_id, units, done, writer, progress, store.url, _run_unit)
    status = "completed"
    with orphan_sink(writer.orphans.append):  # this run's calls outside a sample (setup, calibration)
        try:
            await (executor or executor_for(recipe)).run(work)  # in this process, or on Ray
        except (asyncio.CancelledError, KeyboardInterrupt):
            status = "interrupted"
        except BaseException as error:
            writer.flush()
            store.set_status(run_id, "failed", f"{type(error).__name__}: {error}")
            raise
    writer.flush()
    store.replace_metrics(run_id, compute_metrics(grid.metrics, store.judgment_groups(run_id)))
    store.set_status(run_id, status)
    result = RunResult(run_id, status, store.sample_count(run_id), store.metrics(run_id), len(done),
                       time.monotonic() - started, list(grid.skipped), store.sqlite_path or store.display_url)
    if status == "interrupted":
        interrupted = Interrupted(f"run {run_id} interrupted; {sum(result.samples.values())} samples are saved",
                                  fix=f"r2d-sdk run {loaded.path or 'RECIPE'} --resume {run_id}", exit_code=130)
        interrupted.run_id = run_id
        raise interrupted
    return result
