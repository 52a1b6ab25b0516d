"""Blocklist: refuse a request, or an answer, that matches one of a list of patterns.

The plainest guardrail a deployment starts with (banned topics, leaked secrets, a product's
internal names), and a cheap first member of a `stack`: as an input-side check it inspects the
last user turn before any model is called, as an output-side check the answer. Patterns are
regular expressions, matched case-insensitively anywhere in the text.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from r2d_plugins.defenses._common import REFUSAL_FIELD, last_user_text

from r2d_sdk import CheckResult, Defense, DefenseResult, Message, register


class BlocklistConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patterns: list[str] = Field(min_length=1, description="regular expressions; a match anywhere blocks "
                                                          "(case-insensitive)")
    refusal: str = REFUSAL_FIELD

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
        return patterns


@register("blocklist")
class Blocklist(Defense):
    """Refuse requests (input side) or answers (output side) that match a pattern."""

    Config = BlocklistConfig
    config: BlocklistConfig

    def _check(self, text: str, what: str) -> CheckResult:
        for pattern in self.config.patterns:
            found = re.search(pattern, text, flags=re.IGNORECASE)
            if found:
                return CheckResult(True, f"the {what} matches {pattern!r}", self.config.refusal,
                                   {"pattern": pattern, "verdict": "blocked"})
        return CheckResult(False, info={"verdict": "passed"})

    async def check_input(self, messages: list[Message]) -> CheckResult:
        return self._check(last_user_text(messages), "request")

    async def check_output(self, messages: list[Message], response: str) -> CheckResult:
        return self._check(response, "answer")

    async def respond(self, messages: list[Message]) -> DefenseResult:
        check = await self.check_input(messages)
        if not check.blocked:
            answer = (await self.model.generate(messages)).text
            check = await self.check_output(messages, answer)
            if not check.blocked:
                return DefenseResult(answer, info=check.info)
        return DefenseResult(self.config.refusal, blocked=True, info={**check.info, "reason": check.reason})
