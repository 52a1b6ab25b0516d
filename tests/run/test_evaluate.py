"""`r2d_sdk.evaluate`: any recipe form, one build per run, two runs in one process kept apart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import text

import r2d_sdk
from r2d_sdk import Behavior, ConfigError, Dataset, Defense, DefenseResult, register, user
from r2d_sdk.recipe import load_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Store

READS: list[str] = []


@register("test-counted-items")
class CountedItems(Dataset):
    """Three items; every read is counted, so a test can tell how often a run reads its data."""

    def items(self) -> Iterable[Behavior]:
        READS.append("read")
        return [Behavior(str(i), f"Explain step {i}", label="harmful") for i in range(3)]


@register("test-setup-caller")
class SetupCaller(Defense):
    """Calls a helper model once in setup (a call outside any sample), then answers plainly."""

    async def setup(self) -> None:
        await self.context.model("helper").generate([user("calibrate")])

    async def respond(self, messages: list) -> DefenseResult:  # type: ignore[type-arg]
        return DefenseResult((await self.model.generate(messages)).text)


def _recipe(name: str = "evaluate") -> str:
    return f"""
name: {name}
models:
  target: {{model: mock/target, mock: {{replies: ["Sure, here is how."]}}}}
  helper: {{model: mock/helper}}
datasets: [test-counted-items]
defenses: [test-setup-caller]
judges: [refusal-string]
"""


def test_a_path_yaml_text_and_a_recipe_object_run_alike(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(_recipe())
    db = str(tmp_path / "r.db")
    results = [r2d_sdk.evaluate(source, db=db) for source in (str(path), _recipe(), load_recipe(path).recipe)]
    assert [r.samples for r in results] == [{"ok": 3}] * 3
    assert len({r.run_id for r in results}) == 3 and all(r.database == db for r in results)
    with Store(f"sqlite:///{db}").engine.connect() as connection:
        paths = [row[0] for row in connection.execute(text("SELECT recipe_path FROM runs ORDER BY started_at"))]
    assert paths[0] == str(path) and paths[1:] == [None, None]


def test_each_dataset_is_read_once_per_run(tmp_path: Path) -> None:
    READS.clear()
    r2d_sdk.evaluate(_recipe(), db=str(tmp_path / "r.db"))
    assert READS == ["read"]


def test_a_bad_recipe_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="datasets\\[0\\].name"):
        r2d_sdk.evaluate(_recipe().replace("test-counted-items", "no-such-dataset"), db=str(tmp_path / "r.db"))
    assert not (tmp_path / "r.db").exists()


async def test_inside_a_running_loop_it_runs_in_a_worker_thread(tmp_path: Path) -> None:
    result = r2d_sdk.evaluate(_recipe(), db=str(tmp_path / "r.db"))  # as from a notebook cell
    assert result.status == "completed" and result.samples == {"ok": 3}


async def test_two_runs_in_one_process_keep_their_own_calls(tmp_path: Path) -> None:
    # Each run's calls outside a sample (here: each defense's setup) go to that run's own rows.
    first = Store(f"sqlite:///{tmp_path / 'a.db'}")
    second = Store(f"sqlite:///{tmp_path / 'b.db'}")
    a, b = await asyncio.gather(evaluate_async(_recipe("a"), first), evaluate_async(_recipe("b"), second))
    for store, result in ((first, a), (second, b)):
        with store.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT run_id, model, stage FROM model_calls WHERE sample_id IS NULL")).fetchall()
        assert [tuple(r) for r in rows] == [(result.run_id, "helper", "setup")]
