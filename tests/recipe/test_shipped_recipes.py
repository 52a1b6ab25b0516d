"""Every recipe in recipes/ is valid: schema, plugin names and each plugin's own arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from r2d_sdk.recipe import load_recipe
from r2d_sdk.run import check_components

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


def test_the_main_jobs_are_shipped() -> None:
    names = {path.name for path in RECIPES}
    assert {"jbb.yaml", "defenses.yaml", "r2d-smollm2.yaml", "attacks-adaptive.yaml", "serve.yaml",
            "judge-smollm2.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.name)
def test_shipped_recipe_validates(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("R2D_CHECKPOINT", str(tmp_path / "checkpoint"))  # recipes that take a trained folder
    monkeypatch.setenv("R2D_SERVE_KEYS", "sk-shipped-recipe-test")  # recipes with a serve: section
    loaded = load_recipe(path)
    assert loaded.recipe.name == path.stem
    check_components(loaded)  # no model is loaded and no data read
    if loaded.recipe.serve is not None:
        from r2d_sdk.serve import build_routes

        assert set(build_routes(loaded)) == set(loaded.recipe.serve.routes)  # what `serve` builds
