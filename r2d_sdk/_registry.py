"""One registry for every plugin kind, filled from the `r2d_sdk.plugins` entry-point group.

An entry point names a module; importing it runs its `@register(...)` decorators. Names a
third-party package registers are namespaced by its entry-point name (`mypkg/my-attack`);
the built-ins come from the entry point `r2d` and keep bare names. A bare name finds a
namespaced component when only one has it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from r2d_sdk._components import KINDS, Component
from r2d_sdk._errors import ConfigError

ENTRY_POINT_GROUP = "r2d_sdk.plugins"
BUILTIN_NAMESPACE = "r2d"

C = TypeVar("C", bound=type[Component])


@dataclass
class PluginInfo:
    """What `plugins list` shows for one registered component."""

    kind: str
    name: str
    cls: type[Component]
    source: str

    @property
    def description(self) -> str:
        return self.cls.describe()


@dataclass
class _Registry:
    components: dict[tuple[str, str], PluginInfo] = field(default_factory=dict)
    load_errors: dict[str, str] = field(default_factory=dict)
    loaded: bool = False
    namespace: str = BUILTIN_NAMESPACE  # the namespace of the entry point being imported
    source: str = "python"


_REGISTRY = _Registry()


def _kind_of(cls: type) -> str:
    for kind, base in KINDS.items():
        if isinstance(cls, type) and issubclass(cls, base):
            return kind
    raise TypeError(f"{cls!r} is not an Attack, Defense, Judge, Metric or Dataset subclass")


def register(name: str) -> Callable[[C], C]:
    """Class decorator: register a component under `name`.

    Example:
        @register("my-attack")
        class MyAttack(Attack): ...
    """

    def decorate(cls: C) -> C:
        kind = _kind_of(cls)
        full = name if _REGISTRY.namespace == BUILTIN_NAMESPACE or "/" in name else f"{_REGISTRY.namespace}/{name}"
        cls.name = full
        _REGISTRY.components[(kind, full)] = PluginInfo(kind, full, cls, _REGISTRY.source)
        return cls

    return decorate


def load_plugins() -> None:
    """Import every entry point of the group once; a broken one is recorded, not raised."""
    if _REGISTRY.loaded:
        return
    _REGISTRY.loaded = True
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _REGISTRY.namespace = entry_point.name
        _REGISTRY.source = entry_point.dist.name if entry_point.dist else entry_point.value
        try:
            entry_point.load()
        except Exception as error:  # any import failure of a third-party plugin
            _REGISTRY.load_errors[f"{entry_point.name} ({entry_point.value})"] = f"{type(error).__name__}: {error}"
        finally:
            _REGISTRY.namespace = BUILTIN_NAMESPACE
            _REGISTRY.source = "python"


def plugins(kind: str | None = None) -> list[PluginInfo]:
    """Every registered component, optionally of one kind, sorted by kind and name."""
    load_plugins()
    found = [info for (k, _), info in _REGISTRY.components.items() if kind in (None, k)]
    return sorted(found, key=lambda info: (info.kind, info.name))


def plugin_load_errors() -> dict[str, str]:
    """Entry points that failed to import, with their error."""
    load_plugins()
    return dict(_REGISTRY.load_errors)


def lookup(kind: str, name: str) -> PluginInfo:
    """Find a component by exact or unambiguous bare name; the error lists what exists."""
    load_plugins()
    if (kind, name) in _REGISTRY.components:
        return _REGISTRY.components[(kind, name)]
    matches = [info for (k, n), info in _REGISTRY.components.items() if k == kind and n.split("/")[-1] == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(info.name for info in plugins(kind)) or "none"
    if matches:
        raise ConfigError(f"{kind} name '{name}' is ambiguous: {', '.join(m.name for m in matches)}",
                          fix="use the namespaced name")
    hint = "run `r2d-sdk plugins list` to see what is installed"
    if _REGISTRY.load_errors:
        hint += "; some plugins failed to load, `r2d-sdk plugins list` shows why"
    raise ConfigError(f"unknown {kind} '{name}'; known: {known}", fix=hint)


def validate_config(info: PluginInfo, args: dict[str, Any], where: str = "") -> BaseModel:
    """Validate arguments against the component's own pydantic Config."""
    try:
        return info.cls.Config.model_validate(args)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in error.errors()
        )
        fields = ", ".join(info.cls.Config.model_fields) or "none"
        raise ConfigError(f"{where or info.kind} '{info.name}' has bad arguments: {problems}",
                          fix=f"its arguments are: {fields} (`r2d-sdk plugins info {info.name}`)") from None


def create(kind: str, name: str, args: dict[str, Any] | None = None, context: Any = None,
           where: str = "") -> Component:
    """Build a component from its name and recipe arguments."""
    info = lookup(kind, name)
    config = validate_config(info, args or {}, where)
    return info.cls(config, context)
