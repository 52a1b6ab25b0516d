"""Gateway requests as rows: one `guard_requests` row per answered request, its calls linked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from r2d_sdk._calls import CallRecord
from r2d_sdk._redact import redact
from r2d_sdk.store._schema import GuardRequest, ModelCall


@dataclass
class RequestRecord:
    """Everything one answered request produced, written with its model calls in one transaction.

    Attributes:
        request_id: the completion id the client was given (`chatcmpl-...`).
        client: a short hash of the client's API key (None without keys); never the key.
        verdicts: each defense's verdict, in the order they ran.
        status: ok, error (a model call or a defense failed), timeout, cancelled (the client left).
        http_status: what the client got (200, or the error's status).
        first_token_ms: streamed requests: when the first piece of the answer left.
    """

    request_id: str
    route: str
    client: str | None
    model: str
    model_id: str
    defense: str
    messages: list[dict[str, Any]]
    response: str | None
    stream: bool = False
    reasoning: str | None = None
    blocked: bool = False
    blocked_by: str | None = None
    block_reason: str | None = None
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None
    http_status: int | None = 200
    latency_ms: float = 0.0
    first_token_ms: float | None = None
    calls: list[CallRecord] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls)


def call_row(call: CallRecord, run_id: str | None, sample_id: int | None,
             guard_request_id: int | None = None) -> dict[str, Any]:
    """A `model_calls` row for a call, linked to a run's sample or to a gateway request."""
    return {
        "run_id": run_id, "sample_id": sample_id, "guard_request_id": guard_request_id, "stage": call.stage,
        "model": call.model, "model_id": call.model_id, "messages_json": call.messages, "params_json": call.params,
        "response": call.response, "finish_reason": call.finish_reason, "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens, "latency_ms": call.latency_ms, "cache_hit": call.cache_hit,
        "retries": call.retries, "error": redact(call.error), "deployment": call.deployment,
        "created_at": call.created_at,
    }


def insert_requests(connection: Connection, records: list[RequestRecord]) -> None:
    """Two statements per batch (requests, then their calls), whatever its size."""
    if not records:
        return
    rows = [{
        "request_id": r.request_id, "route": r.route, "client": r.client, "model": r.model, "model_id": r.model_id,
        "defense": r.defense, "stream": r.stream, "messages_json": r.messages, "response": r.response,
        "reasoning": r.reasoning, "blocked": r.blocked, "blocked_by": r.blocked_by, "block_reason": r.block_reason,
        "verdicts_json": r.verdicts, "status": r.status, "error": redact(r.error), "http_status": r.http_status,
        "latency_ms": r.latency_ms, "first_token_ms": r.first_token_ms, "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens, "model_call_count": len(r.calls), "created_at": r.created_at,
    } for r in records]
    ids = connection.execute(insert(GuardRequest).returning(GuardRequest.id, sort_by_parameter_order=True),
                             rows).scalars().all()
    calls = [call_row(c, None, None, request_id) for r, request_id in zip(records, ids, strict=True) for c in r.calls]
    if calls:
        connection.execute(insert(ModelCall), calls)
