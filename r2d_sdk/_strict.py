"""The base of every configuration model: unknown fields refused, no booleans read as numbers.

pydantic's lax mode reads `true` as 1 and `false` as 0, so `concurrency: true` would run with
one worker. Full strict mode would also refuse the string "8" that `${VAR}` expansion gives a
number field, so only booleans are refused where a number is expected.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def expects_number(annotation: Any) -> bool:
    """True when a field's type is int or float (optionally in a union with None), not bool."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return expects_number(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return any(expects_number(a) for a in members) and not any(a is bool or get_origin(a) is Literal
                                                                  for a in members)
    return annotation in (int, float)


class StrictModel(BaseModel):
    """A configuration section: unknown fields are errors, numbers are numbers (never NaN)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name and expects_number(cls.model_fields[info.field_name].annotation):
            raise ValueError("expected a number, not true/false")
        return value
