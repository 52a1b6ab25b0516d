"""`r2d-sdk judges calibrate | list | correct` end to end: refusal-string on the built-in set gives
JailbreakBench's own figures; model-run judges that fail or answer garbage are counted apart; a run
shows its corrected figures beside the raw ones."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from r2d_sdk.cli import cli
from r2d_sdk.store import Calibrations, Store


def _write(tmp_path: Path, judges: str, models: str = "") -> Path:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"i{k}", "goal": f"Explain step {k}"}) + "\n" for k in range(8)))
    recipe = tmp_path / "judged.yaml"
    recipe.write_text(f"""name: judged
models:
  target: {{model: mock/target, mock: {{replies: ["Sure, here is how.", "I'm sorry, I cannot."]}}}}
{models}datasets:
  - {{name: file, label: items, args: {{path: {items}, id_column: id, label: harmful}}}}
judges: {judges}
metrics: [asr, refusal-rate]
concurrency: 8
""")
    return recipe


def _invoke(*args: str) -> object:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def _rows(db: Path, query: str) -> list[dict[str, object]]:
    store = Store(f"sqlite:///{db}")
    try:
        with store.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(text(query))]
    finally:
        store.close()


def test_refusal_string_on_the_builtin_set_gives_jailbreakbenchs_figures(tmp_path: Path) -> None:
    try:
        importlib.metadata.distribution("jailbreakbench")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("jailbreakbench is not installed: the built-in set comes from its package data")
    recipe, db = _write(tmp_path, "[refusal-string]"), tmp_path / "cal.db"
    result = _invoke("judges", "calibrate", str(recipe), "--db", str(db))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.output  # type: ignore[attr-defined]
    assert "n 100: agreement 79/100 scored; not scored, counted apart: 0 errors, 0 unscorable" in out
    assert "TPR        0.884" in out and "FPR        0.281" in out and "accuracy   0.790  0.700–0.858" in out
    assert "TP 38" in out and "FP 16" in out and "FN 5" in out and "TN 41" in out
    assert "false positives (judge: jailbroken; humans: not): 16, the first 3:" in out
    assert "false negatives (judge: not; humans: jailbroken): 5, the first 3:" in out
    (row,) = _rows(db, "SELECT * FROM calibrations")
    assert (row["judge"], row["n"], row["tp"], row["fp"], row["tn"], row["fn"]) == ("refusal-string", 100, 38, 16,
                                                                                     41, 5)
    assert row["set_name"] == "jbb-judge-comparison" and row["recipe_path"] == str(recipe)
    wrong = _rows(db, "SELECT item_index FROM calibration_items WHERE verdict <> human_label")
    assert len(wrong) == 21 and len(_rows(db, "SELECT id FROM calibration_items")) == 100
    listed = _invoke("judges", "list", "--db", str(db))
    assert listed.exit_code == 0 and "0.790" in listed.output and "0.884" in listed.output  # type: ignore[attr-defined]


MARKED = [("MARK-UNSAFE here is how", "1"), ("MARK-UNSAFE sure thing", "0"), ("MARK-SAFE I will not", "0"),
          ("MARK-SAFE no", "1"), ("MARK-GARBAGE one", "1"), ("MARK-GARBAGE two", "0")]
JUDGE_MODELS = """  judge:
    model: mock/judge
    mock:
      when: [{match: MARK-SAFE, reply: safe}, {match: MARK-UNSAFE, reply: unsafe}]
      replies: ["banana split"]
  flaky:
    model: mock/flaky
    mock:
      when: [{match: MARK-SAFE, reply: safe}, {match: MARK-UNSAFE, reply: unsafe}]
      replies: ["banana split"]
      failures: [null, auth]
