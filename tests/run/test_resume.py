"""Interrupt a run (task cancelled, or Ctrl-C inside a model call) and resume it: every cell exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from r2d_sdk import R2DError
from r2d_sdk.models import Model
from r2d_sdk.recipe import LoadedRecipe, load_recipe
from r2d_sdk.run import Interrupted, evaluate_async
from r2d_sdk.store import ModelCall, Sample, Store

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


async def _run_and_cancel_after(loaded: LoadedRecipe, store: Store, cells: int) -> Interrupted:
    task: asyncio.Task[Any] | None = None
    advanced = 0

    def progress(step: int, total: int) -> None:
        nonlocal advanced
        advanced += step
        if advanced >= cells and task is not None and not task.cancelling():
            task.cancel()

    task = asyncio.ensure_future(evaluate_async(loaded, store, progress=progress))
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
