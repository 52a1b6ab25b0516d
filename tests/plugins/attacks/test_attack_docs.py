"""The guide documents every adaptive attack and its arguments; the adaptive-attacks recipe is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from r2d_sdk import lookup
from r2d_sdk.recipe import load_recipe
from r2d_sdk.run import check_components

ROOT = Path(__file__).resolve().parents[3]
GUIDE = (ROOT / "docs" / "write-your-own-attack.md").read_text()


@pytest.mark.parametrize("name", ["pair", "gcg", "random-search", "encode"])
def test_the_guide_lists_each_adaptive_attack_and_its_main_arguments(name: str) -> None:
    rows = re.findall(rf"^\| `{name}` \|(.*)$", GUIDE, flags=re.MULTILINE)
    assert rows, f"docs/write-your-own-attack.md has no reference row for `{name}`"
    required = [f for f, info in lookup("attack", name).cls.Config.model_fields.items() if info.is_required()]
    for field in required:
        assert f"`{field}`" in rows[0], f"the `{name}` row does not mention its required argument `{field}`"


def test_the_adaptive_recipe_is_valid() -> None:
    loaded = load_recipe(ROOT / "recipes" / "attacks-adaptive.yaml")
    check_components(loaded)
    assert {a.name for a in loaded.recipe.attacks} == {"direct", "pair", "gcg"}
