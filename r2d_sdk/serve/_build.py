"""Routes from a recipe's `serve:` section: each a model and a built, bound defense.

The defenses are made as the grid makes them (`create`, then `bind` to the answering model), so
a route that names an entry of `defenses:` runs exactly the defense that was evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r2d_sdk._components import Defense
from r2d_sdk._context import Context
from r2d_sdk._errors import ConfigError, Unavailable
from r2d_sdk._registry import create, lookup
from r2d_sdk.models import Model, build_models
from r2d_sdk.recipe import LoadedRecipe, RouteSpec


@dataclass
class Route:
    """A built route: its name, the model that answers, the defense in front of it, its timeout."""

    name: str
    model: Model
    defense: Defense
    defense_label: str
    timeout_s: float
    context: Context


def stack_spec(defenses: list[dict[str, Any]]) -> dict[str, Any]:
    """One defense for a list of them: the only one as it is, or a `stack` read by position.

    The answering defense is the first that has no input-side check; those before it are input
    checks, those after it output checks. When every one is an input check, `none` answers.
    Anything else takes the stack's explicit form (`{name: stack, args: {input, answer, output}}`).
    """
    if len(defenses) == 1:
        return defenses[0]
    sides = [lookup("defense", d["name"]).cls.sides() for d in defenses]  # type: ignore[attr-defined]
    at = next((i for i, s in enumerate(sides) if "input" not in s), None)
    if at is None:
        return {"name": "stack", "args": {"input": defenses, "answer": "none", "output": []}}
    for spec, side in zip(defenses[at + 1:], sides[at + 1:], strict=True):
        if "output" not in side:
            raise ConfigError(f"'{spec['name']}' comes after the answering defense '{defenses[at]['name']}' but has "
                              "no output-side check",
                              fix="move it before the answering defense, or write the stack out: "
                                  "{name: stack, args: {input: [...], answer: ..., output: [...]}}")
    return {"name": "stack", "args": {"input": defenses[:at], "answer": defenses[at], "output": defenses[at + 1:]}}


def _member(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k in ("name", "label", "args") and v is not None}


def _defense_of(loaded: LoadedRecipe, spec: RouteSpec) -> tuple[dict[str, Any], str]:
    """The route's defense spec and the label it is stored under."""
    if spec.defense is not None:
        entry = next(d for d in loaded.recipe.defenses if d.key == spec.defense)
        return {"name": entry.name, "args": entry.args}, entry.key
    members = [_member(d) for d in spec.defenses or [{"name": "none"}]]
    built = stack_spec(members)
    return built, (built.get("label") or built["name"])


def build_routes(loaded: LoadedRecipe, models: dict[str, Model] | None = None) -> dict[str, Route]:
    """Every route of the recipe's `serve:` section, built; nothing is loaded or written yet.

    Args:
        loaded: a recipe with a `serve:` section.
        models: models to use instead of the recipe's own, by name (a `Guard` made in code).

    Raises:
        ConfigError: naming the recipe file and the field path.
    """
    where = str(loaded.path) if loaded.path else "<recipe>"
    recipe = loaded.recipe
    if recipe.serve is None:
        raise ConfigError(f"{where} has no `serve:` section: there is nothing to serve",
                          fix="add `serve: {routes: {NAME: {model: MODEL, defenses: [...]}}}` (docs/serve.md)")
    try:
        built_models = {**build_models(recipe), **(models or {})}
        context = Context(models=built_models, seed=recipe.seed, generation=recipe.generation.params())
        routes = {}
        for name, spec in recipe.serve.routes.items():
            at = f"serve.routes.{name}"
            defense_spec, label = _defense_of(loaded, spec)
            try:
                defense = create("defense", defense_spec["name"], defense_spec.get("args"), context, f"{at}.defenses")
            except Unavailable as why:
                raise ConfigError(f"{at}: {why.message}", why.fix) from None
            assert isinstance(defense, Defense)
            model = built_models[spec.model]
            routes[name] = Route(name, model, defense.bind(model), label, spec.timeout_s, context)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error.message}", error.fix) from None
    return routes
