"""The runner: the attack × defense × item grid, concurrent, resumable, written as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
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
from r2d_sdk.run._corrections import correct_metrics
from r2d_sdk.run._executor_choice import executor_for
from r2d_sdk.run._executors import Executor, Work
from r2d_sdk.run._judging import judge_safely
from r2d_sdk.run._metrics import compute_metrics
from r2d_sdk.run._resume import RunOptions, resume_command, run_to_resume
from r2d_sdk.store import Heartbeat, SampleRecord, Store

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
        errors: samples that ended in error (no response: the model call or the defense failed).
        judge_errors: judgments that failed on answered samples (the judge itself failed).
        scored: judgments that scored, i.e. entered a metric.
        first_error: the first failed sample's error (else the first failed judgment's).
        options: the overrides the run was started with (a resume applies them again).
    """

    run_id: str
    status: str
    samples: dict[str, int]
    metrics: list[Any]
    skipped: int = 0
    seconds: float = 0.0
    skipped_components: list[str] = field(default_factory=list)
    database: str = ""
    errors: int = 0
    judge_errors: int = 0
    scored: int = 0
    first_error: str | None = None
    options: RunOptions = field(default_factory=RunOptions)

    def failure(self, allow_errors: bool = False) -> R2DError | None:
        """The error `r2d-sdk run` exits with (code 3) when samples or judgments failed, else None.

        With `allow_errors`, only a run in which nothing scored fails: there is no figure to report.
        """
        if not self.errors and not self.judge_errors:
            return None
        if allow_errors and self.scored:
            return None
        total = sum(self.samples.values())
        parts = [f"{self.errors} of {total} samples failed"] if self.errors else []
        if self.judge_errors:
            parts.append(f"{self.judge_errors} judgments of answered samples failed")
        nothing = "; nothing was scored" if not self.scored else ""
        # A stored error may carry its own fix (an R2DError's text): that fix comes first.
        first, _, first_fix = (self.first_error or "").partition("\n  fix: ")
        query = (f"r2d-sdk sql \"SELECT error, COUNT(*) FROM samples WHERE run_id = '{self.run_id}' AND status = "
                 f"'error' GROUP BY error\"" + (f" --db {shlex.quote(self.database)}" if self.database and
                                                 "://" not in self.database else ""))
        fix = (f"{first_fix + '; ' if first_fix else ''}see every error with {query}; then start a new run (a resume "
               f"keeps failed samples as they are)"
               + ("" if allow_errors else ", or pass --allow-errors to accept a partly failed run"))
        return R2DError(f"run {self.run_id}: {' and '.join(parts)}{nothing}; the first: {first}", fix=fix, exit_code=3)


@dataclass
class _Unit:
    dataset: str
    item: Behavior
    model: str
    attack: str
    defense: str


class Interrupted(R2DError):
    """Ctrl-C: the run is marked interrupted and can be resumed (`run_id` says which; `options`
    are the overrides it started with, which `resume_command` repeats)."""

    run_id: str = ""
    options: RunOptions = RunOptions()

    def resume_command(self, recipe: str, db: str | None = None) -> str:
        """The command that resumes this run as it was started."""
        return resume_command(recipe, self.run_id or "latest", self.options, db)


