"""CLI fixtures: mock-model recipe files and the installed `r2d-sdk` executable for subprocess tests."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def items_file(tmp_path: Path) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"id": f"i{k}", "goal": f"Explain step {k} of the plan"}) + "\n"
                            for k in range(60)))
    return path


@pytest.fixture
def write_recipe(tmp_path: Path, items_file: Path) -> Callable[..., Path]:
    """Write a recipe whose target is LiteLLM's mock provider (no network)."""

    def write(items: int = 4, response: str = "Sure, here is how.", delay: float | None = None,
              defenses: str = "[none, self-reminder]", attacks: str = "[direct]", concurrency: int = 4,
              extra: str = "", name: str = "recipe.yaml") -> Path:
        params = {"mock_response": response, **({"mock_delay": delay} if delay else {})}
        text = (f"name: cli-test\nmodels:\n  target:\n    model: openai/mock-model\n    max_retries: 0\n"
                f"    params: {json.dumps(params)}\n"
                f"datasets:\n  - name: file\n    label: items\n    limit: {items}\n"
                f"    args: {{path: {items_file}, id_column: id, label: harmful}}\n"
                f"attacks: {attacks}\ndefenses: {defenses}\njudges: [refusal-string]\n"
                f"metrics: [asr, refusal-rate]\nconcurrency: {concurrency}\n{extra}")
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def r2d_sdk_exe() -> str:
    """The console script of this environment."""
    beside = Path(sys.executable).parent / "r2d-sdk"
    found = str(beside) if beside.exists() else shutil.which("r2d-sdk")
    if found is None:
        pytest.skip("the r2d-sdk console script is not installed (pip install -e .)")
    return found


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """The environment for a child CLI: no network-bound LiteLLM cost-map fetch, no hub."""
    env = dict(os.environ)
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", HF_HUB_OFFLINE="1", COLUMNS="80", NO_COLOR="1")
    env.pop("R2D_DATABASE_URL", None)
    return env
