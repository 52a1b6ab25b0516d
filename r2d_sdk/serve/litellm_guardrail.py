"""An r2d-sdk defense stack as a guardrail of LiteLLM's proxy (its custom-guardrail hooks).

For teams that already run LiteLLM's proxy: the stack's input-side checks run in the pre-call
hook, its output-side checks in the post-call hook (and on streamed answers, which are held back
until the checks passed). The proxy's own model answers, so the stack's answering defense must
be `none`; a route whose answer comes from a defense (R2D, SmoothLLM) is served by
`r2d-sdk serve` instead and named in the proxy as a model (`openai/<route>`, `api_base`).

    guardrails:
      - guardrail_name: r2d-input-output
        litellm_params:
          guardrail: r2d_sdk.serve.litellm_guardrail.R2DGuardrail
          mode: [pre_call, post_call]
          default_on: true
          recipe: /etc/r2d/guard.yaml     # a recipe with a serve: section
          route: chat                     # its route whose stack runs here

A block raises the HTTP 400 LiteLLM's own guardrails raise (an `HTTPException` whose detail
holds `error` and the verdict); the proxy answers it in OpenAI's error shape.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.types.guardrails import GuardrailEventHooks

from r2d_sdk._components import Defense
from r2d_sdk._errors import ConfigError
from r2d_sdk._types import CheckResult, Message
from r2d_sdk.serve._guard import Guard
from r2d_sdk.serve._reply import GuardInputError, normalize_messages

COMPLETION_CALLS = ("completion", "acompletion", "text_completion", "atext_completion")


def _sides(defense: Any) -> tuple[list[tuple[str, Defense]], list[tuple[str, Defense]], str | None]:
    """(input checks, output checks, the answering defense's name) of a stack, or of one defense."""
    if hasattr(defense, "inputs") and hasattr(defense, "answerer"):  # a `stack`
        return list(defense.inputs), list(defense.outputs), defense.answerer[1].name
    sides = type(defense).sides()
    if not sides:
        raise ConfigError(f"defense '{defense.name}' has no input- or output-side check: it can only answer, and in "
                          "LiteLLM's proxy the proxy's model answers",
                          fix="serve it with `r2d-sdk serve` and add that route to the proxy as a model "
                              "(model: openai/<route>, api_base: http://HOST:PORT/v1)")
    key = defense.name
    return ([(key, defense)] if "input" in sides else []), ([(key, defense)] if "output" in sides else []), None


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: the text ones are what a check reads
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _conversation(data: dict[str, Any]) -> list[Message]:
    turns = [{"role": "system" if m.get("role") == "developer" else m.get("role"),
              "content": _text(m.get("content"))} for m in data.get("messages") or [] if isinstance(m, dict)]
    return normalize_messages([t for t in turns if t["role"] in ("system", "user", "assistant")])


def _answer(response: Any) -> str:
    choices = getattr(response, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    return str(getattr(message, "content", None) or "")


class R2DGuardrail(CustomGuardrail):
    """Runs a recipe route's input checks before the proxy's call and its output checks after it.

    Args:
        recipe: a recipe file (or text) with a `serve:` section.
        route: which of its routes (not needed when it has one).
        **kwargs: what LiteLLM passes every guardrail (guardrail_name, event_hook, default_on, ...).
    """

    def __init__(self, recipe: str | None = None, route: str | None = None, **kwargs: Any) -> None:
        if recipe is None:
            raise ConfigError("the r2d-sdk guardrail needs `recipe:` in its litellm_params",
                              fix="add `recipe: /path/to/guard.yaml` (a recipe with a serve: section) and `route:`")
        super().__init__(supported_event_hooks=[GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call],
                         **kwargs)
        self.guard = Guard.from_recipe(recipe, route)
        self.inputs, self.outputs, answerer = _sides(self.guard.defense)
        if answerer not in (None, "none"):
            raise ConfigError(f"route '{self.guard.name}' answers through '{answerer}'; in LiteLLM's proxy the "
                              "proxy's model answers, so only the stack's checks could run here",
                              fix="serve the route with `r2d-sdk serve` and add it to the proxy as a model, or make "
                                  "its answering defense `none`")

    def _blocked(self, key: str, side: str, check: CheckResult) -> HTTPException:
        reason = check.reason or "refused"
        return HTTPException(status_code=400, detail={
            "error": f"Blocked by the r2d-sdk guardrail '{self.guardrail_name}': {key} ({side}): {reason}",
            "guardrail": self.guardrail_name, "defense": key, "side": side, "reason": reason,
            "verdict": check.info.get("verdict")})

    async def _check_answer(self, data: dict[str, Any], answer: str) -> None:
        messages = _conversation(data)
        for key, member in self.outputs:
            check = await member.check_output(messages, answer)
            if check.blocked:
                raise self._blocked(key, "output", check)

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict[str, Any],
                                  call_type: Any) -> dict[str, Any]:
        """Input-side checks; a block raises HTTPException(400). The request passes unchanged."""
        if str(getattr(call_type, "value", call_type)) not in COMPLETION_CALLS or not self.inputs or \
                not self.should_run_guardrail(data, GuardrailEventHooks.pre_call):
            return data
        await self.guard.setup()
        try:
            messages = _conversation(data)
        except GuardInputError as bad:
            raise HTTPException(status_code=400, detail={"error": bad.message}) from None
        for key, member in self.inputs:
            check = await member.check_input(messages)
            if check.blocked:
                raise self._blocked(key, "input", check)
        return data

    async def async_post_call_success_hook(self, data: dict[str, Any], user_api_key_dict: Any, response: Any) -> Any:
        """Output-side checks of the answer; a block raises HTTPException(400)."""
        if self.outputs and self.should_run_guardrail(data, GuardrailEventHooks.post_call):
            await self.guard.setup()
            await self._check_answer(data, _answer(response))
        return response

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict: Any, response: Any,
                                                      request_data: dict[str, Any]) -> AsyncGenerator[Any]:
        """Streamed answers: with output checks, every chunk is held until the whole answer passed."""
        if not self.outputs or not self.should_run_guardrail(request_data, GuardrailEventHooks.post_call):
            async for item in response:
                yield item
            return
        held = [item async for item in response]
        text = "".join(str(getattr(getattr(choice, "delta", None), "content", None) or "")
                       for item in held for choice in (getattr(item, "choices", None) or []))
        await self.guard.setup()
        await self._check_answer(request_data, text)
        for item in held:
            yield item
