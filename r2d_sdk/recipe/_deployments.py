"""A model served by several deployments behind LiteLLM's Router (docs/scale.md):

    models:
      target:
        model: hosted_vllm/Qwen/Qwen2-7B-Instruct     # the logical model: cache key, call log, cost
        deployments:
          - {api_base: http://gpu-1:8000/v1, rpm: 600}
          - {api_base: http://gpu-2:8000/v1, rpm: 600}
          - {api_base: https://api.example.com/v1, api_key: "${BACKUP_KEY}", fallback: true}
        routing: {strategy: least-busy, allowed_fails: 3, cooldown_time: 30}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The recipe's names for LiteLLM's routing strategies (Router(routing_strategy=...)).
ROUTING_STRATEGIES = {
    "simple-shuffle": "simple-shuffle",       # random, weighted by weight, else rpm, else tpm
    "least-busy": "least-busy",               # fewest requests in flight
    "latency-based": "latency-based-routing",  # lowest recent latency
    "usage-based": "usage-based-routing-v2",   # most headroom under rpm/tpm this minute
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentSpec(_Strict):
    """One endpoint that serves the model: a vLLM replica, an API account, ..."""

    api_base: str | None = Field(None, description="the server URL (a vLLM replica: http://host:8000/v1)")
    model: str | None = Field(None, description="LiteLLM model string at this deployment (default: the model's)")
    api_key: str | None = Field(None, description="use ${ENV_VAR} (default: the model's api_key)")
    name: str | None = Field(None, max_length=200,
                             description="what model_calls.deployment records (default: api_base, else model)")
    rpm: int | None = Field(None, gt=0, description="requests per minute it takes (routing weight, usage-based)")
    tpm: int | None = Field(None, gt=0, description="tokens per minute it takes")
    weight: float | None = Field(None, gt=0, description="simple-shuffle: relative share of the requests")
    fallback: bool = Field(False, description="used only for an attempt every other deployment failed")


class RoutingSpec(_Strict):
    """How LiteLLM's Router picks a deployment, and when it stops picking a failing one."""

    strategy: Literal["simple-shuffle", "least-busy", "latency-based", "usage-based"] = "simple-shuffle"
    allowed_fails: int = Field(3, ge=0, description="failures in a minute before a deployment is cooled down")
    cooldown_time: float = Field(30.0, gt=0, le=3600, description="seconds a cooled-down deployment gets no requests")
