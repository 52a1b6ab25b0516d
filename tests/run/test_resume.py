"""Interrupt a run (task cancelled, or Ctrl-C inside a model call) and resume it: every cell exactly once,
with the options it started with; a run another process is running is refused, a dead one taken over."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from r2d_sdk import ConfigError, R2DError
from r2d_sdk.models import Model
from r2d_sdk.recipe import LoadedRecipe, load_recipe
from r2d_sdk.run import Interrupted, evaluate_async
from r2d_sdk.store import ModelCall, Run, Sample, Store

CELLS = 12 * 2  # 12 items × direct × (none, self-reminder)


def _cells(store: Store, run_id: str) -> dict[tuple[Any, ...], int]:
    cell = (Sample.dataset, Sample.item_id, Sample.model, Sample.attack, Sample.defense, Sample.prompt_index)
    with store.engine.connect() as connection:
        rows = connection.execute(select(*cell, func.count()).where(Sample.run_id == run_id).group_by(*cell))
        return {tuple(row[:-1]): row[-1] for row in rows}


def _defense_calls_per_sample(store: Store, run_id: str) -> list[int]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(func.count(ModelCall.id)).select_from(Sample)
                                  .join(ModelCall, ModelCall.sample_id == Sample.id, isouter=True)
                                  .where(Sample.run_id == run_id, ModelCall.stage == "defense").group_by(Sample.id))
        return [n for (n,) in rows]


async def _run_and_cancel_after(loaded: LoadedRecipe, store: Store, cells: int, **options: Any) -> Interrupted:
    task: asyncio.Task[Any] | None = None
    advanced = 0

    def progress(step: int, total: int) -> None:
        nonlocal advanced
        advanced += step
        if advanced >= cells and task is not None and not task.cancelling():
            task.cancel()

    task = asyncio.ensure_future(evaluate_async(loaded, store, progress=progress, **options))
    with pytest.raises(Interrupted) as raised:
        await task
    return raised.value


async def test_cancelled_run_is_marked_interrupted_and_resume_finishes_it(
        make_recipe: Callable[..., LoadedRecipe], tmp_path: Any) -> None:
    loaded = make_recipe(items=12, delay=0.02, concurrency=2)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    interrupted = await _run_and_cancel_after(loaded, store, cells=5)
    run_id = interrupted.run_id
    assert interrupted.exit_code == 130 and f"--resume {run_id}" in (interrupted.fix or "")
    assert store.get_run(run_id).status == "interrupted"
    before = _cells(store, run_id)
    assert 5 <= len(before) < CELLS
    with store.engine.connect() as connection:
        kept_ids = set(connection.execute(select(Sample.id).where(Sample.run_id == run_id)).scalars())

    result = await evaluate_async(loaded, store, resume=run_id)
    assert result.status == "completed" and result.run_id == run_id
    assert result.skipped == len(before)  # those cells were not run again
    after = _cells(store, run_id)
    assert len(after) == CELLS and set(after.values()) == {1}
    assert result.samples == {"ok": CELLS}
    with store.engine.connect() as connection:
        assert kept_ids <= set(connection.execute(select(Sample.id).where(Sample.run_id == run_id)).scalars())
    assert _defense_calls_per_sample(store, run_id) == [1] * CELLS  # nothing recorded twice
    assert store.get_run(run_id).status == "completed"
    asr = [m for m in result.metrics if m.metric == "asr"]
    assert sorted(m.defense for m in asr) == ["none", "self-reminder"] and all(m.n == 12 for m in asr)


async def test_ctrl_c_inside_a_model_call_then_resume_latest(
        make_recipe: Callable[..., LoadedRecipe], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = make_recipe(items=12, concurrency=2)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    original = Model._call_litellm
    calls = 0

    async def interrupted_on_the_seventh_call(self: Model, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 7:
            raise KeyboardInterrupt
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Model, "_call_litellm", interrupted_on_the_seventh_call)
    with pytest.raises(Interrupted) as raised:
        await evaluate_async(loaded, store)
    run_id = raised.value.run_id
    assert store.get_run(run_id).status == "interrupted"
    assert 0 < len(_cells(store, run_id)) < CELLS

    other = make_recipe(items=3, name="other.yaml", response="Other.")  # a newer run of another recipe
    await evaluate_async(other, store)
    result = await evaluate_async(loaded, store, resume="latest")  # the newest run *of this recipe*
    assert result.run_id == run_id and result.status == "completed"
    cells = _cells(store, run_id)
    assert len(cells) == CELLS and set(cells.values()) == {1}


async def test_resume_refuses_a_changed_recipe_and_a_finished_run(
        write_recipe: Callable[..., Any], tmp_path: Any) -> None:
    path = write_recipe(items=4, delay=0.02, concurrency=1)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    interrupted = await _run_and_cancel_after(load_recipe(path), store, cells=2)
    path.write_text(path.read_text().replace("limit: 4", "limit: 3"))
    with pytest.raises(R2DError) as raised:
        await evaluate_async(load_recipe(path), store, resume=interrupted.run_id)
    assert "different recipe" in raised.value.message and "without --resume" in (raised.value.fix or "")
    assert store.get_run(interrupted.run_id).status == "interrupted"  # untouched
    path.write_text(path.read_text().replace("limit: 3", "limit: 4"))
    await evaluate_async(load_recipe(path), store, resume="latest")
    with pytest.raises(R2DError, match="already complete"):
        await evaluate_async(load_recipe(path), store, resume=interrupted.run_id)


async def test_resume_runs_with_the_limit_the_run_started_with(make_recipe: Callable[..., LoadedRecipe],
                                                               tmp_path: Any) -> None:
    loaded = make_recipe(items=12, delay=0.02, concurrency=2)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    interrupted = await _run_and_cancel_after(loaded, store, cells=2, limit=5, concurrency=1)
    assert interrupted.options.limit == 5 and interrupted.options.concurrency == 1
    assert f"--resume {interrupted.run_id} --limit 5 --concurrency 1" in (interrupted.fix or "")
    assert store.get_run(interrupted.run_id).overrides_json == {"limit": 5, "concurrency": 1}

    result = await evaluate_async(loaded, store, resume=interrupted.run_id)  # no --limit: the run's own
    assert result.status == "completed" and result.options.limit == 5
    cells = _cells(store, interrupted.run_id)
    assert len(cells) == 5 * 2 and set(cells.values()) == {1}  # 5 items × 2 defenses, not all 12 items


async def test_resume_refuses_a_different_limit_and_writes_nothing(make_recipe: Callable[..., LoadedRecipe],
                                                                  tmp_path: Any) -> None:
    loaded = make_recipe(items=12, delay=0.02, concurrency=1)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    interrupted = await _run_and_cancel_after(loaded, store, cells=2, limit=5)
    before = _cells(store, interrupted.run_id)
    with pytest.raises(ConfigError) as raised:
        await evaluate_async(loaded, store, resume="latest", limit=8)
    assert "started with --limit 5" in raised.value.message and "--limit 8" in raised.value.message
    assert "resume without --limit" in (raised.value.fix or "")
    assert _cells(store, interrupted.run_id) == before
    assert store.get_run(interrupted.run_id).status == "interrupted"
    # A run started without --limit covers every item: a resume may not narrow it either.
    unlimited = await _run_and_cancel_after(make_recipe(items=12, delay=0.02, concurrency=1, name="b.yaml",
                                                        recipe_name="b"), store, cells=2)
    with pytest.raises(ConfigError, match="started with no --limit"):
        await evaluate_async(make_recipe(items=12, delay=0.02, concurrency=1, name="b.yaml", recipe_name="b"), store,
                             resume=unlimited.run_id, limit=3)


async def test_resume_latest_after_the_recipe_changed_says_so(write_recipe: Callable[..., Any],
                                                              tmp_path: Any) -> None:
    path = write_recipe(items=4, delay=0.02, concurrency=1)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    interrupted = await _run_and_cancel_after(load_recipe(path), store, cells=2)
    path.write_text(path.read_text().replace("concurrency: 1", "concurrency: 2"))
    with pytest.raises(R2DError) as raised:
        await evaluate_async(load_recipe(path), store, resume="latest")
    message, fix = raised.value.message, raised.value.fix or ""
    assert f"{path} changed since its newest run, {interrupted.run_id} (interrupted" in message
    assert "restore the recipe as it was" in fix and "recipe_yaml" in fix and "without --resume" in fix
    # A recipe with no run at all is told so plainly.
    other = write_recipe(items=2, name="never.yaml", recipe_name="never-ran")
    with pytest.raises(R2DError, match="no run of this recipe"):
        await evaluate_async(load_recipe(other), store, resume="latest")


def _lease(store: Store, run_id: str, **values: Any) -> None:
    """Make the run look as if another process held it (status running, that host and pid, a heartbeat)."""
    with store.engine.begin() as connection:
        connection.execute(update(Run).where(Run.id == run_id).values(status="running", **values))


async def test_resume_of_a_live_run_is_refused_and_a_dead_or_silent_one_taken_over(
        make_recipe: Callable[..., LoadedRecipe], tmp_path: Any) -> None:
    loaded = make_recipe(items=6, delay=0.02, concurrency=1)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    run_id = (await _run_and_cancel_after(loaded, store, cells=2)).run_id
    before = _cells(store, run_id)
    now = datetime.now(UTC)

    _lease(store, run_id, host="gpu-box-7", pid=4242, heartbeat_at=now - timedelta(seconds=3))
    with pytest.raises(R2DError) as raised:
        await evaluate_async(loaded, store, resume="latest")
    assert f"run {run_id} is still running in another process (host gpu-box-7, pid 4242" in raised.value.message
    assert "wait for it to finish" in (raised.value.fix or "")
    assert _cells(store, run_id) == before and store.get_run(run_id).host == "gpu-box-7"  # untouched

    # The same process on this host, alive: refused too (e.g. another task of this very process).
    _lease(store, run_id, host=socket.gethostname(), pid=os.getpid(), heartbeat_at=now)
    with pytest.raises(R2DError, match="still running"):
        await evaluate_async(loaded, store, resume=run_id)

    # Gone from this host (a crash, kill -9): taken over at once, though its heartbeat is fresh.
    dead = subprocess.Popen(["true"])
    dead.wait()
    _lease(store, run_id, host=socket.gethostname(), pid=dead.pid, heartbeat_at=datetime.now(UTC))
    assert (await evaluate_async(loaded, store, resume=run_id)).status == "completed"
    assert store.get_run(run_id).pid == os.getpid()

    # Silent for longer than the bound on another host: taken over too.
    second = (await _run_and_cancel_after(make_recipe(items=6, delay=0.02, concurrency=1, name="b.yaml",
                                                      recipe_name="b"), store, cells=2)).run_id
    _lease(store, second, host="gpu-box-7", pid=4242, heartbeat_at=now - timedelta(minutes=5))
    b = make_recipe(items=6, delay=0.02, concurrency=1, name="b.yaml", recipe_name="b")
    assert (await evaluate_async(b, store, resume="latest")).status == "completed"
    cells = _cells(store, second)
    assert len(cells) == 12 and set(cells.values()) == {1}


def test_of_two_claims_on_one_free_run_only_the_first_wins(tmp_path: Any) -> None:
    """Two processes read the run as free at the same moment: the update repeats what made it free,
    so the second one's update matches nothing and it is refused, naming the first."""
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    run_id = store.create_run("r", "name: r\n", "h", seed=0)
    _lease(store, run_id, host="gpu-box-7", pid=4242, heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
    as_read = store.get_run(run_id)
    store.claim_run(run_id)  # the first process
    _lease(store, run_id, host="cpu-box-2", pid=77, heartbeat_at=datetime.now(UTC))

    class ReadTooEarly(Store):
        reads = 0

        def get_run(self, run_id: str, recipe_hash: str | None = None) -> Any:
            self.reads += 1  # the first read is what the second process saw before the first one's update
            return as_read if self.reads == 1 else super().get_run(run_id, recipe_hash)

    late = ReadTooEarly(store.url)
    with pytest.raises(R2DError, match="still running in another process .host cpu-box-2, pid 77"):
        late.claim_run(run_id)


async def test_a_run_keeps_its_lease_fresh_and_stops_once_another_process_takes_it(
        make_recipe: Callable[..., LoadedRecipe], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from r2d_sdk.store import _lease as lease_module

    monkeypatch.setattr(lease_module, "HEARTBEAT_SECONDS", 0.05)
    loaded = make_recipe(items=12, delay=0.05, concurrency=1)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    beats: list[datetime] = []
    run_ids: list[str] = []

    def progress(step: int, total: int) -> None:
        if step:
            with store.engine.connect() as connection:
                run_id, beat = connection.execute(select(Run.id, Run.heartbeat_at)).one()
            run_ids.append(run_id)
            beats.append(beat)
            if len(beats) == 6:  # another process takes the run over
                _lease(store, run_id, host="gpu-box-7", pid=4242, heartbeat_at=datetime.now(UTC))

    with pytest.raises(R2DError) as raised:
        await evaluate_async(loaded, store, progress=progress)
    assert len(set(beats[:6])) > 1  # the heartbeat moved while the run ran
    assert "was taken over by another process" in raised.value.message
    run = store.get_run(run_ids[0])
    assert (run.status, run.host) == ("running", "gpu-box-7")  # the new holder's row is left alone
    assert len(_cells(store, run.id)) < CELLS


@pytest.mark.parametrize("flush_seconds", [0.0, 3600.0], ids=["refused-mid-run", "refused-in-the-last-batch"])
async def test_a_cell_already_written_is_a_clear_error_not_an_integrity_traceback(
        make_recipe: Callable[..., LoadedRecipe], tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
        flush_seconds: float) -> None:
    loaded = make_recipe(items=6, delay=0.02, concurrency=1)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    run_id = (await _run_and_cancel_after(loaded, store, cells=3)).run_id
    monkeypatch.setattr("r2d_sdk.run._runner.FLUSH_SECONDS", flush_seconds)
    # What another process writing the same run looks like from here: cells appear that this
    # process did not know were done when it started.
    monkeypatch.setattr(Store, "done_cells", lambda self, run_id: set())
    with pytest.raises(R2DError) as raised:
        await evaluate_async(loaded, store, resume=run_id)
    assert f"run {run_id}:" in raised.value.message and "another process is probably writing" in raised.value.message
    assert "runs show" in (raised.value.fix or "")
    assert set(_cells(store, run_id).values()) == {1}
    assert store.get_run(run_id).status == "failed"


async def test_resume_against_a_missing_database_creates_nothing(make_recipe: Callable[..., LoadedRecipe],
                                                                 tmp_path: Any) -> None:
    missing = tmp_path / "no-such.db"
    with pytest.raises(R2DError, match="no results database at"):
        await evaluate_async(make_recipe(items=2), str(missing), resume="latest")
    assert list(tmp_path.glob("no-such.db*")) == []
