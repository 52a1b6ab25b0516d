"""The Ray executor on a local Ray (one per module, 2 CPUs) with the scripted mock provider: the
same cells and verdicts as one process, a killed worker survived with no cell written twice,
Ctrl-C stops the workers and leaves a resumable run, and without Ray the recipe does not validate."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from r2d_sdk import Interrupted
from r2d_sdk.cli import cli
from r2d_sdk.recipe import RAY_INSTALL, RaySpec, parse_recipe
from r2d_sdk.run import RayExecutor, apply_overrides, build_grid, evaluate, evaluate_async, execute
from r2d_sdk.store import Store

REFUSAL = "I can't help with that."


def _recipe(items_file: Path, items: int, latency_ms: float = 0, workers: int = 2, concurrency: int = 8,
            defenses: str = "[none, self-reminder]", ray: str = "") -> str:
    # Replies depend on the prompt alone (`when:`), never on call order: any sharding gives the same answers.
    return f"""
name: ray-test
models:
  target:
    model: mock/target
    mock:
      replies: ["Sure, here is how."]
      when: [{{match: "step [0-9]*[02468] ", reply: "{REFUSAL}"}}]
      latency_ms: {latency_ms}
datasets:
  - {{name: file, label: items, limit: {items}, args: {{path: {items_file}, id_column: id, label: harmful}}}}
