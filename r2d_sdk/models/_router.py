"""A model served by several deployments: one LiteLLM `Router` per logical model.

How the Router and r2d-sdk's retry loop share the work, so that one failing request never
fans out into more HTTP requests than documented (docs/scale.md, "Retries with a Router"):

- The Router chooses the deployment (its routing strategy, rpm/tpm/weight), counts each
  deployment's failures and cools one down after `allowed_fails` in a minute, and, when the
  model has `fallback: true` deployments, sends an attempt whose primary deployment failed to
  one of them. Its own retries are off (`num_retries=0`) and so are the OpenAI client's
  (`max_retries=0` per deployment).
- r2d-sdk's loop (`_retry.py`) retries the logical call, as for any model: each attempt is one
  `Router.acompletion`, which picks a deployment afresh (a cooled-down one is skipped), within
  the model's per-attempt timeout. When every deployment is cooled down the Router sends
  nothing and says how long until one is back; the loop waits that long.

So one attempt is one HTTP request, or two when the model has fallback deployments and the
first failed; a call is at most `(max_retries + 1)` attempts. Retrying inside the Router
instead would hide attempts from `model_calls.retries` and bypass the per-attempt timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from r2d_sdk._network import import_litellm

FALLBACK_SUFFIX = ":fallback"


@dataclass(frozen=True)
class Deployment:
    """One endpoint serving a logical model.

    Attributes:
        name: what `model_calls.deployment` records (unique within the model).
        model: the LiteLLM model string at this endpoint.
        api_base: the server URL.
        api_key: its key (default: the model's).
        rpm / tpm: requests / tokens per minute it takes (routing weights, usage-based routing).
        weight: simple-shuffle's relative share.
        fallback: used only for an attempt whose primary deployment failed.
    """

    name: str
    model: str
    api_base: str | None = None
    api_key: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    fallback: bool = False


@dataclass(frozen=True)
class Routing:
    """The Router's settings: LiteLLM's strategy name, failures allowed per minute, cooldown seconds."""

    strategy: str = "simple-shuffle"
    allowed_fails: int = 3
    cooldown_time: float = 30.0


def _litellm_params(deployment: Deployment, default_key: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"model": deployment.model, "max_retries": 0}  # the OpenAI client's retries off
    if deployment.api_base:
        params["api_base"] = deployment.api_base
    key = deployment.api_key or default_key
    if key:
        params["api_key"] = key
    for field in ("rpm", "tpm", "weight"):
        value = getattr(deployment, field)
        if value is not None:
            params[field] = value
    return params


def build_router(group: str, deployments: Sequence[Deployment], routing: Routing, api_key: str | None,
                 timeout: float | None) -> Any:
    """A LiteLLM Router whose model group `group` holds the primary deployments (and
    `group:fallback` the fallback ones), with every retry of its own switched off."""
    import_litellm()
    from litellm import Router

    # r2d-sdk records each failure itself (model_calls.error); the Router's own error log of a
    # failed fallback would repeat it on the terminal, over the progress bar.
    logging.getLogger("LiteLLM Router").setLevel(logging.CRITICAL)
    model_list = [{"model_name": group + (FALLBACK_SUFFIX if d.fallback else ""),
                   "litellm_params": _litellm_params(d, api_key), "model_info": {"id": d.name}}
                  for d in deployments]
    has_fallbacks = any(d.fallback for d in deployments)
    return Router(model_list=model_list, routing_strategy=routing.strategy, num_retries=0,
                  allowed_fails=routing.allowed_fails, cooldown_time=routing.cooldown_time,
                  fallbacks=[{group: [group + FALLBACK_SUFFIX]}] if has_fallbacks else [],
                  max_fallbacks=1, timeout=timeout)


def served_by(response: Any) -> str | None:
    """The deployment a Router response came from (its `model_info.id`)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    value = hidden.get("model_id")
    return str(value) if value is not None else None


def failed_at(error: BaseException) -> str | None:
    """The deployment an error came from, when the Router says (None: no deployment was tried)."""
    value = getattr(error, "failed_deployment_id", None)
    return str(value) if value is not None else None
