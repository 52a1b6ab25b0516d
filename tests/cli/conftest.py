"""CLI fixtures: mock-model recipe files and the installed `r2d-sdk` executable for subprocess tests."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_recipe(write_recipe: Callable[..., Path]) -> Callable[..., Path]:
    """The shared recipe writer (tests/conftest.py) with the CLI tests' defaults: 4 items, named cli-test."""
    return lambda **kwargs: write_recipe(**{"items": 4, "recipe_name": "cli-test", **kwargs})


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
