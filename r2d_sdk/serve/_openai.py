"""OpenAI's chat-completions wire format: the request model, completions, stream chunks, errors.

The request model is what the OpenAPI schema shows (and what Schemathesis fuzzes); fields
clients commonly send and a guard has no use for are accepted and ignored, the sampling ones
included: a route answers with the recipe's generation settings, exactly as it was evaluated.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from r2d_sdk._types import Message
from r2d_sdk.serve._reply import GuardInputError, GuardReply

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
               405: "invalid_request_error", 413: "invalid_request_error", 502: "upstream_error",
               504: "timeout_error", 500: "server_error"}


class ContentPart(BaseModel):
    """One part of a message's content; only text parts can be guarded."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(description="system, developer (read as system), user or assistant")
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """`POST /v1/chat/completions`: `model` names a route."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="the route to answer through (GET /v1/models lists them)")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, description="only 1 is supported")
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    tools: list[Any] | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """OpenAI's error shape."""

    error: ErrorDetail


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None,
               **extra: Any) -> dict[str, Any]:
    detail = {"message": message, "type": ERROR_TYPES.get(status, "invalid_request_error"), "param": param,
              "code": code, **extra}
    return {"error": detail}


def guard_messages(request: ChatRequest, max_messages: int) -> list[Message]:
    """The request's conversation as a guard takes it.

    Raises:
        GuardInputError: too many messages, a role or content a guard cannot take, n > 1, tools.
    """
    if len(request.messages) > max_messages:
        raise GuardInputError(f"{len(request.messages)} messages is more than this gateway takes ({max_messages})",
                              param="messages")
    if request.n not in (None, 1):
        raise GuardInputError("only n = 1 is supported", param="n")
    if request.tools:
        raise GuardInputError("tools are not supported: a guarded route answers with text", param="tools")
    turns: list[Message] = []
    for index, message in enumerate(request.messages):
        where = f"messages[{index}]"
        role = "system" if message.role == "developer" else message.role
        if role not in ("system", "user", "assistant"):
            raise GuardInputError(f"{where}.role {message.role!r} is not supported; use system, user or assistant",
                                  param=f"{where}.role")
        content = message.content
        if isinstance(content, list):
            if any(part.type != "text" or part.text is None for part in content):
                raise GuardInputError(f"{where}.content: only text parts are supported", param=f"{where}.content")
            content = "".join(part.text or "" for part in content)
        if content is None:
            raise GuardInputError(f"{where}.content is missing", param=f"{where}.content")
        turns.append({"role": role, "content": content})  # type: ignore[typeddict-item]
    return turns


def guard_field(reply: GuardReply) -> dict[str, Any]:
    """The extra `guard` field: whether it was blocked, by which defense and why, and the request id."""
    return {"blocked": reply.blocked, "defense": reply.blocked_by, "reason": reply.reason,
            "request_id": reply.request_id}


def usage(reply: GuardReply) -> dict[str, int]:
    """Tokens of every model call the request took (the defenses' own included)."""
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens}


def completion(reply: GuardReply) -> dict[str, Any]:
    """A `chat.completion` object for a reply."""
    return {"id": reply.request_id, "object": "chat.completion", "created": int(time.time()), "model": reply.route,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": usage(reply), "guard": guard_field(reply)}


def chunk(request_id: str, route: str, created: int, delta: dict[str, Any],
          finish_reason: Literal["stop", "length", "content_filter"] | str | None = None,
          **extra: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` object."""
    return {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": route,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **extra}


def usage_chunk(request_id: str, route: str, created: int, reply: GuardReply) -> dict[str, Any]:
    """The last chunk when the client asked for `stream_options.include_usage`: no choices, the usage."""
    return {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": route, "choices": [],
            "usage": usage(reply)}
