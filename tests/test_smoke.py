"""The thin end-to-end path: a mock-model recipe runs and lands in the database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Store


def test_mock_run_writes_samples_and_metrics(tmp_path: Path, data_dir: Path, mock_recipe_text: str) -> None:
    loaded = parse_recipe(mock_recipe_text)
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    result = asyncio.run(evaluate_async(loaded, store))
    assert result.status == "completed"
    assert result.samples == {"ok": 5}
    asr = [m for m in result.metrics if m.metric == "asr"]
    assert len(asr) == 1 and asr[0].value == 1.0 and asr[0].n == 5


def test_tiny_model_generates(tiny_model_dir: Path) -> None:
    from r2d_sdk import Model

    model = Model("tiny", f"local/{tiny_model_dir}")
    out = asyncio.run(model.generate([{"role": "user", "content": "hi"}], max_tokens=5))
    assert out.completion_tokens > 0 and out.prompt_tokens > 0
