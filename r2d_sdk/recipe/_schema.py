"""Pydantic models of a recipe. Every model forbids unknown fields so typos fail loudly."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from r2d_sdk._generation import (
    PRESETS,
    GenerationParams,
    MaxTokens,
    RepetitionPenalty,
    Seed,
    StopStrings,
    Temperature,
    TopP,
)
from r2d_sdk._strict import StrictModel as _Strict
from r2d_sdk.recipe._deployments import DeploymentSpec, RoutingSpec
from r2d_sdk.recipe._distill import DistillSpec
from r2d_sdk.recipe._executor import ExecutorSpec
from r2d_sdk.recipe._names import Name, check_database
from r2d_sdk.recipe._serve import ServeSection
from r2d_sdk.recipe._train import TrainSection


class MockRule(_Strict):
    """A scripted model's conditional reply: when the last user turn matches, answer this."""

    match: str = Field(description="a regular expression searched in the last user turn")
    reply: str

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value


class MockSpec(_Strict):
    """The script of a `mock/<name>` model (docs/plugins.md, "Testing with the mock provider")."""

    replies: list[str] = Field(default_factory=lambda: ["OK"], min_length=1, description="answers used in turn")
    when: list[MockRule] = Field(default_factory=list, description="conditional replies, tried first")
    latency_ms: float = Field(0.0, ge=0.0, le=600_000.0)
    failures: list[Literal["rate_limit", "timeout", "connection", "server", "unavailable", "auth", "bad_request"]
                   | None] = Field(default_factory=list, description="an outcome per call, cycled; null answers")


class ModelSpec(_Strict):
    """A model the recipe can name: `local/<ref>`, `mock/<name>` or any LiteLLM model string."""

    model: Name = Field(description="LiteLLM model string, local/<smollm2|folder|hub id>, or mock/<name>")
    api_base: str | None = Field(None, description="server URL for self-hosted providers")
    api_key: str | None = Field(None, description="use ${ENV_VAR}; the value is never stored")
    params: dict[str, Any] = Field(default_factory=dict, description="extra LiteLLM arguments")
    generation: dict[str, Any] = Field(default_factory=dict, description="generation overrides for this model")
    max_retries: int = Field(3, ge=0, le=20)
    timeout: float | None = Field(None, gt=0, le=86_400, allow_inf_nan=False,
                                  description="seconds one attempt may take before it is tried again "
                                              "(default: 120 for API and mock models, none for local)")
    # Local models only.
    batch_size: int = Field(32, gt=0, le=4096)
    dtype: str | None = None
    device: str | None = None
    chat_template: str = Field("auto", pattern="^(auto|vicuna)$")
    adapter: str | None = None
    # Mock models only.
    mock: MockSpec | None = Field(None, description="the script of a mock/<name> model")
    # API models only: several endpoints behind LiteLLM's Router (docs/scale.md).
    deployments: list[DeploymentSpec] | None = Field(None, min_length=1,
                                                     description="endpoints serving this model")
    routing: RoutingSpec | None = Field(None, description="how the Router picks among `deployments`")

    @field_validator("generation")
    @classmethod
    def _generation_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Checked here, with the field path, rather than when the model is built from it.
        return GenerationOverrides.model_validate(value).model_dump(exclude_none=True)

    @model_validator(mode="after")
    def _mock_only_for_mock(self) -> ModelSpec:
        if self.mock is not None and not self.model.startswith("mock/"):
            raise ValueError(f"mock: applies to mock/<name> models only, not {self.model}")
        return self

    @model_validator(mode="after")
    def _deployments_make_sense(self) -> ModelSpec:
        if self.routing is not None and self.deployments is None:
            raise ValueError("routing: applies to a model with `deployments:`; list them, or drop `routing`")
        if self.deployments is None:
            return self
        for index, spec in enumerate(self.deployments):
            model = spec.model or self.model
            if model.startswith(("local/", "mock/")):
                raise ValueError(f"deployments[{index}]: {model} runs in this process, it has no deployments; "
                                 "list API endpoints (e.g. hosted_vllm/... with api_base), or drop `deployments`")
        if self.api_base is not None:
            raise ValueError("api_base: a model with `deployments:` gives each deployment its own api_base")
        if all(spec.fallback for spec in self.deployments):
            raise ValueError("deployments: every one is `fallback: true`; at least one must serve first")
        names = self.deployment_names()
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"deployments: {duplicates} name more than one deployment; give each a distinct `name`")
        return self

    def deployment_names(self) -> list[str]:
        """What `model_calls.deployment` records for each deployment: its name, api_base or model."""
        return [spec.name or spec.api_base or spec.model or self.model for spec in self.deployments or []]

    def local_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"batch_size": self.batch_size, "chat_template": self.chat_template}
        for key in ("dtype", "device", "adapter"):
            if getattr(self, key) is not None:
                options[key] = getattr(self, key)
        return options


class ComponentSpec(_Strict):
    """An attack, defense, judge, metric or dataset: a plugin name and its arguments.

    `label` names it in the grid and the database when the same plugin appears twice.
    """

    name: Name
    label: Name | None = None
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.label or self.name


class AttackSpec(ComponentSpec):
    """An attack, optionally limited to some datasets (e.g. JBB artifacts are not meant for XSTest)."""

    datasets: list[str] | None = Field(None, min_length=1, description="dataset labels this attack runs on "
                                                                       "(default: all)")


