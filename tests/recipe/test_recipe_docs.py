"""docs/recipes.md describes every recipe field, and its example recipe is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from r2d_sdk.recipe import (
    ComponentSpec,
    DatasetSpec,
    DeploymentSpec,
    GenerationSpec,
    ModelSpec,
    RaySpec,
    Recipe,
    RoutingSpec,
    parse_recipe,
)
from r2d_sdk.run import check_components

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"


@pytest.mark.parametrize("model", [Recipe, ModelSpec, DatasetSpec, GenerationSpec, ComponentSpec, DeploymentSpec,
                                   RoutingSpec, RaySpec],
                         ids=lambda m: m.__name__)
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    text = DOC.read_text()
    # A field counts as documented when a table row starts with it: | `field` | default | meaning |
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    missing = sorted(set(model.model_fields) - documented)
    assert not missing, f"docs/recipes.md does not describe {model.__name__} fields {missing}"


def test_the_example_recipe_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key")
    text = DOC.read_text()
    example = text.split("## An example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = parse_recipe(example, "docs/recipes.md example")
    assert loaded.recipe.name == "jbb-smollm2" and len(loaded.recipe.attacks) == 2
    check_components(loaded)  # plugin names and arguments too


def test_the_database_precedence_is_documented_as_implemented(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from r2d_sdk._settings import database_url

    text = DOC.read_text()
    order = [text.index(s) for s in ("1. `--db URL`", "2. the `R2D_DATABASE_URL`", "3. the recipe's `database:`",
                                      "4. `./r2d-results.db`")]
    assert order == sorted(order)
    monkeypatch.setenv("R2D_DATABASE_URL", "sqlite:///from-env.db")
    assert database_url("cli.db", "recipe.db") == f"sqlite:///{tmp_path / 'cli.db'}"
    assert database_url(None, "recipe.db") == "sqlite:///from-env.db"
    monkeypatch.delenv("R2D_DATABASE_URL")
    assert database_url(None, "recipe.db") == f"sqlite:///{tmp_path / 'recipe.db'}"
    assert database_url(None, None) == f"sqlite:///{tmp_path / 'r2d-results.db'}"


def test_the_scale_example_recipe_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray", reason="its executor is Ray: pip install 'r2d-sdk[distributed]'")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key")
    text = (DOC.parent / "scale.md").read_text()
    example = text.split("### The recipe", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = parse_recipe(example, "docs/scale.md example")
    target = loaded.recipe.models["target"]
    assert target.deployment_names() == ["gpu-1", "gpu-2"] and loaded.recipe.executor.ray is not None
    check_components(loaded)
