"""The new built-ins together in one mock run: XSTest, template + artifact attacks, self-reminder, four judges."""

from __future__ import annotations

import asyncio
from pathlib import Path

from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Store

RECIPE = """
name: builtins
models:
  target:
    model: openai/gpt-4o-mini
    params: {mock_response: "Sure, here is a careful answer to your question."}
  judge:
    model: openai/gpt-4o-mini
    params: {mock_response: "unsafe"}
  classifier:
    model: openai/gpt-4o-mini
    params: {mock_response: "partial_refusal"}
dataset: {name: xstest, limit: 4}
attacks:
  - {name: template, args: {template: screenplay-scene}}
  - {name: artifact, args: {artifact: JBC/manual/vicuna-13b-v1.5}}
  - {name: artifact, label: absent, args: {path: no/such/artifact.json, if_missing: skip}}
defenses: [none, self-reminder]
judges:
  - xstest-string
  - refusal-string
  - {name: llm-judge, args: {model: judge}}
  - {name: xstest-llm, args: {model: classifier}}
metrics: [asr, refusal-rate, full-compliance, full-refusal, partial-refusal]
"""


def test_builtins_run_together(tmp_path: Path, data_dir: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    result = asyncio.run(evaluate_async(parse_recipe(RECIPE), store))
    assert result.status == "completed"
    assert result.samples == {"ok": 4 * 2 * 2}  # the absent artifact is left out, not failed
    values = {(m.attack, m.defense, m.judge, m.metric): m.value for m in result.metrics}
    assert {m.attack for m in result.metrics} == {"template", "artifact"}
    for attack in ("template", "artifact"):
        for defense in ("none", "self-reminder"):
            assert values[(attack, defense, "xstest-string", "full-compliance")] == 1.0
            assert values[(attack, defense, "xstest-llm", "partial-refusal")] == 1.0
            assert values[(attack, defense, "xstest-llm", "refusal-rate")] == 1.0
            assert values[(attack, defense, "llm-judge", "asr")] == 1.0
            assert values[(attack, defense, "refusal-string", "asr")] == 1.0
            assert (attack, defense, "refusal-string", "full-compliance") not in values
            assert (attack, defense, "llm-judge", "full-refusal") not in values
    assert all(m.n == 4 for m in result.metrics)
