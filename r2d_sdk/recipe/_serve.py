"""The `serve:` section: routes of the OpenAI-compatible gateway (`r2d-sdk serve`) and its limits.

Each route is a name clients send as `model`, answering through a recipe model and a defense
stack: either a defense of the recipe's `defenses:` list by its label (so the route runs exactly
the cell that was evaluated), or its own list of defenses, written as for a `Guard`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROUTE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RouteSpec(_Strict):
    """One route: a recipe model and the defenses in front of it."""

    model: str = Field(description="the recipe model that answers (a name under `models:`)")
    defense: str | None = Field(None, description="label (or name) of an entry under `defenses:`: the evaluated cell")
    defenses: list[Any] | None = Field(None, description="or the route's own defenses, in order: input-side "
                                                         "checks, the answering defense, output-side checks")
    timeout_s: float = Field(120.0, gt=0, le=3600, description="a request that takes longer gets 504")
    description: str = ""

    @field_validator("defenses", mode="before")
    @classmethod
    def _names_as_specs(cls, value: Any) -> Any:
        if isinstance(value, str | dict):
            value = [value]
        return [{"name": item} if isinstance(item, str) else item for item in value] if isinstance(value, list) \
            else value

    @field_validator("defenses")
    @classmethod
    def _specs_have_names(cls, value: list[Any] | None) -> list[Any] | None:
        for index, spec in enumerate(value or []):
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise ValueError(f"[{index}]: give a defense name, or {{name: ..., args: {{...}}}}")
            unknown = sorted(set(spec) - {"name", "label", "args"})
            if unknown:
                raise ValueError(f"[{index}]: unknown fields {unknown}; a defense has name, label and args")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> RouteSpec:
        if self.defense is not None and self.defenses is not None:
            raise ValueError("give `defense:` (a label under `defenses:`) or `defenses:` (the route's own), not both")
        if self.defenses == []:
            raise ValueError("defenses: give at least one (`none` answers unguarded)")
        return self


class ServeSection(_Strict):
    """`r2d-sdk serve`: where it listens, who may call it, what it accepts, and its routes."""

    host: str = Field("127.0.0.1", description="address to listen on (--host overrides)")
    port: int = Field(8000, ge=1, le=65535, description="port (--port overrides)")
    api_keys: list[str] = Field(default_factory=list, description="accepted keys, as ${VAR} (a list, or one "
                                                                  "variable holding keys separated by commas)")
    on_block: Literal["completion", "error"] = Field(
        "completion", description="a blocked request gets a 200 completion with the refusal (finish_reason "
                                  "content_filter), or an OpenAI-shaped 400 error")
    max_body_bytes: int = Field(1_000_000, gt=0, le=100_000_000, description="larger request bodies get 413")
    max_messages: int = Field(256, gt=0, le=100_000, description="longer conversations get 400")
    log: bool = Field(True, description="write every request to the results database (guard_requests)")
    routes: dict[str, RouteSpec] = Field(min_length=1, description="route name -> model and defenses")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        # One variable may hold several keys: `api_keys: ${R2D_SERVE_KEYS}` with "key1,key2".
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            return value
        keys = [key.strip() for item in items for key in item.split(",")]
        for index, key in enumerate(keys):
            if len(key) < 8:
                # An unset or empty variable must not leave the gateway open to anyone.
                raise ValueError(f"key {index + 1} is {'empty' if not key else 'shorter than 8 characters'}; "
                                 "check the variable that holds it")
        return keys

    @field_validator("routes")
    @classmethod
    def _route_names(cls, routes: dict[str, RouteSpec]) -> dict[str, RouteSpec]:
        import re

        for name in routes:
            if not re.match(ROUTE_NAME, name):
                raise ValueError(f"route name {name!r}: use letters, digits, '.', '_' and '-' (at most 100)")
        return routes
