"""The LiteLLM proxy guardrail, in process through LiteLLM's hook interface (no proxy, no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import litellm
import pytest
from fastapi import HTTPException
from litellm.caching.caching import DualCache
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponseStream

from r2d_sdk import ConfigError
from r2d_sdk.serve.litellm_guardrail import R2DGuardrail


def _guardrail(recipe: Path, route: str = "chat", **options: Any) -> R2DGuardrail:
    # What LiteLLM's guardrail registry passes a custom guardrail, plus its litellm_params.
    return R2DGuardrail(guardrail_name="r2d", event_hook=["pre_call", "post_call"],
                        default_on=options.pop("default_on", True), recipe=str(recipe), route=route, **options)


def _answer(text: str) -> litellm.ModelResponse:
    return litellm.ModelResponse(choices=[{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": text}}])


def _request(text: str) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}


def test_input_checks_before_the_call_output_checks_after(serve_recipe: Callable[..., Path]) -> None:
    guardrail = _guardrail(serve_recipe())
    key, cache = UserAPIKeyAuth(), DualCache()

    async def run() -> None:
        data = _request("How do I bake bread?")
        assert await guardrail.async_pre_call_hook(key, cache, data, "completion") is data  # passes unchanged
        answer = _answer("Knead the dough.")
        assert await guardrail.async_post_call_success_hook(data, key, answer) is answer
        with pytest.raises(HTTPException) as raised:
            await guardrail.async_pre_call_hook(key, cache, _request("Build a weapon"), "acompletion")
        assert raised.value.status_code == 400
        assert raised.value.detail == {
            "error": "Blocked by the r2d-sdk guardrail 'r2d': blocklist (input): the request matches 'weapon'",
            "guardrail": "r2d", "defense": "blocklist", "side": "input", "reason": "the request matches 'weapon'",
            "verdict": "blocked"}
        with pytest.raises(HTTPException) as raised:
            await guardrail.async_post_call_success_hook(data, key, _answer("The bomb goes here."))
        assert raised.value.status_code == 400 and raised.value.detail["defense"] == "output-filter"
        # Embeddings and other calls are not conversations: left alone.
        assert await guardrail.async_pre_call_hook(key, cache, {"input": "a weapon"}, "embeddings") == {"input": "a weapon"}

    asyncio.run(run())


def test_streamed_answers_are_held_until_the_output_checks_pass(serve_recipe: Callable[..., Path]) -> None:
    guardrail = _guardrail(serve_recipe())

    def chunks(*pieces: str) -> Any:
        async def stream() -> Any:
            for piece in pieces:
                yield ModelResponseStream(choices=[{"index": 0, "delta": {"content": piece}}])
        return stream()

    async def run() -> None:
        request = _request("Tell me a story")
        passed = [c async for c in guardrail.async_post_call_streaming_iterator_hook(
            UserAPIKeyAuth(), chunks("Once ", "upon ", "a time."), request)]
        assert "".join(c.choices[0].delta.content for c in passed) == "Once upon a time."
        received: list[Any] = []
        with pytest.raises(HTTPException) as raised:
            async for chunk in guardrail.async_post_call_streaming_iterator_hook(
                    UserAPIKeyAuth(), chunks("Step one: ", "the bo", "mb parts."), request):
                received.append(chunk)
        assert raised.value.status_code == 400 and received == []  # no chunk before the block

    asyncio.run(run())


def test_it_runs_only_where_litellm_says_it_should(serve_recipe: Callable[..., Path]) -> None:
    guardrail = _guardrail(serve_recipe(), default_on=False)
    data = _request("Build a weapon")
    # Not on by default and not requested: LiteLLM's should_run_guardrail says no, the request passes.
    assert asyncio.run(guardrail.async_pre_call_hook(UserAPIKeyAuth(), DualCache(), data, "completion")) is data
    data["metadata"] = {"guardrails": ["r2d"]}
    with pytest.raises(HTTPException):
        asyncio.run(guardrail.async_pre_call_hook(UserAPIKeyAuth(), DualCache(), data, "completion"))


def test_routes_whose_answer_comes_from_a_defense_are_refused(serve_recipe: Callable[..., Path]) -> None:
    path = serve_recipe(routes_extra="    reasoning: {model: target, defenses: [r2d-prompt]}\n"
                               "    answering: {model: target, defenses: [blocklist-x, r2d-prompt]}\n"
                               .replace("blocklist-x", "{name: blocklist, args: {patterns: [x]}}"))
    with pytest.raises(ConfigError, match="'r2d-prompt' has no input- or output-side check") as raised:
        _guardrail(path, route="reasoning")
    assert "r2d-sdk serve" in (raised.value.fix or "")
    with pytest.raises(ConfigError, match="answers through 'r2d-prompt'"):
        _guardrail(path, route="answering")
    with pytest.raises(ConfigError, match="needs `recipe:`"):
        R2DGuardrail(guardrail_name="r2d", event_hook="pre_call")
