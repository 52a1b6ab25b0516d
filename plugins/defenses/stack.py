"""A defense stack: input-side checks in order, one answering defense, then output-side checks.

The exact stack a deployment runs (`r2d-sdk serve`, `Guard`) is a defense like any other, so it
is also a cell of an evaluation grid:

    defenses:
      - name: stack
        label: deployed
        args:
          input: [{name: perplexity-filter, args: {threshold: 6.0}}]
          answer: {name: r2d, args: {training: r2d-smollm2}}
          output: [self-examination]

Any input check may block (the rest of the stack does not run); the answering defense may block
on its own; then every output check sees the answer and may replace it with a refusal. Each
member's verdict is kept, in order, in the result's `info.verdicts`; `info.blocked_by` names the
member that blocked and `info.reason` says why.

Streamed, the input checks finish before anything is sent. Without output checks the answering
defense streams as it would alone; with them, nothing is sent until every output check has
passed on the whole answer (the hold-back rule), so a blocked answer never reaches the client.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from r2d_plugins.defenses._common import REFUSAL_FIELD

from r2d_sdk import (
    CheckResult,
    ConfigError,
    Context,
    Defense,
    DefenseResult,
    Message,
    create,
    lookup,
    register,
)


class Member(BaseModel):
    """A defense in the stack: its plugin name, a label when the same one appears twice, its arguments."""

    model_config = ConfigDict(extra="forbid")
    name: str
    label: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.label or self.name


def _as_member(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class StackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: list[Member] = Field(default_factory=list, description="input-side checks, in order; any may block")
    answer: Member = Field(default_factory=lambda: Member(name="none"), description="the defense that answers")
    output: list[Member] = Field(default_factory=list, description="output-side checks of the answer, in order")
    refusal: str = REFUSAL_FIELD

    @field_validator("input", "output", mode="before")
    @classmethod
    def _names_as_members(cls, value: Any) -> Any:
        return [_as_member(item) for item in value] if isinstance(value, list) else value

    @field_validator("answer", mode="before")
    @classmethod
    def _name_as_member(cls, value: Any) -> Any:
        return _as_member(value)

    @model_validator(mode="after")
    def _each_member_fits_its_side(self) -> StackConfig:
        for side, members in (("input", self.input), ("output", self.output)):
            for index, member in enumerate(members):
                try:
                    sides = lookup("defense", member.name).cls.sides()  # type: ignore[attr-defined]
                except ConfigError as error:
                    raise ValueError(f"{side}[{index}]: {error.message}") from None
                if side not in sides:
                    raise ValueError(f"{side}[{index}]: '{member.name}' has no {side}-side check; "
                                     f"it can only answer (put it under `answer:`)")
        keys = [m.key for m in [*self.input, self.answer, *self.output]]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"{twice} appear more than once; give each a distinct `label`")
        return self


def _verdict(member: str, side: str, blocked: bool, reason: str | None, info: dict[str, Any],
             started: float) -> dict[str, Any]:
    return {"defense": member, "side": side, "blocked": blocked, "reason": reason or None,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3), "info": info}


@register("stack")
class Stack(Defense):
    """Input-side checks, then an answering defense, then output-side checks; every verdict kept."""

    Config = StackConfig
    config: StackConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        cfg = self.config

        def build(member: Member, where: str) -> Defense:
            built = create("defense", member.name, member.args, self.context, f"stack {where}")
            assert isinstance(built, Defense)
            return built

        self.inputs = [(m.key, build(m, f"input[{i}]")) for i, m in enumerate(cfg.input)]
        self.answerer = (cfg.answer.key, build(cfg.answer, "answer"))
        self.outputs = [(m.key, build(m, f"output[{i}]")) for i, m in enumerate(cfg.output)]

    @property
    def members(self) -> list[tuple[str, Defense]]:
        return [*self.inputs, self.answerer, *self.outputs]

    def bind(self, model: Any) -> Defense:
        for _, member in self.members:
            member.bind(model)
        return super().bind(model)

    async def setup(self) -> None:
        for _, member in self.members:
            await member.setup()

    async def _screen(self, messages: list[Message], verdicts: list[dict[str, Any]]) -> DefenseResult | None:
        """Run the input checks; the refusal when one blocks."""
        for key, member in self.inputs:
            started = time.perf_counter()
            check = await member.check_input(messages)
            verdicts.append(_verdict(key, "input", check.blocked, check.reason, check.info, started))
            if check.blocked:
                return self._blocked(check, key, verdicts)
        return None

    async def _review(self, messages: list[Message], answer: DefenseResult,
                      verdicts: list[dict[str, Any]]) -> DefenseResult:
        """The answering defense's verdict, then the output checks of its answer."""
        key = self.answerer[0]
        verdicts.append({"defense": key, "side": "answer", "blocked": answer.blocked,
                         "reason": answer.info.get("reason") or (answer.info.get("verdict") if answer.blocked else None),
                         "latency_ms": None, "info": answer.info})
        if answer.blocked:
            return self._result(answer.response, True, answer, verdicts, key, verdicts[-1]["reason"])
        for member_key, member in self.outputs:
            started = time.perf_counter()
            check = await member.check_output(messages, answer.response)
            verdicts.append(_verdict(member_key, "output", check.blocked, check.reason, check.info, started))
            if check.blocked:
                return self._blocked(check, member_key, verdicts, answer)
        return self._result(answer.response, False, answer, verdicts, None, None)

    def _blocked(self, check: CheckResult, key: str, verdicts: list[dict[str, Any]],
                 answer: DefenseResult | None = None) -> DefenseResult:
        return self._result(check.refusal or self.config.refusal, True, answer, verdicts, key, check.reason or None)

    def _result(self, response: str, blocked: bool, answer: DefenseResult | None, verdicts: list[dict[str, Any]],
                blocked_by: str | None, reason: str | None) -> DefenseResult:
        # The answering defense's own info stays at the top (e.g. r2d's training_run_id, which
        # the defense_training_runs view reads), with the stack's verdicts beside it.
        info = {**(answer.info if answer else {}), "verdicts": verdicts, "blocked_by": blocked_by, "reason": reason}
        return DefenseResult(response, blocked=blocked, reasoning=answer.reasoning if answer else None, info=info)

    async def respond(self, messages: list[Message]) -> DefenseResult:
        verdicts: list[dict[str, Any]] = []
        refused = await self._screen(messages, verdicts)
        if refused is not None:
            return refused
        return await self._review(messages, await self.answerer[1].respond(messages), verdicts)

    async def respond_stream(self, messages: list[Message]) -> AsyncIterator[str | DefenseResult]:
        verdicts: list[dict[str, Any]] = []
        refused = await self._screen(messages, verdicts)
        if refused is not None:
            yield refused
            return
        if self.outputs:  # hold back: nothing leaves before every output check passed
            yield await self._review(messages, await self.answerer[1].respond(messages), verdicts)
            return
        async for item in self.answerer[1].respond_stream(messages):
            yield await self._review(messages, item, verdicts) if isinstance(item, DefenseResult) else item
