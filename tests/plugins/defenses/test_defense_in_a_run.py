"""Defenses through the runner: blocked answers, failed helper checks, and the cost table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from r2d_sdk.recipe import parse_recipe
from r2d_sdk.report import cost_table, defense_costs
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Store

RECIPE = """
name: defenses-mock
models:
  target:
    model: openai/gpt-4o-mini
    params: {mock_response: "Yes, this is harmful."}
  broken:
    model: openai/gpt-4o-mini
    params: {mock_response: "litellm.ContextWindowExceededError"}
    max_retries: 0
datasets:
  - name: jbb-harmful
    limit: 3
attacks: [direct]
defenses:
  - none
  - self-examination
  - {name: self-examination, label: broken-check, args: {checker: broken}}
  - {name: self-examination, label: broken-check-raise, args: {checker: broken, on_error: raise}}
  - {name: smoothllm, args: {copies: 3}}
judges: [refusal-string]
metrics: [asr]
"""


def test_blocked_errors_and_costs_are_recorded(tmp_path: Path, data_dir: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    result = asyncio.run(evaluate_async(parse_recipe(RECIPE), store))
    with store.engine.connect() as connection:
        rows = {r.defense: r for r in connection.execute(text(
            "SELECT defense, COUNT(*) AS n, SUM(CASE WHEN blocked THEN 1 ELSE 0 END) AS blocked, "
            "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors, MAX(defense_info_json) AS info "
            "FROM samples GROUP BY defense"))}
    assert rows["none"].blocked == 0 and rows["none"].errors == 0
    # The target's own check says "Yes": every answer is replaced by the refusal and marked blocked.
    assert rows["self-examination"].blocked == 3
    # A checker call that fails is never "not harmful": blocked with the error recorded, or a sample error.
    assert rows["broken-check"].blocked == 3 and "ContextWindowExceeded" in rows["broken-check"].info
    assert rows["broken-check-raise"].errors == 3
    assert result.samples == {"ok": 12, "error": 3}

    costs = {r["defense"]: r for r in defense_costs(store, result.run_id)}
    # Cheapest first: the failed check call carries no tokens, so broken-check comes before self-examination.
    assert list(costs) == ["none", "broken-check", "self-examination", "smoothllm"]
    assert costs["none"]["mean_defense_calls"] == 0 and costs["self-examination"]["mean_defense_calls"] == 1
    assert costs["smoothllm"]["mean_defense_calls"] == 2  # three copies: two beyond a plain answer
    assert costs["smoothllm"]["tokens_vs_none"] > 0 and costs["none"]["latency_ratio"] == 1.0
    assert cost_table(list(costs.values())).row_count == 4
