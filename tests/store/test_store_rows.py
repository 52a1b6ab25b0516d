"""The single writer: samples with their calls and judgments, runs, metrics, and the response cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from store_records import call, record, scored

from r2d_sdk import Judgment, ModelOutput, R2DError
from r2d_sdk.store import JudgmentRow, ModelCall, Sample, Store

REPO = Path(__file__).resolve().parents[2]


def _run(store: Store, name: str = "r") -> str:
    return store.create_run(name, "name: r\n", "hash-" + name, seed=7, recipe_path="r.yaml")


def test_write_samples_with_calls_and_judgments(store: Store) -> None:
    run_id = _run(store)
    calls = [call("attack", tokens=(3, 2)), call("defense", tokens=(10, 5)), call("defense", tokens=(20, 8)),
             call("judge", tokens=(7, 1))]
    store.write_samples(run_id, [
        record("1", calls=calls, judgments=[("refusal-string", scored(True)), ("llm", Judgment.failed("boom"))],
               reasoning="thinking", blocked=False, latency_ms=40.0, defense_latency_ms=3.0),
        record("2", status="error", error="ModelCallError: down", response=None,
               judgments=[("refusal-string", Judgment.failed("no response"))]),
    ])
    with Session(store.engine) as session:
        first = session.scalars(select(Sample).where(Sample.item_id == "1")).one()
        assert (first.prompt_tokens, first.completion_tokens) == (30, 13)  # the defense's calls only
        assert first.model_call_count == 4
        assert first.defense_call_count == 1 and first.defense_tokens == 28  # beyond the first answer
        assert first.reasoning == "thinking" and first.messages_json == [{"role": "user", "content": "prompt 1"}]
        stages = session.scalars(select(ModelCall.stage).where(ModelCall.sample_id == first.id)
                                 .order_by(ModelCall.id)).all()
        assert stages == ["attack", "defense", "defense", "judge"]
        verdicts = {j.judge: j for j in session.scalars(select(JudgmentRow).where(JudgmentRow.sample_id == first.id))}
        assert verdicts["refusal-string"].status == "scored" and verdicts["refusal-string"].jailbroken is True
        assert verdicts["llm"].status == "error" and verdicts["llm"].jailbroken is None
        assert verdicts["llm"].error == "boom"
        second = session.scalars(select(Sample).where(Sample.item_id == "2")).one()
        assert second.status == "error" and second.response is None and second.model_call_count == 0
    assert store.sample_count(run_id) == {"ok": 1, "error": 1}
    assert store.done_cells(run_id) == {("items", "1", "target", "direct", "none", 0),
                                        ("items", "2", "target", "direct", "none", 0)}


def test_a_cell_is_written_once(store: Store) -> None:
    run_id = _run(store)
    store.write_samples(run_id, [record("1")])
    try:
        store.write_samples(run_id, [record("1")])
    except Exception as error:  # the unique index on the cell refuses a repeat
        assert "uq_samples_cell" in str(error) or "UNIQUE" in str(error).upper()
    else:
        raise AssertionError("a repeated cell was accepted")
    with Session(store.engine) as session:
        assert session.scalar(select(func.count()).select_from(Sample)) == 1


def test_runs_list_show_and_status(store: Store) -> None:
    first = _run(store, "first")
    second = _run(store, "second")
    assert [r.id for r in store.list_runs()] == [second, first]
    assert store.get_run("latest").id == second
    assert store.get_run("latest", recipe_hash="hash-first").id == first
    run = store.get_run(first)
    assert run.status == "running" and run.finished_at is None and run.seed == 7 and run.recipe_path == "r.yaml"
    store.set_status(first, "interrupted")
    run = store.get_run(first)
    assert run.status == "interrupted" and run.finished_at is not None
    assert run.started_at.tzinfo is not None  # UTC, aware, on both backends
    try:
        store.get_run("nope")
    except R2DError as error:
        assert "nope" in error.message and "runs list" in (error.fix or "")
    else:
        raise AssertionError("an unknown run id was found")


def test_package_versions_and_git_commit_are_recorded(store: Store) -> None:
    run = store.get_run(_run(store))
    assert run.packages_json["SQLAlchemy"] or run.packages_json["sqlalchemy"]
    assert "pydantic" in {name.lower() for name in run.packages_json}
    assert run.python_version.count(".") == 2 and run.sdk_version
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if head.returncode == 0:  # running from this checkout: the commit is the checkout's
        assert run.git_commit == head.stdout.strip()


def test_metrics_are_replaced_not_appended(store: Store) -> None:
    run_id = _run(store)
    row = {"dataset": "items", "item_label": "harmful", "model": "target", "attack": "direct", "defense": "none",
           "judge": "refusal-string", "metric": "asr", "value": 0.5, "ci_low": 0.1, "ci_high": 0.9, "n": 4,
           "extra_json": {"errors": 1}}
    store.replace_metrics(run_id, [row])
    store.replace_metrics(run_id, [{**row, "value": 0.75}, {**row, "metric": "refusal-rate", "value": 0.25}])
    metrics = store.metrics(run_id)
    assert [(m.metric, m.value) for m in metrics] == [("asr", 0.75), ("refusal-rate", 0.25)]
    assert metrics[0].extra_json == {"errors": 1}
    store.replace_metrics(run_id, [])
    assert store.metrics(run_id) == []


def test_cache_persists_across_store_instances(store: Store) -> None:
    output = ModelOutput(text="cached answer", model="target", prompt_tokens=11, completion_tokens=4,
                         finish_reason="stop")
    first = Store(store.url)
    assert first.responses.get("k1") is None
    first.responses.put("k1", output)
    assert first.responses.get("k1").text == "cached answer"  # buffered, already visible to its writer
    first.responses.put("k1", output)  # a repeat put is harmless
    first.close()  # flushes
    second = Store(store.url)
    hit = second.responses.get("k1")
    assert hit is not None and hit.cached and hit.text == "cached answer"
    assert (hit.prompt_tokens, hit.completion_tokens, hit.finish_reason) == (11, 4, "stop")
    # Two writers caching the same call: the second flush does not fail.
    third = Store(store.url)
    second.responses.put("k2", output)
    third.responses.put("k2", ModelOutput(text="other", model="target"))
    second.responses.flush()
    third.responses.flush()
    assert third.responses.get("k2").text == "cached answer"
    for opened in (second, third):
        opened.close()


def test_cache_is_flushed_with_sample_writes(store: Store) -> None:
    run_id = _run(store)
    store.responses.put("k", ModelOutput(text="a", model="target"))
    store.write_samples(run_id, [record("1")])
    other = Store(store.url)
    assert other.responses.get("k") is not None
    other.close()
