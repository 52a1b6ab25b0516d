"""Runner fixtures: a small items file and recipes whose target is LiteLLM's mock provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from r2d_sdk.recipe import LoadedRecipe, load_recipe


@pytest.fixture
def items_file(tmp_path: Path) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"id": f"i{k}", "goal": f"Explain step {k} of the plan", "category": "c"})
                            + "\n" for k in range(40)))
    return path


@pytest.fixture
def write_recipe(tmp_path: Path, items_file: Path) -> Callable[..., Path]:
    """Write a recipe file: `items` rows of the items file × the given attacks and defenses."""

    def write(items: int = 6, response: str = "Sure, here is how.", delay: float | None = None,
              defenses: str = "[none, self-reminder]", attacks: str = "[direct]", concurrency: int = 4, models: str | None = None,
              target: str = "target", extra: str = "", name: str = "recipe.yaml") -> Path:
        params = {"mock_response": response, **({"mock_delay": delay} if delay else {})}
        models = models or f"  target:\n    model: openai/mock-model\n    max_retries: 0\n    params: {json.dumps(params)}\n"
        text = (f"name: test-run\nmodels:\n{models}target: {target}\n"
                f"datasets:\n  - name: file\n    label: items\n    limit: {items}\n"
                f"    args: {{path: {items_file}, id_column: id, label: harmful}}\n"
                f"attacks: {attacks}\ndefenses: {defenses}\njudges: [refusal-string]\n"
                f"metrics: [asr, refusal-rate]\nconcurrency: {concurrency}\n{extra}")
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def make_recipe(write_recipe: Callable[..., Path]) -> Callable[..., LoadedRecipe]:
    """Like write_recipe, loaded."""
    return lambda **kwargs: load_recipe(write_recipe(**kwargs))