attacks: [direct]
defenses: {defenses}
judges: [refusal-string]
metrics: [asr]
concurrency: {concurrency}
{ray or f"executor: {{ray: {{workers: {workers}}}}}"}
"""


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One local Ray (2 CPUs) for the module: its start-up is seconds."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'r2d-sdk[distributed]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="r2d-tests")
    yield ray
    ray.shutdown()


def _verdicts(url: str, run_id: str) -> set[tuple[Any, ...]]:
    with Store(url).engine.connect() as connection:
        return set(connection.execute(text(
            "SELECT dataset, item_id, model, attack, defense, prompt, judge, jailbroken, refused, response "
            "FROM sample_verdicts WHERE run_id = :run"), {"run": run_id}))


def _cells(url: str, run_id: str) -> list[tuple[Any, ...]]:
    with Store(url).engine.connect() as connection:
        return list(connection.execute(text("SELECT item_id, defense, prompt_index FROM samples WHERE run_id = :run"),
                                       {"run": run_id}))


def _workers(ray: Any, run_id: str) -> list[Any]:
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["namespace"] == "r2d" and a["name"].startswith(f"r2d-{run_id}-")]
    return [ray.get_actor(name, namespace="r2d") for name in names]


def _run_id_of_running(url: str) -> str | None:
    with Store(url).engine.connect() as connection:
        row = connection.execute(text("SELECT id FROM runs WHERE status = 'running'")).first()
    return row[0] if row else None


def test_same_cells_and_verdicts_as_one_process_with_a_worker_killed_mid_run(local_ray: Any, items_file: Path,
                                                                          tmp_path: Path) -> None:
    in_process = f"sqlite:///{tmp_path / 'one.db'}"  # separate databases: the Ray run must not hit a cache
    ray_url = f"sqlite:///{tmp_path / 'ray.db'}"
    # 60 cells at 150 ms, two at a time per worker: seconds of work to kill a worker in.
    recipe = _recipe(items_file, items=60, latency_ms=150, concurrency=4, defenses="[none]")
    one = evaluate(recipe.replace("executor:", "# executor:"), db=in_process)
    executor = RayExecutor(RaySpec(workers=2))
    loaded = parse_recipe(recipe)
    finished: dict[str, Any] = {}
    progress = [0]

    async def on_ray() -> Any:
        store = Store(ray_url)
        try:
            return await execute(loaded, build_grid(loaded), store, executor=executor,
                                 progress=lambda step, _: progress.__setitem__(0, progress[0] + step))
        finally:
            store.close()

    def run() -> None:
        try:
            finished["result"] = asyncio.run(on_ray())
        except BaseException as error:  # surfaced by the assertions below
            finished["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while progress[0] < 8:
        assert thread.is_alive(), finished
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    at_kill = progress[0]
    run_id = _run_id_of_running(ray_url)
    assert run_id is not None
    victim = _workers(local_ray, run_id)[0]
    old_pid = local_ray.get(victim.start.remote(), timeout=30)["pid"]
    os.kill(old_pid, signal.SIGKILL)
    # Ray restarts it (max_restarts) and sends it the chunks it was running again (max_task_retries).
    new_pid = local_ray.get(victim.start.remote(), timeout=120)["pid"]
    thread.join(timeout=180)
    assert not thread.is_alive()
    assert "error" not in finished, finished.get("error")
    assert new_pid != old_pid and at_kill < 60  # killed mid-run, and restarted
    sharded = finished["result"]
    assert one.samples == sharded.samples == {"ok": 60}
    cells = _cells(ray_url, run_id)
    assert len(cells) == len(set(cells)) == 60  # no cell lost, none written twice
    expected = _verdicts(in_process, one.run_id)
    assert len(expected) == 60 and {v[-1] for v in expected} == {REFUSAL, "Sure, here is how."}
    assert _verdicts(ray_url, sharded.run_id) == expected
    assert [(m.defense, m.value) for m in sharded.metrics] == [(m.defense, m.value) for m in one.metrics]
    assert executor.startup_seconds > 0
    with Store(ray_url).engine.connect() as connection:
        calls = connection.execute(text("SELECT COUNT(*), SUM(CASE WHEN sample_id IS NULL THEN 1 ELSE 0 END) "
                                        "FROM model_calls WHERE run_id = :run"), {"run": run_id}).one()
    assert tuple(calls) == (60, 0)  # every call recorded once, with its sample, by the driver
    assert _workers(local_ray, run_id) == []  # stopped at the end


async def test_ctrl_c_stops_the_workers_and_leaves_a_resumable_run(local_ray: Any, items_file: Path,
                                                                   tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    recipe = _recipe(items_file, items=60, latency_ms=100, concurrency=4, defenses="[none]")
    progress = [0]
    task = asyncio.create_task(evaluate_async(recipe, db=url, progress=lambda step, _: progress.__setitem__(
        0, progress[0] + step)))
    deadline = time.monotonic() + 120
    while progress[0] < 4:
        assert not task.done(), task
        assert time.monotonic() < deadline, "the run made no progress"
        await asyncio.sleep(0.05)
    run_id = _run_id_of_running(url)
    assert run_id is not None and len(_workers(local_ray, run_id)) == 2
    task.cancel()  # what Ctrl-C does to `asyncio.run(evaluate_async(...))`
    with pytest.raises(Interrupted) as interrupted:
        await task
    assert interrupted.value.run_id == run_id
    stop_deadline = time.monotonic() + 30
    while _workers(local_ray, run_id):
        assert time.monotonic() < stop_deadline, "the workers were left running"
        await asyncio.sleep(0.1)
    saved = len(_cells(url, run_id))
    assert 0 < saved < 60
    # Resumed in this process (same recipe text, executor switched off): the cells written on Ray
    # are kept, none twice.
    loaded = parse_recipe(recipe)
    loaded.recipe.executor.ray = None
    resumed = await evaluate_async(loaded, db=url, resume=run_id)
    assert resumed.status == "completed" and resumed.skipped == saved and resumed.samples == {"ok": 60}
    cells = _cells(url, run_id)
    assert len(cells) == len(set(cells)) == 60


async def test_workers_that_cannot_be_placed_fail_within_the_start_timeout(local_ray: Any, items_file: Path,
                                                                           tmp_path: Path) -> None:
    recipe = _recipe(items_file, items=2, ray="executor: {ray: {workers: 1, num_gpus: 1, start_timeout: 2}}")
    started = time.monotonic()
    with pytest.raises(Exception, match=r"did not start within 2 s; the cluster has") as raised:
        await evaluate_async(recipe, db=f"sqlite:///{tmp_path / 'r.db'}")
    assert time.monotonic() - started < 30
    assert "num_gpus" in str(raised.value)


async def test_a_run_whose_cells_stop_finishing_fails_after_the_stall_timeout(local_ray: Any, items_file: Path,
                                                                             tmp_path: Path) -> None:
    # Stands in for a dead worker Ray cannot place again: a chunk that does not come back.
    recipe = _recipe(items_file, items=1, latency_ms=60_000, defenses="[none]",
                     ray="executor: {ray: {workers: 1, stall_timeout: 1}}")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with pytest.raises(Exception, match=r"no cell finished for 1 s on Ray"):
        await evaluate_async(recipe, db=url)
    with Store(url).engine.connect() as connection:
        assert connection.execute(text("SELECT status FROM runs")).scalar_one() == "failed"  # resumable


@pytest.mark.parametrize("command", [["validate"], ["run", "--ray"]], ids=["validate", "run --ray"])
def test_without_ray_the_recipe_fails_validation_with_the_install_command(
        command: list[str], items_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: find_spec("ray") is None
    path = tmp_path / "recipe.yaml"
    recipe = _recipe(items_file, items=2)
    path.write_text(recipe if command == ["validate"] else recipe.replace("executor:", "# executor:"))
    result = CliRunner().invoke(cli, [command[0], str(path), *command[1:]])
    assert result.exit_code == 2, result.output
    assert "needs Ray, which is not installed" in result.output and RAY_INSTALL in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*.db"))  # nothing written


def test_the_ray_flag_sets_the_executor(items_file: Path) -> None:
    recipe = _recipe(items_file, items=2).split("executor:")[0]
    assert parse_recipe(recipe).recipe.executor.ray is None
    assert apply_overrides(parse_recipe(recipe), ray="").recipe.executor.ray == RaySpec()
    assert apply_overrides(parse_recipe(recipe), ray="auto").recipe.executor.ray == RaySpec(address="auto")
    with_workers = parse_recipe(recipe + "executor: {ray: {workers: 5}}")
    assert apply_overrides(with_workers, ray="head:6379").recipe.executor.ray == RaySpec(address="head:6379", workers=5)
