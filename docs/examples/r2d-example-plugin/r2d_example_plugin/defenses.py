"""A custom defense: refuse when the request contains a blocked keyword, else let the model answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from r2d_sdk import Defense, DefenseResult, Message, register


class KeywordBlockConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(min_length=1, description="case-insensitive words that trigger a refusal")
    refusal: str = "I cannot help with that."


@register("keyword-block")
class KeywordBlockDefense(Defense):
    """Refuse requests containing a blocked keyword; pass the rest to the target model."""

    Config = KeywordBlockConfig

    async def respond(self, messages: list[Message]) -> DefenseResult:
        text = messages[-1]["content"].lower()
        hit = next((k for k in self.config.keywords if k.lower() in text), None)
        if hit is not None:
            return DefenseResult(self.config.refusal, blocked=True, info={"keyword": hit})
        output = await self.model.generate(messages)  # the target model, through the recorded call path
        return DefenseResult(output.text)
