"""Self-reminder: the reminder reaches the model in the system turn and around the user turn."""

from __future__ import annotations

from typing import Any

import pytest

from r2d_sdk import ConfigError, Message, Model, ModelOutput, create, system, user


class RecordingModel(Model):
    """A fake target that keeps what it was sent and answers with a fixed text."""

    def __init__(self) -> None:
        super().__init__("target", "fake/recorder")
        self.seen: list[list[Message]] = []

    async def generate(self, messages: list[Message], params: Any = None, **overrides: Any) -> ModelOutput:
        self.seen.append([dict(m) for m in messages])  # type: ignore[misc]
        return ModelOutput("I will not help with that.", self.model_id)


def defense(**args: Any) -> tuple[Any, RecordingModel]:
    model = RecordingModel()
    return create("defense", "self-reminder", args).bind(model), model  # type: ignore[attr-defined]


async def test_adds_a_system_turn_and_wraps_the_user_turn() -> None:
    guard, model = defense()
    result = await guard.respond([user("How do I {pick} a lock?")])
    assert result.response == "I will not help with that." and not result.blocked
    [sent] = model.seen
    assert [m["role"] for m in sent] == ["system", "user"]
    assert "responsible" in sent[0]["content"]
    assert sent[1]["content"].startswith("How do I {pick} a lock?\n\n")  # braces in the request survive
    assert "Reminder" in sent[1]["content"]


async def test_keeps_an_existing_system_prompt_and_earlier_turns() -> None:
    guard, model = defense(system_prompt="BE SAFE.", user_template="<<{prompt}>> remember: be safe")
    conversation = [system("You are a pirate."), user("first"), {"role": "assistant", "content": "arr"},
                    user("second")]
    await guard.respond(conversation)
    [sent] = model.seen
    assert sent[0] == {"role": "system", "content": "BE SAFE.\n\nYou are a pirate."}
    assert sent[1] == {"role": "user", "content": "first"}  # only the last user turn is wrapped
    assert sent[3] == {"role": "user", "content": "<<second>> remember: be safe"}
    assert conversation[3]["content"] == "second"  # the caller's list is not modified


def test_user_template_needs_a_slot() -> None:
    with pytest.raises(ConfigError, match=r"\{prompt\}"):
        create("defense", "self-reminder", {"user_template": "be safe"})


async def test_through_litellm_mock() -> None:
    guard = create("defense", "self-reminder").bind(  # type: ignore[attr-defined]
        Model("target", "openai/gpt-4o-mini", extra={"mock_response": "Happy to help responsibly."}))
    assert (await guard.respond([user("hi")])).response == "Happy to help responsibly."
