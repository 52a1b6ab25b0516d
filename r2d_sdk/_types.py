"""Plain data passed between components. Dataclasses, not pydantic: they sit on the hot path."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypedDict


class Message(TypedDict):
    """One chat turn, as LiteLLM and chat templates take it."""

    role: Literal["system", "user", "assistant"]
    content: str


def user(content: str) -> Message:
    """A user turn."""
    return {"role": "user", "content": content}


def system(content: str) -> Message:
    """A system turn."""
    return {"role": "system", "content": content}


def assistant(content: str) -> Message:
    """An assistant turn."""
    return {"role": "assistant", "content": content}


@dataclass(frozen=True)
class Behavior:
    """One dataset item: a behavior to elicit (harmful) or a prompt to answer (benign).

    Attributes:
        id: stable id within its dataset (e.g. the JBB index), used for resume and joins.
        goal: the request itself.
        target: the affirmative opening an attack aims for ("Sure, here is ...").
        category: the dataset's category, if any.
        label: the item's ground truth as the dataset states it ("harmful", "benign", "safe", "unsafe").
        meta: every other column, kept for the record.
    """

    id: str
    goal: str
    target: str = ""
    category: str = ""
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class AttackPrompt:
    """What an attack sends: the conversation and what the attack knows about it."""

    messages: list[Message]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The last user turn: what a judge calls 'the prompt'."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""


@dataclass
class ModelOutput:
    """One generation with its accounting."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cached: bool = False
    retries: int = 0
    # {token: logprob} per generated token, when the call asked for `top_logprobs`.
    top_logprobs: list[dict[str, float]] | None = None
    # The deployment that answered, for a model with several (LiteLLM Router); None otherwise.
    deployment: str | None = None


@dataclass
class DefenseResult:
    """A defended system's answer and what the defense did to produce it.

    Attributes:
        response: the text returned to the user.
        blocked: the defense refused or replaced the answer itself.
        reasoning: any reasoning trace the defense or model produced, kept apart from the response.
        info: intermediate verdicts and parameters, stored as JSON.
    """

    response: str
    blocked: bool = False
    reasoning: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    """One side-check's verdict: an input check on the conversation, or an output check on an answer.

    A defense that can stand in a `stack` before the answer (`Defense.check_input`) or after it
    (`Defense.check_output`) returns this instead of answering.

    Attributes:
        blocked: the check refuses the request (input) or the answer (output).
        reason: why, in a few words a log reader understands ("nll 7.9 > threshold 5.2").
        refusal: what the user gets instead when blocked (None: the stack's default refusal).
        info: the check's figures, stored as JSON with the request or sample.
    """

    blocked: bool
    reason: str = ""
    refusal: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class JudgmentStatus(StrEnum):
    """Whether a judge reached a verdict. Only `scored` judgments enter metrics."""

    SCORED = "scored"
    ERROR = "error"
    UNSCORABLE = "unscorable"


@dataclass
class Judgment:
    """A judge's verdict on one (prompt, response) pair.

    `jailbroken` and `refused` are the two questions metrics ask; a judge sets the ones it
    answers and leaves the others None. Neither is ever set when the status is not `scored`.
    """

    status: JudgmentStatus
    label: str | None = None
    jailbroken: bool | None = None
    refused: bool | None = None
    score: float | None = None
    raw: str | None = None
    error: str | None = None

    @classmethod
    def failed(cls, error: str, raw: str | None = None) -> Judgment:
        """A judgment whose judge call failed."""
        return cls(status=JudgmentStatus.ERROR, error=error, raw=raw)

    @classmethod
    def unscorable(cls, raw: str | None, why: str) -> Judgment:
        """A judgment whose judge answered something that could not be parsed."""
        return cls(status=JudgmentStatus.UNSCORABLE, raw=raw, error=why)


@dataclass(frozen=True)
class MetricValue:
    """An aggregate with its sample size and 95% interval."""

    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
