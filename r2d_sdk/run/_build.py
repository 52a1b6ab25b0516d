"""Turn a validated recipe into live components, once: models, datasets, attacks, defenses, judges, metrics.

`r2d-sdk validate` and `r2d-sdk run` share this build: validation is building everything a run
needs without writing anything, so what `validate` accepts `run` can start. Heavy work (loading
weights) waits for first use or a component's `setup()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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
    """A dataset's items after the recipe's filter and limit; ids must be unique and there is one at least.

    Raises:
        ConfigError: naming the field path (`datasets[0].args`, `.filter`) and the fix.
    """
    with _at(f"{where}.args"):
        dataset = create("dataset", spec.name, spec.args, context, where)
        assert isinstance(dataset, Dataset)
        return _chosen_items(spec, dataset.items(), where)


def _chosen_items(spec: DatasetSpec, source: Iterable[Behavior], where: str) -> list[Behavior]:
    items = []
    read = 0
    for item in source:
        read += 1
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
    if not items:  # a run over nothing would end "completed" with 0 samples
        if read == 0:
            raise ConfigError(f"{where}: dataset '{spec.key}' has no items",
                              fix="point the dataset at a file with at least one record")
        raise ConfigError(f"{where}.filter: {dict(spec.filter)} matches none of the {read} items of '{spec.key}'",
                          fix="check the filter's values against the dataset (`r2d-sdk validate` counts the items)")
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: dataset '{spec.name}' yields duplicate item ids",
                          fix="give the dataset an id column that is unique")
    return items


@contextmanager
def _at(path: str) -> Iterator[None]:
    """Prefix a component's own ConfigError (raised while it is built) with its field path."""
    try:
        yield
    except ConfigError as error:
        if error.message.startswith(path.split(".", 1)[0]):  # already names its place
            raise
        raise ConfigError(f"{path}: {error.message}", error.fix) from None


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


def _check_local_folders(recipe: Any) -> None:
    """A `local/` model or adapter given as a path must exist: it loads only when first used, mid-run.

    A reference that is no path (`smollm2`, a hub id like `Qwen/Qwen2-7B`) is left to the loader.
    """
    for name, spec in recipe.models.items():
        refs = {"model": spec.model.removeprefix("local/")} if spec.model.startswith("local/") else {}
        if spec.adapter is not None:
            refs["adapter"] = spec.adapter
        for field_name, ref in refs.items():
            if ref.startswith(("/", ".", "~")) and not Path(ref).expanduser().exists():
                raise ConfigError(f"models.{name}.{field_name}: folder {ref} does not exist",
                                  fix="give the folder of a saved model (e.g. the one `r2d-sdk train` printed)")


@dataclass
class JudgePanel:
    """A recipe's judges with the models they read, built as a run builds them (`build_judges`)."""

    context: Context
    judges: dict[str, Judge]
    skipped: list[str] = field(default_factory=list)

    @property
    def models(self) -> dict[str, Model]:
        return self.context.models


def _context(recipe: Any) -> Context:
    """Checks that read no data, then the models and the context every component is built with."""
    validate_components(recipe)
    _check_local_folders(recipe)
    check_executor(recipe)
    models = build_models(recipe)  # the response cache is attached with the store (Grid.attach)
    return Context(models=models, seed=recipe.seed, generation=recipe.generation.params())


def _make(recipe: Any, context: Context, kind: str, field_name: str, skipped: list[str],
          labels: Iterable[str] | None = None) -> dict[str, Any]:
    """The components of one recipe field (only those labelled `labels`, when given); one whose
    optional input is missing is left out, and `skipped` says why."""
    wanted = None if labels is None else set(labels)
    built = {}
    for i, spec in enumerate(getattr(recipe, field_name)):
        if wanted is not None and spec.key not in wanted:
            continue
        try:
            with _at(f"{field_name}[{i}].args"):
                built[spec.key] = create(kind, spec.name, spec.args, context, f"{field_name}[{i}]")
        except Unavailable as why:  # optional input missing: leave it out, and say so
            skipped.append(f"{kind} {spec.key}: {why.message}")
    return built


def build_judges(loaded: LoadedRecipe, labels: Iterable[str] | None = None) -> JudgePanel:
    """The recipe's judges (only `labels`, when given) and their models, built exactly as
    `build_grid` builds them, without reading any dataset.

    Raises:
        ConfigError: naming the recipe file and the field path, or a label that is no judge's.
    """
    where = str(loaded.path) if loaded.path else "<recipe>"
    recipe = loaded.recipe
    wanted = list(dict.fromkeys(labels)) if labels is not None else None
    known = [spec.key for spec in recipe.judges]
    unknown = [label for label in wanted or [] if label not in known]
    if unknown:
        raise ConfigError(f"{where}: no judge labelled {', '.join(unknown)} (judges: {', '.join(known) or 'none'})",
                          fix=f"give --judge one of: {', '.join(known)}" if known else "add judges to the recipe")
    if not known:
        raise ConfigError(f"{where} has no judges", fix="add a `judges:` list to the recipe")
    try:
        context = _context(recipe)
        skipped: list[str] = []
        return JudgePanel(context, _make(recipe, context, "judge", "judges", skipped, wanted), skipped)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error.message}", error.fix) from None


def _build(loaded: LoadedRecipe) -> Grid:
    recipe = loaded.recipe
    context = _context(recipe)
    models = context.models
    items = {spec.key: load_items(spec, context, f"datasets[{i}]") for i, spec in enumerate(recipe.datasets)}
    skipped: list[str] = []
    attacks = _make(recipe, context, "attack", "attacks", skipped)
    judges = _make(recipe, context, "judge", "judges", skipped)
    metrics = _make(recipe, context, "metric", "metrics", skipped)
    defenses = {}
    for model_name in recipe.targets if recipe.datasets else []:
        for i, spec in enumerate(recipe.defenses):
            try:
                # `bind` is where a defense learns its target: a check of the target (a local model?) fails there.
                with _at(f"defenses[{i}].args"):
                    defense = create("defense", spec.name, spec.args, context, f"defenses[{i}]")
                    assert isinstance(defense, Defense)
                    defenses[(model_name, spec.key)] = defense.bind(models[model_name])
            except Unavailable as why:
                if model_name == recipe.targets[0]:
                    skipped.append(f"defense {spec.key}: {why.message}")
    grid = Grid(context, items, attacks, defenses, judges, metrics, recipe.targets, skipped)
    if recipe.datasets:
        _check_not_empty(grid, recipe)
    return grid


def _check_not_empty(grid: Grid, recipe: Any) -> None:
    """A grid with no cell would run "completed" with 0 samples: say which part left it empty."""
    if not grid.attacks:
        raise ConfigError(f"attacks: every attack was left out ({'; '.join(grid.skipped)})",
                          fix="supply what they need, or add one that needs nothing (e.g. `direct`)")
    if not grid.defenses:
        raise ConfigError(f"defenses: every defense was left out ({'; '.join(grid.skipped)})",
                          fix="supply what they need, or add `none`")
    for spec in recipe.datasets:
        if not any(a.datasets is None or spec.key in a.datasets for a in recipe.attacks if a.key in grid.attacks):
            raise ConfigError(f"datasets: no attack that is left in the grid runs on '{spec.key}'",
                              fix=f"add '{spec.key}' to an attack's `datasets:`, or drop the dataset")
