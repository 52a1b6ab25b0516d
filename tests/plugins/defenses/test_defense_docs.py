"""docs/defenses.md describes every comparison defense, and recipes/defenses.yaml runs them all."""

from __future__ import annotations

import re
from pathlib import Path

from r2d_sdk import plugins
from r2d_sdk.recipe import load_recipe
from r2d_sdk.run import check_components

ROOT = Path(__file__).resolve().parents[3]
OTHER_DOCS = {"none", "r2d", "r2d-prompt"}  # documented with R2D itself / trivially
GUARD_DOCS = {"stack", "blocklist"}  # the deployment's building blocks: docs/guard.md


def comparison_defenses() -> set[str]:
    return {p.name for p in plugins("defense") if p.cls.__module__.startswith("r2d_plugins.defenses")} - OTHER_DOCS \
        - GUARD_DOCS


def test_every_comparison_defense_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", (ROOT / "docs/defenses.md").read_text(), flags=re.MULTILINE))
    assert comparison_defenses() - documented == set()


def test_the_stack_and_the_blocklist_are_documented_with_the_guard() -> None:
    guard = (ROOT / "docs/guard.md").read_text()
    assert all(f"`{name}`" in guard for name in GUARD_DOCS)
    sides = (ROOT / "docs/defenses.md").read_text().split("### In a stack", 1)[1].split("###", 1)[0]
    with_sides = {p.name for p in plugins("defense") if p.cls.sides()}  # type: ignore[attr-defined]
    assert all(f"`{name}`" in sides for name in with_sides), with_sides


def test_the_recipe_runs_every_defense_and_trains_safedecodings_expert() -> None:
    loaded = load_recipe(ROOT / "recipes/defenses.yaml")
    check_components(loaded)
    names = {d.name for d in loaded.recipe.defenses}
    assert comparison_defenses() - names == set()
    # SafeDecoding's expert is a training run of the same recipe, trained without reasoning (same vocabulary).
    expert = next(d for d in loaded.recipe.defenses if d.name == "safedecoding").args["training"]
    assert loaded.recipe.train is not None
    spec = loaded.recipe.train.run(expert)
    assert spec.reasoning is False and spec.finetune == "lora"
    assert "none" in names and {j.name for j in loaded.recipe.judges} == {"refusal-string", "xstest-string"}
