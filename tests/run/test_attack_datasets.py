"""An attack limited to some datasets (`datasets:`) runs only there; bad labels fail validation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from r2d_sdk import ConfigError
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Store

RECIPE = """
name: limited
models:
  target: {model: openai/gpt-4o-mini, params: {mock_response: "Sure."}}
datasets:
  - {name: jbb-harmful, limit: 2}
  - {name: xstest, limit: 3}
attacks:
  - direct
  - {name: artifact, label: jbc, args: {artifact: JBC/manual/vicuna-13b-v1.5}, datasets: [jbb-harmful]}
judges: [refusal-string]
"""


def test_attack_runs_only_on_its_datasets(tmp_path: Path, data_dir: Path) -> None:
    result = asyncio.run(evaluate_async(parse_recipe(RECIPE), Store(f"sqlite:///{tmp_path / 'r.db'}")))
    assert result.samples == {"ok": 2 * 2 + 3}  # JBB: direct + jbc; XSTest: direct only
    assert {(m.dataset, m.attack) for m in result.metrics} == {("jbb-harmful", "direct"), ("jbb-harmful", "jbc"),
                                                              ("xstest", "direct")}


def test_unknown_dataset_label_is_refused() -> None:
    with pytest.raises(ConfigError, match="names datasets \\['xs'\\]"):
        parse_recipe(RECIPE.replace("datasets: [jbb-harmful]", "datasets: [xs]"))
