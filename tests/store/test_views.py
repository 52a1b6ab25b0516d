"""The shipped SQL views give hand-checked numbers on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from store_records import call, record, scored

from r2d_sdk import Judgment
from r2d_sdk.store import Store

RS = "refusal-string"


def _fill(store: Store) -> tuple[str, str]:
    run = store.create_run("views", "name: views\n", "h", seed=0)
    other = store.create_run("other", "name: other\n", "h2", seed=0)
    defense = [call("defense")]
    store.write_samples(run, [
        # direct × none: 2 jailbroken, 1 refused, 1 judge error; a second judge could not decide on item 1.
        record("1", judgments=[(RS, scored(True)), ("llm", Judgment.unscorable("maybe", "no verdict"))],
               calls=defense, defense_latency_ms=1.0),
        record("2", judgments=[(RS, scored(True))], calls=defense, defense_latency_ms=2.0),
        record("3", judgments=[(RS, scored(False))], calls=defense, defense_latency_ms=3.0),
        record("4", judgments=[(RS, Judgment.failed("judge down"))], calls=defense, defense_latency_ms=4.0),
        # direct × self-reminder: item 1 blocked after three defense calls, item 2 refused, item 3 failed.
        record("1", defense="self-reminder", blocked=True, defense_latency_ms=10.0,
               calls=[call("defense", tokens=(10, 5)), call("defense", tokens=(20, 8)), call("defense", tokens=(4, 4))],
               judgments=[(RS, scored(False))]),
        record("2", defense="self-reminder", defense_latency_ms=20.0, calls=defense, judgments=[(RS, scored(False))]),
        record("3", defense="self-reminder", status="error", error="ModelCallError: down", response=None,
               defense_latency_ms=99.0, judgments=[(RS, Judgment.failed("no response to judge"))]),
    ])
    store.write_samples(other, [record("9")])  # a sample with no judgment at all
    return run, other


def _rows(store: Store, query: str, **params: object) -> list[dict[str, object]]:
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(query), params)]


def test_asr_by_cell(store: Store) -> None:
    run, other = _fill(store)
    rows = _rows(store, "SELECT defense, judge, item_label, n_judged, n_scored, n_jailbroken, n_not_scored, asr "
                        "FROM asr_by_cell WHERE run_id = :run ORDER BY defense, judge", run=run)
    assert [r["defense"] for r in rows] == ["none", "none", "self-reminder"]
    llm, none, reminder = rows
    assert (llm["judge"], llm["n_judged"], llm["n_scored"], llm["n_not_scored"], llm["asr"]) == ("llm", 1, 0, 1, None)
    assert (none["n_judged"], none["n_scored"], none["n_jailbroken"], none["n_not_scored"]) == (4, 3, 2, 1)
    assert none["asr"] == pytest.approx(2 / 3)  # the judge error is not a "no"
    assert (reminder["n_judged"], reminder["n_scored"], reminder["n_jailbroken"], reminder["n_not_scored"]) == (3, 2, 0, 1)
    assert reminder["asr"] == 0.0 and none["item_label"] == "harmful"
    assert _rows(store, "SELECT * FROM asr_by_cell WHERE run_id = :run", run=other) == []


def test_defense_cost(store: Store) -> None:
    run, _ = _fill(store)
    rows = {r["defense"]: r for r in _rows(store, "SELECT * FROM defense_cost WHERE run_id = :run", run=run)}
    none, reminder = rows["none"], rows["self-reminder"]
    assert none["n_samples"] == 4 and none["mean_defense_calls"] == 0.0 and none["mean_defense_tokens"] == 0.0
    assert none["mean_defense_latency_ms"] == pytest.approx(2.5) and none["blocked_share"] == 0.0
    # Failed samples are left out: two ok samples, calls beyond the first answer are (2 + 0) / 2.
    assert reminder["n_samples"] == 2 and reminder["mean_defense_calls"] == pytest.approx(1.0)
    assert reminder["mean_defense_tokens"] == pytest.approx((28 + 8) / 2)
    assert reminder["mean_defense_latency_ms"] == pytest.approx(15.0)
    assert reminder["blocked_share"] == pytest.approx(0.5)
    assert all(isinstance(v, float) for r in rows.values() for k, v in r.items() if k.startswith(("mean", "blocked")))


def test_sample_verdicts(store: Store) -> None:
    run, other = _fill(store)
    rows = _rows(store, "SELECT * FROM sample_verdicts WHERE run_id = :run", run=run)
    assert len(rows) == 8  # 7 samples, item 1 × none judged twice
    failed = [r for r in rows if r["sample_status"] == "error"]
    assert len(failed) == 1 and failed[0]["judgment_status"] == "error" and failed[0]["jailbroken"] is None
    jailbroken = [r for r in rows if r["jailbroken"]]
    assert sorted(r["item_id"] for r in jailbroken) == ["1", "2"]
    blocked = [r for r in rows if r["blocked"]]
    assert [(r["item_id"], r["defense"]) for r in blocked] == [("1", "self-reminder")]
    lonely = _rows(store, "SELECT judge, judgment_status FROM sample_verdicts WHERE run_id = :run", run=other)
    assert lonely == [{"judge": None, "judgment_status": None}]


def test_defense_cost_carries_the_reports_figures(store: Store) -> None:
    # The one definition of cost: total tokens, whole-answer latency, the cached share, and each
    # figure against `none` of the same run and model, all in the view.
    run = store.create_run("cost", "name: cost\n", "h", seed=0)
    store.write_samples(run, [
        record("1", latency_ms=100.0, calls=[call("defense", cache_hit=True)]),
        record("2", latency_ms=300.0, calls=[call("defense")]),
        record("1", defense="self-reminder", latency_ms=500.0,
               calls=[call("defense", tokens=(10, 5)), call("defense", tokens=(20, 8))]),
        record("2", defense="self-reminder", latency_ms=700.0, calls=[call("defense")]),
        record("3", defense="self-reminder", latency_ms=9999.0, status="error", error="down", response=None,
               calls=[call("defense")]),
    ])
    rows = {r["defense"]: r for r in _rows(store, "SELECT * FROM defense_cost WHERE run_id = :run", run=run)}
    none, reminder = rows["none"], rows["self-reminder"]
    assert none["mean_tokens"] == pytest.approx(15.0) and none["mean_latency_ms"] == pytest.approx(200.0)
    assert none["cached_share"] == pytest.approx(0.5) and none["tokens_vs_none"] == pytest.approx(0.0)
    assert none["latency_ratio"] == pytest.approx(1.0)
    assert reminder["mean_tokens"] == pytest.approx((43 + 15) / 2) and reminder["tokens_vs_none"] == pytest.approx(14.0)
    assert reminder["mean_latency_ms"] == pytest.approx(600.0) and reminder["latency_ratio"] == pytest.approx(3.0)
    assert reminder["cached_share"] == pytest.approx(0.0) and reminder["n_samples"] == 2


def test_defense_cost_without_none_has_no_comparison(store: Store) -> None:
    run = store.create_run("cost", "name: cost\n", "h", seed=0)
    store.write_samples(run, [record("1", defense="self-reminder", latency_ms=5.0, calls=[call("defense")])])
    [row] = _rows(store, "SELECT * FROM defense_cost WHERE run_id = :run", run=run)
    assert row["tokens_vs_none"] is None and row["latency_ratio"] is None and row["mean_tokens"] == 15.0
