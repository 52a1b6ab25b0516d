"""Hand-built rows for store tests: model calls, verdicts and sample records."""

from __future__ import annotations

from typing import Any

from r2d_sdk import Judgment, JudgmentStatus
from r2d_sdk._calls import CallRecord
from r2d_sdk.store import SampleRecord


def call(stage: str, response: str | None = "ok", tokens: tuple[int, int] = (10, 5), **kwargs: Any) -> CallRecord:
    """A model call as the runner records it."""
    return CallRecord(model="target", model_id="openai/mock", messages=[{"role": "user", "content": "hi"}],
                      params={"temperature": 0.0, "max_tokens": 150}, response=response, stage=stage,
                      prompt_tokens=tokens[0], completion_tokens=tokens[1], latency_ms=12.5, **kwargs)


def scored(jailbroken: bool, refused: bool | None = None) -> Judgment:
    """A scored verdict; by default a refusal exactly when not jailbroken."""
    return Judgment(JudgmentStatus.SCORED, label="unsafe" if jailbroken else "safe", jailbroken=jailbroken,
                    refused=(not jailbroken) if refused is None else refused, raw="test")


def record(item_id: str, attack: str = "direct", defense: str = "none", model: str = "target",
           judgments: list[tuple[str, Judgment]] | None = None, calls: list[CallRecord] | None = None,
           **kwargs: Any) -> SampleRecord:
    """One grid cell's result."""
    fields: dict[str, Any] = dict(dataset="items", item_id=item_id, item_label="harmful", category="c", goal="g",
                                  model=model, model_id="openai/mock", attack=attack, defense=defense,
                                  prompt_index=0, prompt=f"prompt {item_id}",
                                  messages=[{"role": "user", "content": f"prompt {item_id}"}], response="answer")
    fields.update(kwargs)
    return SampleRecord(**fields, judgments=judgments or [], calls=calls or [])