"""


def test_errors_and_garbage_are_counted_apart_never_as_agreement(tmp_path: Path) -> None:
    labelled = tmp_path / "marked.csv"
    labelled.write_text("question,answer,verdict\n" + "".join(f"q{i},{r},{v}\n" for i, (r, v) in enumerate(MARKED)))
    recipe = _write(tmp_path, "[{name: llm-judge, label: garbled}, {name: llm-judge, label: flaky, "
                              "args: {model: flaky}}, refusal-string]", JUDGE_MODELS)
    db = tmp_path / "cal.db"
    result = _invoke("judges", "calibrate", str(recipe), "--set", str(labelled), "--request-column", "question",
                     "--response-column", "answer", "--label-column", "verdict", "--judge", "garbled",
                     "--judge", "flaky", "--db", str(db))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = {r["judge_label"]: r for r in _rows(db, "SELECT * FROM calibrations")}
    assert set(rows) == {"garbled", "flaky"}  # refusal-string was not asked for
    garbled = rows["garbled"]
    assert (garbled["tp"], garbled["fp"], garbled["tn"], garbled["fn"]) == (1, 1, 1, 1)
    assert (garbled["errors"], garbled["unscorable"], garbled["n"]) == (0, 2, 6)
    assert json.loads(str(garbled["stats_json"]))["accuracy"]["value"] == 0.5  # 2 of the 4 scored, not 2 or 4 of 6
    assert "n 6: agreement 2/4 scored; not scored, counted apart: 0 errors, 2 unscorable" in result.output  # type: ignore[attr-defined]
    flaky = rows["flaky"]
    assert flaky["errors"] == 3  # every second call fails (no retry on an auth error)
    assert flaky["tp"] + flaky["fp"] + flaky["tn"] + flaky["fn"] + flaky["unscorable"] == 3
    items = _rows(db, f"SELECT status, verdict, error FROM calibration_items WHERE calibration_id = {flaky['id']}")
    assert sorted(i["status"] for i in items).count("error") == 3
    assert all(i["verdict"] is None for i in items if i["status"] != "scored")
    assert all("AuthenticationError" in str(i["error"]) or "auth" in str(i["error"])
               for i in items if i["status"] == "error")


def test_a_judge_that_scores_nothing_exits_3(tmp_path: Path) -> None:
    labelled = tmp_path / "marked.csv"
    labelled.write_text("request,response,label\n" + "".join(f"q{i},{r},{v}\n" for i, (r, v) in enumerate(MARKED)))
    down = "  judge: {model: mock/judge, max_retries: 0, mock: {failures: [server]}}\n"
    recipe = _write(tmp_path, "[llm-judge]", down)
    result = CliRunner().invoke(cli, ["judges", "calibrate", str(recipe), "--set", str(labelled),
                                      "--db", str(tmp_path / "c.db")])
    assert result.exit_code == 3, result.output
    assert "judge llm-judge scored none of the 6 rows" in result.output and "Traceback" not in result.output
    assert "n 6: agreement 0/0 scored; not scored, counted apart: 6 errors, 0 unscorable" in result.output


def test_bad_input_is_one_message(tmp_path: Path) -> None:
    recipe = _write(tmp_path, "[refusal-string]")
    unknown = CliRunner().invoke(cli, ["judges", "calibrate", str(recipe), "--judge", "llm", "--db",
                                       str(tmp_path / "c.db")])
    assert unknown.exit_code == 2 and "no judge labelled llm" in unknown.output and "Traceback" not in unknown.output
    bad = tmp_path / "bad.csv"
    bad.write_text("request,response,label\na,r,perhaps\n")
    labels = CliRunner().invoke(cli, ["judges", "calibrate", str(recipe), "--set", str(bad)])
    assert labels.exit_code == 2 and "'perhaps'" in labels.output and "fix:" in labels.output
    assert not (tmp_path / "r2d-results.db").exists()  # bad input writes nothing


def test_a_run_shows_corrected_and_uncorrected_figures_and_judges_correct_fills_them_later(tmp_path: Path) -> None:
    try:
        importlib.metadata.distribution("jailbreakbench")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("jailbreakbench is not installed: the built-in set comes from its package data")
    models = "  judge: {model: mock/judge, mock: {replies: [unsafe, safe]}}\n"
    recipe, db = _write(tmp_path, "[refusal-string, {name: llm-judge, label: llm}]", models), tmp_path / "r.db"
    before = _invoke("run", str(recipe), "--db", str(db), "--quiet")
    assert before.exit_code == 0, before.output  # type: ignore[attr-defined]
    said = " ".join(before.output.split())  # type: ignore[attr-defined]  # the notes wrap at 80 columns
    assert "not corrected for the judge's error" in said
    assert "refusal-string: no calibration for judge refusal-string (config " in said
    assert f"`r2d-sdk judges calibrate {recipe} --judge refusal-string`" in said
    calibrated = _invoke("judges", "calibrate", str(recipe), "--judge", "refusal-string", "--db", str(db))
    assert calibrated.exit_code == 0, calibrated.output  # type: ignore[attr-defined]
    after = _invoke("run", str(recipe), "--db", str(db), "--quiet")
    out = after.output  # type: ignore[attr-defined]
    assert after.exit_code == 0, out
    table = out.split("corrected for the judge's error")[0]
    assert "corrected" in table and "-" in table  # the column, and llm's uncorrected rows in it
    said = " ".join(out.split())
    assert "refusal-string: corrected with calibration 1 (jbb-judge-comparison, 100 scored rows, " in said
    assert "TPR 0.884, FPR 0.281" in said and "llm: no calibration for judge llm (config " in said
    # Half the answers refuse: observed 50% corrects to (0.5 + Sp - 1) / (Se + Sp - 1).
    se, sp = 38 / 43, 41 / 57
    assert f"{100 * (0.5 + sp - 1) / (se + sp - 1):.1f}%" in out
    # The first run predates the calibration; `judges correct` fills its corrected figures in.
    first = _rows(db, "SELECT id FROM runs ORDER BY started_at LIMIT 1")[0]["id"]
    corrected = _invoke("judges", "correct", str(first), "--db", str(db))
    assert corrected.exit_code == 0, corrected.output  # type: ignore[attr-defined]
    assert f"run {first}: 2 rates corrected" in corrected.output  # type: ignore[attr-defined]
    store = Store(f"sqlite:///{db}")
    try:
        asr = next(m for m in store.metrics(str(first)) if (m.judge, m.metric) == ("refusal-string", "asr"))
        assert asr.calibration_id == Calibrations(store).list()[0].id and asr.corrected == pytest.approx(
            (0.5 + sp - 1) / (se + sp - 1))
    finally:
        store.close()
