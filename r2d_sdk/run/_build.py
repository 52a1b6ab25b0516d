"""Turn a validated recipe into live components: models, datasets, attacks, defenses, judges, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r2d_sdk._components import Attack, Dataset, Defense, Judge, Metric
from r2d_sdk._context import Context
from r2d_sdk._errors import ConfigError, Unavailable
from r2d_sdk._registry import create, lookup, validate_config
from r2d_sdk._types import Behavior
from r2d_sdk.models import Model, ResponseCache
from r2d_sdk.recipe import DatasetSpec, Recipe


@dataclass
class Grid:
    """The components of one run, keyed by their recipe label."""

    context: Context
    items: dict[str, list[Behavior]]
    attacks: dict[str, Attack]
    defenses: dict[tuple[str, str], Defense]  # (model name, defense label)
    judges: dict[str, Judge]
    metrics: dict[str, Metric]
    targets: list[str]


def build_models(recipe: Recipe, cache: ResponseCache | None) -> dict[str, Model]:
    defaults = recipe.generation.params()
    models = {}
    for name, spec in recipe.models.items():
        try:
            params = defaults.merged(**spec.generation)
        except Exception as error:
            raise ConfigError(f"models.{name}.generation: {error}", fix="see docs/recipes.md, section generation") from None
        models[name] = Model(name, spec.model, params, api_base=spec.api_base, api_key=spec.api_key,
                             extra=spec.params, cache=cache, max_retries=spec.max_retries,
                             local_options=spec.local_options())
    return models


def load_items(spec: DatasetSpec, context: Context, where: str) -> list[Behavior]:
    """A dataset's items after the recipe's filter and limit; ids must be unique."""
    dataset = create("dataset", spec.name, spec.args, context, where)
    assert isinstance(dataset, Dataset)
    items = []
    for item in dataset.items():
        keep = True
        for field_name, allowed in spec.filter.items():
            value = getattr(item, field_name, None)
            if value is None:
                value = item.meta.get(field_name)
            if value is None:
                raise ConfigError(f"{where}.filter: items have no field '{field_name}'",
                                  fix="filter on id, category, label or a column of the dataset")
            keep = keep and str(value) in {str(a) for a in allowed}
        if keep:
            items.append(item)
        if spec.limit is not None and len(items) >= spec.limit:
            break
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: dataset '{spec.name}' yields duplicate item ids",
                          fix="give the dataset an id column that is unique")
    return items


def validate_components(recipe: Recipe) -> None:
    """Check every plugin name and its arguments without building anything heavy."""
    for field_name in ("attacks", "defenses", "judges", "metrics", "datasets"):
        kind = field_name[:-1]
        for index, spec in enumerate(getattr(recipe, field_name)):
            info = lookup(kind, spec.name)
            validate_config(info, spec.args, f"{field_name}[{index}]")


def build_grid(recipe: Recipe, cache: ResponseCache | None, run_id: str | None = None,
               extras: dict[str, Any] | None = None) -> Grid:
    validate_components(recipe)
    models = build_models(recipe, cache)
    context = Context(models=models, seed=recipe.seed, generation=recipe.generation.params(), run_id=run_id,
                      extras=dict(extras or {}))
    items = {spec.key: load_items(spec, context, f"datasets[{i}]") for i, spec in enumerate(recipe.datasets)}

    def make(kind: str, field_name: str) -> dict[str, Any]:
        built = {}
        for i, spec in enumerate(getattr(recipe, field_name)):
            try:
                built[spec.key] = create(kind, spec.name, spec.args, context, f"{field_name}[{i}]")
            except Unavailable as why:  # optional input missing: leave it out, and say so
                context.extras.setdefault("skipped", []).append(f"{kind} {spec.key}: {why.message}")
        return built

    attacks = make("attack", "attacks")
    judges = make("judge", "judges")
    metrics = make("metric", "metrics")
    defenses = {}
    for model_name in recipe.targets:
        for i, spec in enumerate(recipe.defenses):
            try:
                defense = create("defense", spec.name, spec.args, context, f"defenses[{i}]")
            except Unavailable as why:
                context.extras.setdefault("skipped", []).append(f"defense {spec.key}: {why.message}")
                continue
            assert isinstance(defense, Defense)
            defenses[(model_name, spec.key)] = defense.bind(models[model_name])
    return Grid(context, items, attacks, defenses, judges, metrics, recipe.targets)
