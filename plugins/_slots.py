"""Templates with a slot: where the request (or the response) goes. One check for every plugin.

Slots are filled by plain replacement, never `str.format`: prompts and templates are full of
other braces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator

from r2d_sdk import ConfigError


def has_slot(template: str, slots: Sequence[str]) -> bool:
    """Whether the template contains at least one of the slots."""
    return any(slot in template for slot in slots)


def require_slot(template: str, where: str, slots: Sequence[str], what: str) -> str:
    """The template, or a ConfigError naming where it came from and the slot it lacks."""
    if not has_slot(template, slots):
        raise ConfigError(f"{where} has no slot for {what}",
                          fix=f"put {' or '.join(slots)} where {what} belongs")
    return template


def _slot_field(slot: str, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not has_slot(value, (slot,)):
            raise ValueError(f"must contain {slot}, where {what} goes")
        return value

    return AfterValidator(check)


# A recipe argument that wraps the user's message (self-reminder, goal prioritization, ...).
PromptTemplate = Annotated[str, _slot_field("{prompt}", "the user's message")]
# A recipe argument that shows a checker the model's answer (self-examination).
ResponseTemplate = Annotated[str, _slot_field("{response}", "the model's answer")]
