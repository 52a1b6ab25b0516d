"""Fakes for defense tests: a scripted target that records what it is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from r2d_sdk import Context, Message, Model, ModelCallError, ModelOutput, create


class ScriptedModel(Model):
    """A fake API model: answers with `reply(messages)` (or raises it, if it is an exception) and keeps the log."""

    def __init__(self, reply: Callable[[list[Message]], str] | str, name: str = "target") -> None:
        super().__init__(name, f"fake/{name}")
        self.reply = reply if callable(reply) else (lambda _: reply)
        self.seen: list[list[Message]] = []

    async def generate(self, messages: list[Message], params: Any = None, **overrides: Any) -> ModelOutput:
        self.seen.append([dict(m) for m in messages])  # type: ignore[misc]
        answer = self.reply(messages)
        if isinstance(answer, Exception):
            raise ModelCallError(f"model '{self.name}' call failed: {answer}")
        return ModelOutput(answer, self.model_id, prompt_tokens=10, completion_tokens=5)


def build(name: str, target: Model, args: dict[str, Any] | None = None, **helpers: Model) -> Any:
    """A defense bound to `target`, with helper models reachable by name."""
    context = Context(models={"target": target, **helpers}, seed=7)
    return create("defense", name, args or {}, context).bind(target)  # type: ignore[attr-defined]
