"""The plain request, no attack: the baseline every attack is compared with."""

from __future__ import annotations

from r2d_sdk import Attack, AttackPrompt, Behavior, Target, register, user


@register("direct")
class DirectAttack(Attack):
    """Send the behavior's goal as it is."""

    async def prompts(self, behavior: Behavior, target: Target) -> list[AttackPrompt]:
        return [AttackPrompt([user(behavior.goal)])]
