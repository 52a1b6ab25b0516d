"""Runner fixtures: recipes whose target is LiteLLM's mock provider (write_recipe is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from r2d_sdk.recipe import LoadedRecipe, load_recipe


@pytest.fixture
def make_recipe(write_recipe: Callable[..., Path]) -> Callable[..., LoadedRecipe]:
    """Like write_recipe, loaded."""
    return lambda **kwargs: load_recipe(write_recipe(**kwargs))
