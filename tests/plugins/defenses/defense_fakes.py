"""Helpers for defense tests: scripted targets on the mock provider, and building a defense."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from r2d_sdk import Context, Message, MockScript, Model, create


def scripted(reply: Callable[[list[Message]], Any] | str, name: str = "target") -> Model:
    """A `mock/<name>` model answering `reply(messages)` (raising it, if it is an exception).

    Its calls take the real path (LiteLLM, the call log); `model.mock.history` is what it was sent.
    """
    replies = reply if callable(reply) else (lambda _messages: reply)
    return Model(name, f"mock/{name}", mock=MockScript(replies=replies), max_retries=0)


def build(name: str, target: Model, args: dict[str, Any] | None = None, **helpers: Model) -> Any:
    """A defense bound to `target`, with helper models reachable by name."""
    context = Context(models={"target": target, **helpers}, seed=7)
    return create("defense", name, args or {}, context).bind(target)  # type: ignore[attr-defined]
