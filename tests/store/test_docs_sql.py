"""docs/sql.md documents every table, column and view, and its example queries run on both backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import inspect
from store_records import call, record, scored

from r2d_sdk import Judgment, JudgmentStatus
from r2d_sdk.store import Base, Store
from r2d_sdk.store._sql import read_only_query

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
# Documented in docs/r2d.md with the training side; docs/sql.md names them and points there.
COLUMNS_DOCUMENTED_ELSEWHERE = {"training_runs", "training_steps"}


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    return {part.splitlines()[0].strip(): part for part in parts}


def _sql_blocks(text: str) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)


def test_every_table_and_column_is_documented() -> None:
    sections = _sections(DOC.read_text())
    for table in Base.metadata.sorted_tables:
        heading = next((h for h in sections if re.search(rf"\b{table.name}\b", h)), None)
        assert heading is not None, f"docs/sql.md has no '### {table.name}' section"
        if table.name in COLUMNS_DOCUMENTED_ELSEWHERE:
            continue
        missing = [c.name for c in table.columns if c.name not in sections[heading]]
        assert not missing, f"docs/sql.md, section {table.name}, does not describe {missing}"


def test_every_view_is_documented(store: Store) -> None:
    text = DOC.read_text()
    for view in inspect(store.engine).get_view_names():
        assert f"| {view} |" in text, f"docs/sql.md does not describe the view {view}"


def _fill(store: Store) -> None:
    run = store.create_run("docs", "name: docs\n", "h", seed=0)
    store.write_samples(run, [
        record("1", judgments=[("refusal-string", scored(True))], calls=[call("defense"), call("judge")]),
        record("2", defense="self-reminder", judgments=[("refusal-string", scored(False))],
               calls=[call("defense"), call("defense")]),
        record("3", status="error", error="ModelCallError: down", response=None,
               judgments=[("refusal-string", Judgment.failed("no response"))]),
        record("s1", dataset="xstest", item_label="safe", judgments=[(
            "xstest-string", Judgment(JudgmentStatus.SCORED, label="full_refusal", refused=True))],
            calls=[call("defense")]),
    ])
    store.replace_metrics(run, [{"dataset": "items", "item_label": "harmful", "model": "target", "attack": "direct",
                                 "defense": "none", "judge": "refusal-string", "metric": "asr", "value": 1.0,
                                 "ci_low": 0.2, "ci_high": 1.0, "n": 1, "extra_json": {"errors": 0}}])


def test_example_queries_run(store: Store) -> None:
    _fill(store)
    backend = store.engine.dialect.name
    blocks = _sql_blocks(DOC.read_text())
    assert len(blocks) >= 8
    ran = 0
    for block in blocks:
        only = re.match(r"-- (SQLite|PostgreSQL) only", block)
        if only and only.group(1).lower() != backend:
            continue
        try:
            columns, rows = read_only_query(store.engine, block)
        except Exception as error:  # name the query that failed
            pytest.fail(f"docs/sql.md query failed on {backend}: {error}\n{block}")
        ran += 1
        if "FROM asr_by_cell\nWHERE run_id = (SELECT" in block:
            # (attack, defense, judge, n_not_scored): item 3's failure is not scored, nor counted.
            assert sorted((r[1], r[2], r[3], r[6]) for r in rows) == [
                ("direct", "none", "refusal-string", 1), ("direct", "none", "xstest-string", 0),
                ("direct", "self-reminder", "refusal-string", 0)]
        if "over_refusal" in columns:
            assert rows and rows[0][-1] == 1.0
    assert ran >= 7