class DatasetSpec(ComponentSpec):
    """A dataset plugin plus the slice of it to use."""

    limit: int | None = Field(None, gt=0, le=10_000_000, description="first N items after filtering")
    filter: dict[str, list[str]] = Field(default_factory=dict,
                                         description="field -> allowed values (category, label, ...)")

    @field_validator("filter")
    @classmethod
    def _values_to_keep(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = sorted(field for field, allowed in value.items() if not allowed)
        if empty:
            raise ValueError(f"{', '.join(empty)}: an empty list keeps no item; give the values to keep")
        return value


class GenerationOverrides(_Strict):
    """Generation settings that override a preset (a model's own `generation:` takes these)."""

    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    top_p: TopP | None = None
    repetition_penalty: RepetitionPenalty | None = None
    seed: Seed | None = None
    stop: StopStrings | None = None


class GenerationSpec(_Strict):
    """A preset (jbb: greedy, 150 tokens; xstest: 512 tokens, repetition 1.2) plus overrides."""

    preset: str = "jbb"
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    top_p: TopP | None = None
    repetition_penalty: RepetitionPenalty | None = None
    seed: Seed | None = None
    stop: StopStrings | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset '{value}', expected one of {sorted(PRESETS)}")
        return value

    def params(self) -> GenerationParams:
        overrides = self.model_dump(exclude={"preset"}, exclude_none=True)
        return PRESETS[self.preset].merged(**overrides)


def _as_spec(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Recipe(_Strict):
    """A run: models, datasets, attacks × defenses, judges and metrics."""

    name: Name = "run"
    description: str = ""
    models: dict[Name, ModelSpec] = Field(min_length=1)
    target: Name | list[Name] = Field("target", description="model name(s) under attack")
    datasets: list[DatasetSpec] = Field(description="may be left out (empty) when the recipe has train/distill")
    attacks: list[AttackSpec] = Field(default_factory=lambda: [AttackSpec(name="direct")])
    defenses: list[ComponentSpec] = Field(default_factory=lambda: [ComponentSpec(name="none")])
    judges: list[ComponentSpec] = Field(description="may be left out when the recipe has no datasets")
    metrics: list[ComponentSpec] = Field(default_factory=lambda: [ComponentSpec(name="asr")])
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    concurrency: int = Field(32, gt=0, le=4096)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec, description="in this process, or `ray:`")
    seed: Seed = 0
    database: str | None = Field(None, description="SQLAlchemy URL or SQLite path")
    train: TrainSection | None = Field(None, description="R2D training runs for `r2d-sdk train` (docs/r2d.md)")
    distill: DistillSpec | None = Field(None, description="trajectory building for `r2d-sdk distill` "
                                                          "(docs/r2d-data.md)")
    serve: ServeSection | None = Field(None, description="routes of the OpenAI-compatible gateway for "
                                                         "`r2d-sdk serve` (docs/serve.md)")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "dataset" in data:  # `dataset:` is shorthand for a one-item `datasets:`
            if "datasets" in data:
                raise ValueError("dataset, datasets: give one of the two, not both")
            data["datasets"] = [data.pop("dataset")]
        if any(data.get(key) is not None for key in ("train", "distill", "serve")):  # not (only) an evaluation
            data.setdefault("datasets", [])
            data.setdefault("judges", [])
        for key in ("datasets", "attacks", "defenses", "judges", "metrics"):
            if isinstance(data.get(key), list):
                data[key] = [_as_spec(item) for item in data[key]]
        return data

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value is None else check_database(value)

    @field_validator("target")
    @classmethod
    def _distinct_targets(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one model name")
            repeated = sorted({name for name in value if value.count(name) > 1})
            if repeated:
                raise ValueError(f"{repeated} appear more than once; name each target model once")
        return value

    @field_validator("attacks", "defenses")
    @classmethod
    def _not_empty(cls, value: list[Any], info: Any) -> list[Any]:
        if not value:  # an empty list is an empty grid; leaving the field out gives the default
            default = "direct" if info.field_name == "attacks" else "none"
            raise ValueError(f"give at least one (leave `{info.field_name}:` out for [{default}])")
        return value

    @property
    def targets(self) -> list[str]:
        return [self.target] if isinstance(self.target, str) else list(self.target)

    @model_validator(mode="after")
    def _check_references(self) -> Recipe:
        # A train- or distill-only recipe evaluates nothing; an evaluation needs datasets and judges.
        if not self.datasets and self.train is None and self.distill is None and self.serve is None:
            raise ValueError("datasets: give at least one, unless the recipe has `train:`, `distill:` or `serve:`")
        if self.datasets and not self.judges:
            raise ValueError("judges: give at least one when the recipe has datasets")
        for name in self.targets if self.datasets else []:
            if name not in self.models:
                raise ValueError(f"target: '{name}' is not one of the models under `models:` {sorted(self.models)}")
        for field_name in ("datasets", "attacks", "defenses", "judges", "metrics"):
            keys = [spec.key for spec in getattr(self, field_name)]
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates:
                raise ValueError(f"{field_name}: {duplicates} appear more than once; give each a distinct `label`")
        for route, route_spec in (self.serve.routes if self.serve else {}).items():
            if route_spec.model not in self.models:
                raise ValueError(f"serve.routes.{route}.model: '{route_spec.model}' is not one of the models under "
                                 f"`models:` {sorted(self.models)}")
            if route_spec.defense is not None and route_spec.defense not in {d.key for d in self.defenses}:
                raise ValueError(f"serve.routes.{route}.defense: '{route_spec.defense}' is not the label of an "
                                 f"entry under `defenses:` {[d.key for d in self.defenses]}")
        labels = {spec.key for spec in self.datasets}
        for spec in self.attacks:
            unknown = sorted(set(spec.datasets or []) - labels)
            if unknown:
                raise ValueError(f"attacks: '{spec.key}' names datasets {unknown}, not among {sorted(labels)}")
        return self
