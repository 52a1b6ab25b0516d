"""No defense: the target model answers as it is."""

from __future__ import annotations

from collections.abc import AsyncIterator

from r2d_sdk import Defense, DefenseResult, Message, ModelOutput, register


@register("none")
class NoDefense(Defense):
    """Pass the conversation straight to the target model."""

    async def respond(self, messages: list[Message]) -> DefenseResult:
        output = await self.model.generate(messages)
        return DefenseResult(output.text)

    async def respond_stream(self, messages: list[Message]) -> AsyncIterator[str | DefenseResult]:
        # Nothing to withhold: the model's tokens pass straight through.
        async for item in self.model.stream(messages):
            yield DefenseResult(item.text) if isinstance(item, ModelOutput) else item
