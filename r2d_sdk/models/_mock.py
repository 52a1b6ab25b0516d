"""A scripted model (`mock/<name>`): canned replies, a latency, a failure pattern, a history.

It is a LiteLLM custom provider like the local one, so a mocked call takes the same path as a
real one: the response cache, retries, the call log. Tests and plugin authors use it instead
of fakes that override `generate`:

    model = Model("target", "mock/target", mock=MockScript(replies=["Sure, here is how."]))

or, in a recipe,

    models:
      target:
        model: mock/target
        mock: {replies: ["Sure, here is how."], latency_ms: 50, failures: [null, rate_limit]}
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from r2d_sdk._errors import ConfigError
from r2d_sdk._types import Message

# What a failure in the pattern raises: LiteLLM's own exception classes, so retries treat a
# mocked failure exactly as they treat a provider's.
FAILURES = {
    "rate_limit": "RateLimitError",
    "timeout": "Timeout",
    "connection": "APIConnectionError",
    "server": "InternalServerError",
    "unavailable": "ServiceUnavailableError",
    "auth": "AuthenticationError",
    "bad_request": "BadRequestError",
}


@dataclass
class MockReply:
    """One scripted answer; `top_logprobs` gives {token: logprob} per generated token."""

    text: str
    top_logprobs: list[dict[str, float]] | None = None
    finish_reason: str = "stop"


Reply = str | MockReply | BaseException


@dataclass
class MockScript:
    """What a mock model answers and how.

    Attributes:
        replies: answers used in turn (cycled), or a function of the messages returning a text,
            a `MockReply`, or an exception to raise.
        rules: (regex, reply) pairs tried on the last user turn first; the first match answers.
        latency_ms: how long every call takes.
        failures: an outcome per call, cycled: None answers, a name from FAILURES raises that
            LiteLLM error (so `[None, None, "rate_limit"]` fails every third call).
        history: every conversation the model was sent, in order (failed calls included).
    """

    replies: Sequence[Reply] | Callable[[list[Message]], Reply] = ("OK",)
    rules: Sequence[tuple[str, str]] = ()
    latency_ms: float = 0.0
    failures: Sequence[str | None] = ()
    history: list[list[Message]] = field(default_factory=list)
    calls: int = 0

    def __post_init__(self) -> None:
        unknown = sorted({f for f in self.failures if f is not None and f not in FAILURES})
        if unknown:
            raise ConfigError(f"mock failures {unknown} are not known", fix=f"use null or one of {sorted(FAILURES)}")
        if not callable(self.replies) and not self.replies:
            raise ConfigError("a mock model needs at least one reply", fix="give mock.replies a list of answers")
        self._rules = [(re.compile(pattern), reply) for pattern, reply in self.rules]

    @classmethod
    def from_spec(cls, spec: Any) -> MockScript:
        """From a recipe's `mock:` section (replies, when, latency_ms, failures)."""
        return cls(replies=list(spec.replies), rules=[(rule.match, rule.reply) for rule in spec.when],
                   latency_ms=spec.latency_ms, failures=list(spec.failures))

    def fingerprint(self) -> str:
        """What the response cache keys on: a changed script must not be served old answers."""
        replies = getattr(self.replies, "__qualname__", None) if callable(self.replies) else \
            [r if isinstance(r, str) else repr(r) for r in self.replies]
        return json.dumps([replies, list(self.rules)], default=str)

    async def answer(self, messages: list[Message]) -> MockReply:
        """The next reply (or the next failure), after the scripted latency."""
        index = self.calls
        self.calls += 1
        self.history.append([dict(m) for m in messages])  # type: ignore[misc]
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        failure = self.failures[index % len(self.failures)] if self.failures else None
        if failure is not None:
            raise _litellm_error(failure)
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        reply: Reply
        matched = next((reply for pattern, reply in self._rules if pattern.search(last)), None)
        if matched is not None:
            reply = matched
        elif callable(self.replies):
            reply = self.replies(messages)
        else:
            reply = self.replies[index % len(self.replies)]
        if isinstance(reply, BaseException):
            raise _as_litellm_error(reply)
        return reply if isinstance(reply, MockReply) else MockReply(str(reply))


def _as_litellm_error(error: BaseException) -> BaseException:
    """A scripted exception as the provider error it stands for. LiteLLM would wrap any other
    exception as a (retried) connection error; a scripted one is a failed call, not a flaky one."""
    import litellm

    if isinstance(error, litellm.exceptions.APIError | litellm.exceptions.OpenAIError):
        return error
    return litellm.BadRequestError(message=f"{type(error).__name__}: {error}", llm_provider="mock", model="mock")


def _litellm_error(failure: str) -> Exception:
    import litellm

    cls = getattr(litellm, FAILURES[failure])
    message = f"mock failure: {failure}"
    if failure == "timeout":
        return cls(message, model="mock", llm_provider="mock")  # type: ignore[no-any-return]
    if failure in ("server", "unavailable", "rate_limit", "auth", "bad_request", "connection"):
        return cls(message=message, llm_provider="mock", model="mock")  # type: ignore[no-any-return]
    return cls(message)  # type: ignore[no-any-return]


def mock_response(litellm: Any, name: str, messages: list[Message], reply: MockReply, with_logprobs: bool = False) -> Any:
    """The LiteLLM response for a scripted reply; usage counts whitespace-separated words."""
    prompt_tokens, completion = mock_usage(messages, reply.text)
    choice: dict[str, Any] = {"index": 0, "finish_reason": reply.finish_reason,
                              "message": {"role": "assistant", "content": reply.text}}
    if with_logprobs and reply.top_logprobs is not None:
        choice["logprobs"] = {"content": [
            {"token": max(alts, key=alts.__getitem__) if alts else "", "logprob": max(alts.values()) if alts else 0.0,
             "bytes": None, "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in alts.items()]}
            for alts in reply.top_logprobs]}
    return litellm.ModelResponse(model=f"mock/{name}", choices=[choice],
                                 usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                                        "total_tokens": prompt_tokens + completion})


def mock_usage(messages: list[Message], text: str) -> tuple[int, int]:
    """(prompt, completion) tokens of a scripted call: whitespace-separated words."""
    return sum(len(str(m.get("content") or "").split()) for m in messages), len(text.split())


def stream_pieces(text: str) -> list[str]:
    """A scripted reply as a stream sends it: word by word, each with the space that follows it."""
    return re.findall(r"\S+\s*|\s+", text)
