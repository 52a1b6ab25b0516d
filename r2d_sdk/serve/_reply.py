"""What a Guard answers, and how it fails: plain data shared by the Guard, its stream and the HTTP layer."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from r2d_sdk._errors import R2DError
from r2d_sdk._types import Message

ROLES = ("system", "user", "assistant")


@dataclass
class GuardReply:
    """A guarded answer and what happened on the way.

    Attributes:
        text: what the user gets: the answer, or the refusal when blocked.
        blocked: a defense refused the request or replaced the answer.
        blocked_by: which defense (its label in the stack), when blocked.
        reason: why it blocked, in a few words.
        reasoning: reasoning the defense kept apart from the answer (R2D's `<think>`), never shown.
        verdicts: each defense's verdict in the order they ran (defense, side, blocked, reason, info).
        calls: model calls made answering it; prompt_tokens and completion_tokens add them up.
        latency_ms: the whole request.
        finish_reason: `content_filter` when blocked, else the answering call's (`stop`, `length`).
        request_id: the id of the request (its row in `guard_requests`).
        info: the defense's own record of the answer.
    """

    text: str
    route: str
    request_id: str
    blocked: bool = False
    blocked_by: str | None = None
    reason: str | None = None
    reasoning: str | None = None
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str = "stop"
    info: dict[str, Any] = field(default_factory=dict)


class GuardError(R2DError):
    """A request the guard could not answer: a model call failed (`upstream`), the request took
    longer than the route allows (`timeout`), or a defense crashed (`defense`). Logged as such,
    never as an answer."""

    def __init__(self, message: str, kind: str, request_id: str, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.kind = kind
        self.request_id = request_id

    @property
    def status(self) -> str:
        """The request row's status."""
        return "timeout" if self.kind == "timeout" else "error"

    @property
    def http_status(self) -> int:
        """What the gateway answers: 504 for a timeout, 502 otherwise (the guard or its upstream failed)."""
        return 504 if self.kind == "timeout" else 502


class GuardInputError(R2DError):
    """The conversation handed to a guard is not one it can answer (the gateway's 400)."""

    def __init__(self, message: str, fix: str | None = None, param: str | None = None) -> None:
        super().__init__(message, fix, exit_code=2)
        self.param = param


def serve_extra_missing(package: str | None) -> R2DError:
    """The error when FastAPI or uvicorn is not installed."""
    return R2DError(f"r2d-sdk serve needs {package or 'fastapi and uvicorn'}, which is not installed",
                    fix="pip install 'r2d-sdk[serve]'")


def new_request_id() -> str:
    """An id in OpenAI's completion-id shape."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def client_tag(api_key: str) -> str:
    """A short, stable tag for an API key: tells clients apart in the log without storing the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def normalize_messages(messages: Any) -> list[Message]:
    """The conversation as the defenses take it: role/content dicts with a user turn.

    Raises:
        GuardInputError: naming the message and field that is wrong.
    """
    if not isinstance(messages, list) or not messages:
        raise GuardInputError("messages must be a non-empty list of {role, content}", param="messages")
    turns: list[Message] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise GuardInputError(f"{where} must be an object with role and content", param=where)
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise GuardInputError(f"{where}.role is {role!r}; expected one of {', '.join(ROLES)}", param=f"{where}.role")
        if not isinstance(content, str):
            raise GuardInputError(f"{where}.content must be text", param=f"{where}.content")
        turns.append({"role": role, "content": content})
    if not any(turn["role"] == "user" for turn in turns):
        raise GuardInputError("the conversation has no user message", param="messages")
    return turns
