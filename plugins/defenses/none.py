"""No defense: the target model answers as it is."""

from __future__ import annotations

from r2d_sdk import Defense, DefenseResult, Message, register


@register("none")
class NoDefense(Defense):
    """Pass the conversation straight to the target model."""

    async def respond(self, messages: list[Message]) -> DefenseResult:
        output = await self.model.generate(messages)
        return DefenseResult(output.text)
