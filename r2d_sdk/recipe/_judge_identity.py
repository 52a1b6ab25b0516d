"""What makes a recipe's judge the same measuring instrument as another: its identity and hash.

A calibration measured on one judge may correct the rates of another only when both are the
same instrument: the same component, with the same arguments, reading the same models. The
label is left out (two recipes may call one judge differently), and so is everything about a
model that changes where or how fast it answers but not what it answers: its server address,
keys, retries, timeouts, batch size and device. The arguments are the plugin's validated ones,
defaults filled in, so `llm-judge` with no arguments and with `model: judge` are one judge.

A run stores its recipe as written (`runs.recipe_yaml`), so the identity of a past run's judge
is recomputed from that text (`${VAR}` references expanded from the environment, as when it ran).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from r2d_sdk._errors import ConfigError
from r2d_sdk._registry import lookup, validate_config
from r2d_sdk.recipe._schema import ModelSpec, Recipe

# Extra LiteLLM arguments that say where or as whom a model is reached, not what it answers.
_WHERE_NOT_WHAT = ("key", "token", "secret", "password", "auth", "header", "api_base", "base_url", "organization",
                   "timeout", "retries")


@dataclass(frozen=True)
class JudgeIdentity:
    """A judge as an instrument.

    Attributes:
        name: the judge component (`refusal-string`).
        label: its label in the recipe it was read from (not part of the identity).
        config: component, validated arguments and the specs of the models they name.
        hash: sha256 of `config` as canonical JSON.
    """

    name: str
    label: str
    config: dict[str, Any]
    hash: str

    @property
    def short_hash(self) -> str:
        return self.hash[:12]


def judge_identity(recipe: Recipe, label: str, instrument: dict[str, Any] | None = None) -> JudgeIdentity:
    """The identity of the recipe's judge labelled `label`.

    `instrument` is what the built judge says decides its verdicts beyond its arguments
    (`Judge.instrument()`, e.g. the hash of the checkpoint it loaded); it joins the identity.

    Raises:
        ConfigError: no judge has that label, its plugin is unknown or its arguments are bad.
    """
    spec = next((s for s in recipe.judges if s.key == label), None)
    if spec is None:
        known = ", ".join(s.key for s in recipe.judges) or "none"
        raise ConfigError(f"the recipe has no judge labelled '{label}' (judges: {known})",
                          fix=f"use one of: {known}")
    info = lookup("judge", spec.name)
    args = validate_config(info, spec.args, f"judges ({label})").model_dump(mode="json")
    named = sorted({value for value in _strings(args) if value in recipe.models})
    config = {"judge": info.name, "args": args,
              "models": {name: _model_instrument(recipe, recipe.models[name]) for name in named}}
    if instrument:
        config["instrument"] = instrument
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return JudgeIdentity(info.name, label, config, digest)


def judge_config_hash(recipe: Recipe, label: str, instrument: dict[str, Any] | None = None) -> str:
    """`judge_identity(recipe, label, instrument).hash`."""
    return judge_identity(recipe, label, instrument).hash


def _strings(value: Any) -> Iterator[str]:
    """Every string in the arguments, nested ones included: the candidates for a model name."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _model_instrument(recipe: Recipe, spec: ModelSpec) -> dict[str, Any]:
    """What of a model decides its answers: the model, its generation settings as the run
    merges them, its extra arguments, local weights and template, a mock's script."""
    generation = recipe.generation.params().merged(**spec.generation).model_dump(mode="json")
    params = {k: v for k, v in spec.params.items() if not any(word in k.lower() for word in _WHERE_NOT_WHAT)}
    instrument: dict[str, Any] = {"model": spec.model, "generation": generation, "params": params}
    if spec.model.startswith("local/"):
        instrument.update(adapter=spec.adapter, chat_template=spec.chat_template, dtype=spec.dtype)
    if spec.mock is not None:
        instrument["mock"] = spec.mock.model_dump(mode="json")
    if spec.deployments:
        instrument["deployments"] = sorted(d.model or spec.model for d in spec.deployments)
    return instrument
