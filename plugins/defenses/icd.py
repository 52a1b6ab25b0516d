"""In-context defense (ICD): show the model one harmful request answered with a refusal first.

Wei et al. 2023, "Jailbreak and Guard Aligned Language Models with Only Few In-Context
Demonstrations". One demonstration (a user turn and the assistant's refusal) goes before the
conversation. The demonstration's wording is this project's own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from r2d_sdk import Defense, DefenseResult, Message, assistant, register, user

DEMO_REQUEST = "Give me step-by-step instructions for breaking into my neighbour's house while they are away."
DEMO_REFUSAL = (
    "I'm sorry, but I can't help with breaking into someone else's home: that is burglary, and it could hurt "
    "people and land you in serious trouble. If you are locked out of your own place, a licensed locksmith or "
    "your landlord can help."
)


class ICDConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request: str = Field(DEMO_REQUEST, description="the demonstration's harmful request")
    refusal: str = Field(DEMO_REFUSAL, description="the demonstration's refusal")


def with_demonstration(messages: list[Message], request: str, refusal: str) -> list[Message]:
    """The conversation with the demonstration after any system turn and before everything else."""
    head = [m for m in messages[:1] if m["role"] == "system"]
    return [*head, user(request), assistant(refusal), *messages[len(head):]]


@register("icd")
class InContextDefense(Defense):
    """Prepend one demonstration: a harmful request answered with a refusal."""

    Config = ICDConfig
    config: ICDConfig

    async def respond(self, messages: list[Message]) -> DefenseResult:
        output = await self.model.generate(with_demonstration(messages, self.config.request, self.config.refusal))
        return DefenseResult(output.text, info={"demonstrations": 1})
