"""A custom attack: the goal rewritten in leetspeak, optionally inside a wrapper sentence."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from r2d_sdk import Attack, AttackPrompt, Behavior, Target, register, user

SWAPS = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}


class LeetspeakConfig(BaseModel):
    """The recipe's `args:` are validated against this model; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    strength: float = Field(1.0, ge=0.0, le=1.0, description="share of swappable letters that are swapped")
    wrapper: str = Field("{prompt}", description="text around the rewritten goal, with a {prompt} slot")

    @field_validator("wrapper")
    @classmethod
    def _has_slot(cls, value: str) -> str:
        if "{prompt}" not in value:
            raise ValueError("wrapper needs a {prompt} slot")
        return value


@register("leetspeak")
class LeetspeakAttack(Attack):
    """Rewrite the goal in leetspeak (a -> 4, e -> 3, ...)."""

    Config = LeetspeakConfig

    async def prompts(self, behavior: Behavior, target: Target) -> list[AttackPrompt]:
        rng = self.context.rng("leetspeak", behavior.id)  # seeded by the run: reruns give the same prompt
        letters = [SWAPS.get(c.lower(), c) if rng.random() < self.config.strength else c for c in behavior.goal]
        prompt = self.config.wrapper.replace("{prompt}", "".join(letters))
        return [AttackPrompt([user(prompt)], info={"strength": self.config.strength})]
