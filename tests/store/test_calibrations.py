"""Calibrations, their rows, corrected metric columns and the judge_agreement view, on SQLite and
PostgreSQL; and revision 0008 upgrading a database that 0007 left with results in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from store_records import record, scored

from r2d_sdk import Judgment, JudgmentStatus
from r2d_sdk._stats import cohen_kappa
from r2d_sdk.store import (
    CalibrationItemRecord,
    CalibrationRecord,
    Calibrations,
    Store,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)


def _calibration(config_hash: str = "a" * 64, set_name: str = "jbb-judge-comparison", tp: int = 3) -> CalibrationRecord:
    items = [CalibrationItemRecord(0, "goal 0", "Sure, here", True, "scored", True, "no refusal phrase"),
             CalibrationItemRecord(1, "goal 1", "I'm sorry", True, "scored", False, "matched"),
             CalibrationItemRecord(2, "goal 2", "...", False, "error", None, None, "ModelCallError: down"),
             CalibrationItemRecord(3, "goal 3", "maybe", False, "unscorable", None, "maybe", "no verdict")]
    return CalibrationRecord(judge="refusal-string", judge_label="rs", judge_config_hash=config_hash,
                             judge_config={"judge": "refusal-string", "args": {}, "models": {}}, set_name=set_name,
                             set_hash="b" * 64, tp=tp, fp=1, tn=5, fn=1, errors=1, unscorable=1,
                             stats={"accuracy": {"value": 0.8}}, recipe_path="r.yaml", items=items)


def _rows(store: Store, query: str, **params: object) -> list[dict[str, object]]:
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(query), params)]


def test_a_calibration_is_stored_with_its_rows(store: Store) -> None:
    calibrations = Calibrations(store)
    first = calibrations.write(_calibration())
    row = calibrations.get(first)
    assert (row.tp, row.fp, row.tn, row.fn, row.errors, row.unscorable, row.n) == (3, 1, 5, 1, 1, 1, 12)
    assert row.judge_config_json["judge"] == "refusal-string" and row.stats_json == {"accuracy": {"value": 0.8}}
    assert row.created_at.tzinfo is not None and row.sdk_version
    items = calibrations.items(first)
    assert [(i.item_index, i.status, i.verdict, i.human_label) for i in items] == [
        (0, "scored", True, True), (1, "scored", False, True), (2, "error", None, False), (3, "unscorable", None, False)]
    disagreements = _rows(store, "SELECT item_index FROM calibration_items WHERE calibration_id = :c "
                                 "AND status = 'scored' AND verdict <> human_label", c=first)
    assert disagreements == [{"item_index": 1}]


def test_the_latest_calibration_of_a_judge_identity(store: Store) -> None:
    calibrations = Calibrations(store)
    assert calibrations.latest("a" * 64) is None
    old = calibrations.write(_calibration(tp=1))
    other_set = calibrations.write(_calibration(set_name="mine.csv", tp=2))
    calibrations.write(_calibration(config_hash="c" * 64, tp=9))  # another judge
    latest = calibrations.latest("a" * 64)
    assert latest is not None and latest.id == other_set and latest.tp == 2
    on_jbb = calibrations.latest("a" * 64, set_name="jbb-judge-comparison")
    assert on_jbb is not None and on_jbb.id == old
    assert calibrations.latest("a" * 64, set_hash="f" * 64) is None
    assert [c.id for c in calibrations.list()][-1] == old


def test_corrections_are_written_beside_the_raw_figure(store: Store) -> None:
    run = store.create_run("r", "name: r\n", "h", seed=0)
    metric = {"dataset": "items", "item_label": "harmful", "model": "target", "attack": "direct", "defense": "none",
              "judge": "rs", "metric": "asr", "value": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 10,
              "extra_json": {"hits": 5}}
    store.replace_metrics(run, [metric, {**metric, "metric": "refusal-rate"}])
    calibration = Calibrations(store).write(_calibration())
    asr, refusal = store.metrics(run)
    assert asr.corrected is None and asr.correction_status is None
    Calibrations(store).write_corrections(run, {
        asr.id: {"corrected": 0.4, "corrected_low": 0.1, "corrected_high": 0.6, "correction_status": "corrected",
                 "calibration_id": calibration, "correction_note": "calibration 1"},
        refusal.id: {"correction_status": "none", "correction_note": "no calibration"}})
    asr, refusal = store.metrics(run)
    assert (asr.value, asr.corrected, asr.corrected_low, asr.corrected_high) == (0.5, 0.4, 0.1, 0.6)
    assert asr.calibration_id == calibration and refusal.corrected is None and refusal.correction_note == "no calibration"
    with pytest.raises(ValueError, match="not correction fields"):
        Calibrations(store).write_corrections(run, {asr.id: {"value": 1.0}})
    # A calibration deleted by hand takes its rows with it and leaves the metrics without a source.
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM calibrations WHERE id = :c"), {"c": calibration})
    assert store.metrics(run)[0].calibration_id is None
    assert _rows(store, "SELECT COUNT(*) AS n FROM calibration_items") == [{"n": 0}]


def test_judge_agreement_counts_and_kappa(store: Store) -> None:
    run = store.create_run("agree", "name: agree\n", "h", seed=0)
    # (a, b, c) jailbroken verdicts on six samples; c fails on one, xs decides refusal only.
    verdicts = [(True, True, True), (True, False, True), (False, False, False), (False, True, None),
                (True, True, False), (False, False, False)]
    records = []
    for index, (a, b, c) in enumerate(verdicts):
        judgments = [("a", scored(a)), ("b", scored(b)),
                     ("c", scored(c) if c is not None else Judgment.failed("judge down")),
                     ("xs", Judgment(JudgmentStatus.SCORED, label="full_refusal", refused=True))]
        records.append(record(str(index), judgments=judgments))
    store.write_samples(run, records)
    rows = {(r["judge_a"], r["judge_b"]): r for r in _rows(
        store, "SELECT * FROM judge_agreement WHERE run_id = :run ORDER BY judge_a, judge_b", run=run)}
    assert set(rows) == {("a", "b"), ("a", "c"), ("b", "c")}  # xs gives no jailbroken verdict
    ab = rows[("a", "b")]
    assert (ab["n"], ab["both_yes"], ab["only_first"], ab["only_second"], ab["both_no"]) == (6, 2, 1, 1, 2)
    assert ab["agreement"] == pytest.approx(4 / 6)
    assert ab["kappa"] == pytest.approx(cohen_kappa(2, 1, 1, 2))  # p_o 2/3, p_e 1/2: kappa 1/3
    assert ab["kappa"] == pytest.approx(1 / 3)
    ac = rows[("a", "c")]
    assert (ac["n"], ac["both_yes"], ac["only_first"], ac["only_second"], ac["both_no"]) == (5, 2, 1, 0, 2)
    assert ac["kappa"] == pytest.approx(cohen_kappa(2, 1, 0, 2))
    assert isinstance(ab["agreement"], float) and isinstance(ab["kappa"], float)


def test_judge_agreement_kappa_is_null_when_chance_agreement_is_total(store: Store) -> None:
    run = store.create_run("same", "name: same\n", "h", seed=0)
    store.write_samples(run, [record(str(i), judgments=[("a", scored(True)), ("b", scored(True))]) for i in range(3)])
    (row,) = _rows(store, "SELECT * FROM judge_agreement WHERE run_id = :run", run=run)
    assert (row["n"], row["both_yes"], row["agreement"], row["kappa"]) == (3, 3, 1.0, None)


def test_revision_0008_upgrades_a_0007_database_with_results(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0007")
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat(sep=" ")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO runs (id, name, kind, status, recipe_yaml, recipe_hash, sdk_version, python_version, "
            "packages_json, seed, started_at) VALUES ('old7', 'old', 'eval', 'completed', 'x', 'h', '0.1.0', '3.11', "
            "'{}', 0, :now)"), {"now": now})
        connection.execute(text(
            "INSERT INTO metrics (run_id, dataset, model, attack, defense, judge, metric, value, n, extra_json, "
            "created_at) VALUES ('old7', 'items', 'target', 'direct', 'none', 'rs', 'asr', 0.25, 4, '{}', :now)"),
            {"now": now})
    engine.dispose()
    store = Store(database_url)
    try:
        assert current_revision(store.engine) == head_revision()
        (metric,) = store.metrics("old7")
        assert (metric.value, metric.n, metric.corrected, metric.calibration_id) == (0.25, 4, None, None)
        assert _rows(store, "SELECT * FROM judge_agreement") == []
        assert Calibrations(store).latest("a" * 64) is None
        Calibrations(store).write(_calibration())
    finally:
        store.close()
