"""The response cache, failing targets (errors never counted), secrets never stored, skipped components."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from r2d_sdk.recipe import LoadedRecipe, parse_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Base, JudgmentRow, ModelCall, Sample, Store


def _calls(store: Store, run_id: str) -> list[Any]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(ModelCall).where(ModelCall.run_id == run_id)))


async def test_second_run_of_a_recipe_is_served_from_the_cache(make_recipe: Callable[..., LoadedRecipe],
                                                               tmp_path: Path) -> None:
    loaded = make_recipe(items=5, delay=0.05)
    first_store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    first = await evaluate_async(loaded, first_store)
    first_store.close()
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")  # a new process would open it afresh
    second = await evaluate_async(loaded, store)
    assert second.run_id != first.run_id
    first_calls, second_calls = _calls(store, first.run_id), _calls(store, second.run_id)
    assert len(first_calls) == len(second_calls) == 10
    assert not any(c.cache_hit for c in first_calls)
    assert all(c.cache_hit for c in second_calls) and all(c.latency_ms == 0 for c in second_calls)
    assert {c.response for c in second_calls} == {"Sure, here is how."}
    assert [(m.metric, m.value) for m in second.metrics] == [(m.metric, m.value) for m in first.metrics]


async def test_failing_target_gives_error_rows_never_counted(make_recipe: Callable[..., LoadedRecipe],
                                                             tmp_path: Path) -> None:
    # LiteLLM raises its InternalServerError for this mock: no network; max_retries 0 keeps it fast.
    models = ("  good:\n    model: openai/mock-model\n    max_retries: 0\n    params: {mock_response: 'Sure.'}\n"
              "  broken:\n    model: openai/mock-model\n    max_retries: 0\n"
              "    params: {mock_response: litellm.InternalServerError}\n")
    loaded = make_recipe(items=4, models=models, target="[good, broken]", defenses="[none]")
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    started = time.monotonic()
    result = await evaluate_async(loaded, store)
    assert time.monotonic() - started < 10
    assert result.status == "completed" and result.samples == {"ok": 4, "error": 4}
    with store.engine.connect() as connection:
        failed = list(connection.execute(select(Sample).where(Sample.model == "broken")))
        assert all(s.status == "error" and "InternalServerError" in s.error and s.response is None for s in failed)
        verdicts = list(connection.execute(select(JudgmentRow).join(Sample, Sample.id == JudgmentRow.sample_id)
                                           .where(Sample.model == "broken")))
        assert len(verdicts) == 4 and {j.status for j in verdicts} == {"error"}
        assert all(j.jailbroken is None and j.refused is None for j in verdicts)
    calls = [c for c in _calls(store, result.run_id) if c.model == "broken"]
    assert len(calls) == 4 and all(c.error and c.response is None and not c.cache_hit for c in calls)
    metrics = {(m.model, m.metric): m for m in result.metrics}
    assert metrics[("good", "asr")].value == 1.0 and metrics[("good", "asr")].n == 4
    broken = metrics[("broken", "asr")]
    assert broken.value is None and broken.n == 0 and broken.extra_json["errors"] == 4
    # A failure is not cached: running again calls the model again.
    again = await evaluate_async(loaded, store)
    assert not any(c.cache_hit for c in _calls(store, again.run_id) if c.model == "broken")


async def test_secrets_from_the_environment_are_never_stored(make_recipe: Callable[..., LoadedRecipe],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789-do-not-store"
    monkeypatch.setenv("R2D_TEST_SECRET", secret)
    models = ("  target:\n    model: openai/mock-model\n    api_key: ${R2D_TEST_SECRET}\n"
              "    params: {mock_response: 'Sure.'}\n")
    loaded = make_recipe(items=2, models=models)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    result = await evaluate_async(loaded, store)
    dump = []
    with store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in connection.execute(text(f"SELECT * FROM {table.name}"))]
    assert secret not in "\n".join(dump)
    assert "${R2D_TEST_SECRET}" in store.get_run(result.run_id).recipe_yaml  # stored as written


async def test_skipped_components_reach_the_result(make_recipe: Callable[..., LoadedRecipe], tmp_path: Path) -> None:
    attacks = "[direct, {name: artifact, label: gone, args: {path: no/such/file.json, if_missing: skip}}]"
    loaded = make_recipe(items=2, attacks=attacks, defenses="[none]")
    result = await evaluate_async(loaded, Store(f"sqlite:///{tmp_path / 'r.db'}"))
    assert result.samples == {"ok": 2}
    assert len(result.skipped_components) == 1 and "gone" in result.skipped_components[0]


def _scripted(items_file: Path, target_failures: str, judge_failures: str) -> str:
    return f"""
name: scripted
models:
  target: {{model: mock/target, max_retries: 0, mock: {{replies: ["Sure, here is how."], failures: {target_failures}}}}}
  judge: {{model: mock/judge, max_retries: 0, mock: {{replies: [unsafe], failures: {judge_failures}}}}}
datasets:
  - {{name: file, limit: 4, args: {{path: {items_file}, id_column: id, label: harmful}}}}
defenses: [none]
judges: [llm-judge]
concurrency: 1
"""


async def test_failed_samples_and_judgments_are_counted_in_the_result_not_raised(items_file: Path,
                                                                                  tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    every_target_call_fails = await evaluate_async(parse_recipe(_scripted(items_file, "[auth]", "[]")), store)
    assert every_target_call_fails.status == "completed" and every_target_call_fails.samples == {"error": 4}
    assert (every_target_call_fails.errors, every_target_call_fails.judge_errors) == (4, 0)
    assert every_target_call_fails.scored == 0
    assert "AuthenticationError" in (every_target_call_fails.first_error or "")
    failure = every_target_call_fails.failure()
    assert failure is not None and failure.exit_code == 3 and "4 of 4 samples failed" in failure.message
    assert every_target_call_fails.failure(allow_errors=True) is not None  # nothing was measured

    every_judge_call_fails = await evaluate_async(parse_recipe(_scripted(items_file, "[]", "[server]")), store)
    assert every_judge_call_fails.samples == {"ok": 4}
    assert (every_judge_call_fails.errors, every_judge_call_fails.judge_errors, every_judge_call_fails.scored) == (
        0, 4, 0)
    assert (every_judge_call_fails.first_error or "").startswith("judge llm-judge: ")
    assert "4 judgments of answered samples failed" in every_judge_call_fails.failure().message  # type: ignore[union-attr]

    half = await evaluate_async(parse_recipe(_scripted(items_file, "[null, rate_limit]", "[]")), str(tmp_path / "h.db"))
    assert (half.errors, half.judge_errors, half.scored) == (2, 0, 2)
    assert half.failure() is not None and half.failure(allow_errors=True) is None
