"""Where model calls are recorded: a per-sample collector held in a context variable.

The runner opens a collector around each sample, so every call made while producing it
(attack, defense, judge) is written with it in one transaction. Calls made elsewhere in the
run (a defense's setup, a calibration) go to the run's orphan sink. Both are context
variables: each task, and the tasks it starts, sees its own, so two runs in one process (a
notebook, the gateway) never mix their calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class CallRecord:
    """One model call as the results database stores it."""

    model: str
    model_id: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    response: str | None
    stage: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cache_hit: bool = False
    retries: int = 0
    error: str | None = None
    deployment: str | None = None  # the Router deployment that served (or last failed) the call
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_collector: ContextVar[list[CallRecord] | None] = ContextVar("r2d_call_collector", default=None)
_stage: ContextVar[str] = ContextVar("r2d_call_stage", default="other")
_orphan_sink: ContextVar[Callable[[CallRecord], None] | None] = ContextVar("r2d_orphan_sink", default=None)


@contextlib.contextmanager
def orphan_sink(sink: Callable[[CallRecord], None]) -> Iterator[None]:
    """Inside the block (this task and the tasks it starts), calls outside any sample go to `sink`."""
    token = _orphan_sink.set(sink)
    try:
        yield
    finally:
        _orphan_sink.reset(token)


def record(call: CallRecord) -> None:
    """Add a call to the current sample's collector, or hand it to the orphan sink."""
    collector = _collector.get()
    if collector is not None:
        collector.append(call)
        return
    sink = _orphan_sink.get()
    if sink is not None:
        sink(call)


def current_stage() -> str:
    """Which part of the pipeline is calling: attack, defense, judge, ..."""
    return _stage.get()


@contextlib.contextmanager
def collect() -> Iterator[list[CallRecord]]:
    """Collect the calls made inside the block (in this task and tasks it starts)."""
    calls: list[CallRecord] = []
    token = _collector.set(calls)
    try:
        yield calls
    finally:
        _collector.reset(token)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Label the calls made inside the block with a pipeline stage."""
    token = _stage.set(name)
    try:
        yield
    finally:
        _stage.reset(token)


def record_model_call(model: Any, messages: Sequence[Mapping[str, Any]], response: str | None, *, prompt_tokens: int = 0,
                      completion_tokens: int = 0, latency_ms: float = 0.0, finish_reason: str | None = None,
                      error: str | None = None, params: dict[str, Any] | None = None) -> None:
    """Log model work done outside `Model.generate`, so it is counted like any other call.

    A perplexity score, a likelihood check or a custom decoding loop runs the model directly;
    logging it here puts it in the sample's call log (and so in the defense's cost).

    Args:
        model: the `Model` that did the work (its recipe name and model id are stored).
        messages: what it was given.
        response: what it produced (None for a pure scoring pass).
        prompt_tokens: tokens read.
        completion_tokens: tokens produced.
        latency_ms: wall time of the work.
        finish_reason: e.g. "score" for a scoring pass.
        error: the failure, when it failed.
        params: the settings used.
    """
    record(CallRecord(model.name, model.model_id, [dict(m) for m in messages], dict(params or {}), response,
                      current_stage(),
                      finish_reason=finish_reason, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      latency_ms=latency_ms, error=error))
