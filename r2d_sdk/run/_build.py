"""Turn a validated recipe into live components, once: models, datasets, attacks, defenses, judges, metrics.

`r2d-sdk validate` and `r2d-sdk run` share this build: validation is building everything a run
needs without writing anything, so what `validate` accepts `run` can start. Heavy work (loading
weights) waits for first use or a component's `setup()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from r2d_sdk._components import Attack, Dataset, Defense, Judge, Metric
from r2d_sdk._context import Context
from r2d_sdk._errors import ConfigError, Unavailable
from r2d_sdk._registry import create, lookup, validate_config
from r2d_sdk._types import Behavior
from r2d_sdk.models import Model, build_models
from r2d_sdk.recipe import DatasetSpec, LoadedRecipe
from r2d_sdk.run._executors import check_executor

if TYPE_CHECKING:
    from r2d_sdk.store import Store

COMPONENT_FIELDS = ("datasets", "attacks", "defenses", "judges", "metrics")


@dataclass
class Grid:
    """The components of one run, keyed by their recipe label.

    Attributes:
        skipped: components left out, with the reason (an optional input is missing).
    """

    context: Context
    items: dict[str, list[Behavior]]
    attacks: dict[str, Attack]
    defenses: dict[tuple[str, str], Defense]  # (model name, defense label)
    judges: dict[str, Judge]
    metrics: dict[str, Metric]
    targets: list[str]
    skipped: list[str] = field(default_factory=list)

    @property
    def models(self) -> dict[str, Model]:
        return self.context.models

    def attach(self, store: Store, run_id: str | None) -> None:
        """Give the run's results database to the models (their response cache) and components."""
        for model in self.models.values():
            model.cache = store.responses
        self.context.store = store
        self.context.run_id = run_id

    def counts(self) -> list[str]:
        """One "label: N items" line per dataset."""
        return [f"{label}: {len(items)} items" for label, items in self.items.items()]


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


def validate_components(recipe: Any) -> None:
    """Check every plugin name and its arguments, naming the field path, before building anything."""
    for field_name in COMPONENT_FIELDS:
        for index, spec in enumerate(getattr(recipe, field_name)):
            path = f"{field_name}[{index}]"
            try:
                info = lookup(field_name[:-1], spec.name)
            except ConfigError as error:
                raise ConfigError(f"{path}.name: {error.message}", error.fix) from None
            validate_config(info, spec.args, f"{path}.args: {field_name[:-1]}")


def check_components(loaded: LoadedRecipe) -> None:
    """The part of the build that reads no data: plugin names, their arguments, model settings."""
    try:
        validate_components(loaded.recipe)
        check_executor(loaded.recipe)
        build_models(loaded.recipe)
    except ConfigError as error:
        raise ConfigError(f"{loaded.path or '<recipe>'}: {error.message}", error.fix) from None


def build_grid(loaded: LoadedRecipe) -> Grid:
    """Every component of the recipe's grid, built once; nothing is written anywhere.

    Raises:
        ConfigError: naming the recipe file and the field path.
    """
    where = str(loaded.path) if loaded.path else "<recipe>"
    try:
        return _build(loaded)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error.message}", error.fix) from None


def _build(loaded: LoadedRecipe) -> Grid:
    recipe = loaded.recipe
    validate_components(recipe)
    check_executor(recipe)
    models = build_models(recipe)  # the response cache is attached with the store (Grid.attach)
    context = Context(models=models, seed=recipe.seed, generation=recipe.generation.params())
    items = {spec.key: load_items(spec, context, f"datasets[{i}]") for i, spec in enumerate(recipe.datasets)}
    skipped: list[str] = []

    def make(kind: str, field_name: str) -> dict[str, Any]:
        built = {}
        for i, spec in enumerate(getattr(recipe, field_name)):
            try:
                built[spec.key] = create(kind, spec.name, spec.args, context, f"{field_name}[{i}]")
            except Unavailable as why:  # optional input missing: leave it out, and say so
                skipped.append(f"{kind} {spec.key}: {why.message}")
        return built

    attacks = make("attack", "attacks")
    judges = make("judge", "judges")
    metrics = make("metric", "metrics")
    defenses = {}
    for model_name in recipe.targets if recipe.datasets else []:
        for i, spec in enumerate(recipe.defenses):
            try:
                defense = create("defense", spec.name, spec.args, context, f"defenses[{i}]")
            except Unavailable as why:
                if model_name == recipe.targets[0]:
                    skipped.append(f"defense {spec.key}: {why.message}")
                continue
            assert isinstance(defense, Defense)
            defenses[(model_name, spec.key)] = defense.bind(models[model_name])
    return Grid(context, items, attacks, defenses, judges, metrics, recipe.targets, skipped)