@dataclass
class _Writer:
    """Buffers finished samples and commits them together, at most FLUSH_SECONDS apart."""

    store: Store
    run_id: str
    heartbeat: Heartbeat | None = None
    buffer: list[SampleRecord] = field(default_factory=list)
    orphans: list[CallRecord] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)

    def add(self, record: SampleRecord) -> None:
        # Whatever executor produced it: another process runs this run now, writing on would
        # duplicate its cells.
        if self.heartbeat is not None and self.heartbeat.lost:
            raise R2DError(self.heartbeat.lost, fix=f"`r2d-sdk runs show {self.run_id}` shows who runs it now")
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
        return label, await judge_safely(grid.judges[label], item, prompt, response)

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
                  progress: Any = None, options: RunOptions | None = None,
                  executor: Executor | None = None) -> RunResult:
    """Run (or resume) a built grid against a store. `progress` gets (advance, total) callbacks;
    `executor` runs the cells (default: the one the recipe's `executor:` names).

    `grid` comes from `build_grid(loaded)`: the recipe is validated and built once, before the
    store is opened, so a bad recipe writes nothing. `options` are the overrides the grid was
    built with (`apply_overrides`), stored with the run so a resume repeats them; None when
    unknown. A resume takes the run's lease (refused while another process runs it), and the
    lease is kept fresh until the run ends.

    Raises:
        R2DError: the run to resume is refused, or another process took it over meanwhile.
        Interrupted: Ctrl-C or cancellation; what finished is saved.
    """
    recipe = loaded.recipe
    started = time.monotonic()
    if not recipe.datasets:  # a train- or distill-only recipe has nothing to evaluate
        raise R2DError(f"{loaded.path or 'the recipe'} has no `datasets:`: there is nothing to evaluate",
                       fix="add datasets and judges, or use `r2d-sdk train` / `r2d-sdk distill` for this recipe")
    overrides = options.as_json() if options is not None else None
    if resume:
        run = store.claim_run(run_to_resume(store, loaded, resume).id, overrides)
        run_id = run.id
        options = RunOptions.from_json(run.overrides_json)
    else:
        path = str(loaded.path) if loaded.path else None
        run_id = store.create_run(recipe.name, loaded.text, loaded.hash, recipe.seed, path, overrides=overrides)
        options = options or RunOptions()
    grid.attach(store, run_id)
    with Heartbeat(store, run_id) as heartbeat:
        done = store.done_cells(run_id)
        status = await _walk(loaded, grid, store, run_id, done, heartbeat, progress, executor)
    if not store.finish_run(run_id, status):
        raise R2DError(heartbeat.lost or f"run {run_id} was taken over by another process while this one ran it",
                       fix=f"`r2d-sdk runs show {run_id}` shows who runs it now")
    errors = store.error_summary(run_id)
    result = RunResult(run_id, status, store.sample_count(run_id), store.metrics(run_id), len(done),
                       time.monotonic() - started, list(grid.skipped), store.sqlite_path or store.display_url,
                       errors.failed_samples, errors.failed_judgments, errors.scored_judgments, errors.first_error,
                       options)
    if status == "interrupted":
        command = resume_command(str(loaded.path or "RECIPE"), run_id, options,
                                 store.sqlite_path if store.sqlite_path else None)
        interrupted = Interrupted(f"run {run_id} interrupted; {sum(result.samples.values())} samples are saved",
                                  fix=command, exit_code=130)
        interrupted.run_id, interrupted.options = run_id, options
        raise interrupted
    return result


async def _walk(loaded: LoadedRecipe, grid: Grid, store: Store, run_id: str, done: set[tuple[Any, ...]],
                heartbeat: Heartbeat, progress: Any, executor: Executor | None) -> str:
    """Every unit of the grid not done yet, by the recipe's executor; returns the status
    (completed or interrupted). Metrics are recomputed from the stored rows at the end."""
    recipe = loaded.recipe
    writer = _Writer(store, run_id, heartbeat)
    units = [unit for unit in _ordered_units(grid) if _attack_applies(recipe, unit)]
    if progress is not None:
        progress(0, len(units))
    work = Work(loaded, grid, run_id, units, done, writer, progress, store.url, _run_unit)
    status = "completed"
    with orphan_sink(writer.orphans.append):  # this run's calls outside a sample (setup, calibration)
        try:
            try:
                await (executor or executor_for(recipe)).run(work)  # in this process, or on Ray
            except (asyncio.CancelledError, KeyboardInterrupt):
                status = "interrupted"
            # Inside the try: the last batch can be refused too, and the run must then say it failed.
            writer.flush()
            judgments = store.judgment_groups(run_id)
            rows = compute_metrics(grid.metrics, judgments)
            instruments = {label: judge.instrument() for label, judge in grid.judges.items()}
            fixes = correct_metrics(rows, judgments, loaded, store, instruments=instruments)  # beside each rate
            store.replace_metrics(run_id, [{**row, **fix} for row, fix in zip(rows, fixes, strict=True)])
        except BaseException as error:
            if not heartbeat.lost:  # what finished is kept, unless the run is another process's now
                with contextlib.suppress(R2DError):  # the error being raised says more than a refused write
                    writer.flush()
            store.finish_run(run_id, "failed", f"{type(error).__name__}: {error}")
            raise
    return status
