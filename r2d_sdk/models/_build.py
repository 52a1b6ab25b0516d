"""Models from a recipe's `models:` section: one `Model` per name, with its generation settings."""

from __future__ import annotations

from r2d_sdk._errors import ConfigError
from r2d_sdk.models._mock import MockScript
from r2d_sdk.models._model import Model, ResponseCache
from r2d_sdk.models._router import Deployment, Routing
from r2d_sdk.recipe import ROUTING_STRATEGIES, ModelSpec, Recipe


def build_models(recipe: Recipe, cache: ResponseCache | None = None) -> dict[str, Model]:
    """Every model the recipe names, sharing one response cache (None: no caching)."""
    defaults = recipe.generation.params()
    models = {}
    for name, spec in recipe.models.items():
        try:
            params = defaults.merged(**spec.generation)
        except Exception as error:
            raise ConfigError(f"models.{name}.generation: {error}", fix="see docs/recipes.md, section generation") from None
        models[name] = Model(name, spec.model, params, api_base=spec.api_base, api_key=spec.api_key,
                             extra=spec.params, cache=cache, max_retries=spec.max_retries, timeout=spec.timeout,
                             local_options=spec.local_options(),
                             mock=MockScript.from_spec(spec.mock) if spec.mock is not None else None,
                             deployments=_deployments(spec), routing=_routing(spec))
    return models


def _deployments(spec: ModelSpec) -> list[Deployment]:
    return [Deployment(name=name, model=d.model or spec.model, api_base=d.api_base, api_key=d.api_key, rpm=d.rpm,
                       tpm=d.tpm, weight=d.weight, fallback=d.fallback)
            for name, d in zip(spec.deployment_names(), spec.deployments or [], strict=True)]


def _routing(spec: ModelSpec) -> Routing | None:
    if spec.routing is None:
        return None
    return Routing(ROUTING_STRATEGIES[spec.routing.strategy], spec.routing.allowed_fails, spec.routing.cooldown_time)
