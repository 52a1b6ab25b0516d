"""A streamed LiteLLM call: text pieces as the provider sends them, then how the call ended.

`Model.stream` wraps this with the cache, retries and the call record; here is only the wire:
`litellm.acompletion(stream=True)` with usage requested in the last chunk, as OpenAI-compatible
servers (and the local and mock providers) send it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any


@dataclass
class StreamEnd:
    """How a streamed call ended: the finish reason and the usage the provider reported."""

    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


async def litellm_stream(litellm: Any, model_id: str, messages: list[Any],
                         kwargs: dict[str, Any]) -> AsyncGenerator[str | StreamEnd]:
    """Yield the reply's text pieces, then one `StreamEnd`.

    The provider's stream is closed when the caller stops reading early (a defense that has
    seen enough), so a local model stops generating.
    """
    response = await litellm.acompletion(model=model_id, messages=list(messages), stream=True,
                                         stream_options={"include_usage": True}, **kwargs)
    end = StreamEnd()
    try:
        async for chunk in response:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                end.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                end.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            for choice in getattr(chunk, "choices", None) or []:
                if choice.finish_reason:
                    end.finish_reason = choice.finish_reason
                text = getattr(choice.delta, "content", None)
                if text:
                    yield text
    finally:
        close = getattr(response, "aclose", None)
        if close is not None:
            await close()
    yield end
