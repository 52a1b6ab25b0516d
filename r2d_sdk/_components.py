"""The plugin base classes: Attack, Defense, Judge, Metric, Dataset.

A component is a class with a `Config` (a pydantic model with `extra="forbid"`) that the
recipe's arguments are validated against, and a constructor taking (config, context).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from r2d_sdk._types import AttackPrompt, Behavior, CheckResult, DefenseResult, Judgment, Message, MetricValue

if TYPE_CHECKING:
    from r2d_sdk._context import Context


class NoConfig(BaseModel):
    """The config of a component that takes no arguments."""

    model_config = ConfigDict(extra="forbid")


class Component:
    """Common shape of every plugin: a name, a kind, a validated config, a context."""

    kind: ClassVar[str] = "component"
    name: ClassVar[str] = ""
    Config: ClassVar[type[BaseModel]] = NoConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        from r2d_sdk._context import Context

        self.config = config if config is not None else self.Config()
        self.context = context if context is not None else Context()

    @classmethod
    def describe(cls) -> str:
        """First line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


# A defended system seen from outside: messages in, answer out. Adaptive attacks get this.
Target = Callable[[list[Message]], Awaitable[DefenseResult]]


class Attack(Component):
    """Turns a behavior into one or more attack prompts.

    Override `prompts`. An adaptive attack may call `target(messages)` to query the defended
    system; every call it makes is recorded like any other.
    """

    kind = "attack"

    async def prompts(self, behavior: Behavior, target: Target) -> list[AttackPrompt]:
        raise NotImplementedError


class Defense(Component):
    """Answers a conversation through the target model, guarding it as it sees fit.

    Override `respond`. `self.model` is the target model; helper models come from
    `self.context.model(name)`.
    """

    kind = "defense"

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The target model this defense guards (a `Model`)."""
        if self._model is None:
            raise RuntimeError(f"defense '{self.name}' has no target model; call bind(model) first")
        return self._model

    def bind(self, model: Any) -> Defense:
        """Attach the target model; the runner does this once per (defense, model)."""
        self._model = model
        return self

    async def setup(self) -> None:
        """Called once before the first sample (e.g. calibrate a threshold)."""

    async def respond(self, messages: list[Message]) -> DefenseResult:
        raise NotImplementedError

    async def respond_stream(self, messages: list[Message]) -> AsyncIterator[str | DefenseResult]:
        """Answer as a stream: text pieces as they become final, then the `DefenseResult`.

        The pieces must be the start of the result's `response` (what follows them is sent as
        the last piece), so a piece once sent is never withdrawn: a defense streams only text
        it will not replace. The default streams nothing early: one result when the answer is
        done. A defense overrides this when part of its answer is final before the whole is
        (`none` passes the model's tokens through; `r2d` streams the answer after `</think>`).
        """
        yield await self.respond(messages)

    async def check_input(self, messages: list[Message]) -> CheckResult:
        """Judge the conversation before any answer is made, without answering (input side).

        Override in defenses that can stand before the answer in a `stack`.
        """
        raise NotImplementedError(f"defense '{self.name}' has no input-side check")

    async def check_output(self, messages: list[Message], response: str) -> CheckResult:
        """Judge an answer already made to the conversation (output side).

        Override in defenses that can stand after the answer in a `stack`.
        """
        raise NotImplementedError(f"defense '{self.name}' has no output-side check")

    @classmethod
    def sides(cls) -> frozenset[str]:
        """Where in a stack this defense can stand besides answering: `input`, `output`, both or none."""
        found = set()
        if cls.check_input is not Defense.check_input:
            found.add("input")
        if cls.check_output is not Defense.check_output:
            found.add("output")
        return frozenset(found)


class Judge(Component):
    """Labels one (prompt, response) pair. Must not raise: failures become `error` judgments."""

    kind = "judge"

    async def setup(self) -> None:
        """Called once before the first sample (e.g. load weights, find a checkpoint); an error
        here stops the run before anything is judged. A judge used without it sets up on first use."""

    def instrument(self) -> dict[str, Any]:
        """What besides its recipe arguments decides this judge's verdicts (after `setup`).

        Part of the judge's identity, so a calibration applies only to the same instrument: a
        judge that loads weights by name returns the hash of the checkpoint it loaded, and a
        judge retrained under the same name is then another judge. Most judges: nothing.
        """
        return {}

    async def judge(self, behavior: Behavior, prompt: str, response: str) -> Judgment:
        raise NotImplementedError


class Metric(Component):
    """Aggregates the judgments of one group (model × attack × defense × judge) into a number."""

    kind = "metric"
    # Which judges' rows it reads; None means every judge.
    judges: ClassVar[Sequence[str] | None] = None

    def compute(self, judgments: Sequence[Judgment]) -> MetricValue | None:
        raise NotImplementedError


class Dataset(Component):
    """Yields behaviors with stable ids."""

    kind = "dataset"

    def items(self) -> Iterable[Behavior]:
        raise NotImplementedError


KINDS: dict[str, type[Component]] = {
    "attack": Attack,
    "defense": Defense,
    "judge": Judge,
    "metric": Metric,
    "dataset": Dataset,
}

__all__ = ["KINDS", "Attack", "Component", "Dataset", "Defense", "Judge", "Metric", "NoConfig", "Target"]
