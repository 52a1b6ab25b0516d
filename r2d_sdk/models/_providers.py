"""LiteLLM custom providers: `local/...` (in-process transformers) and `mock/...` (scripted).

Routing them through LiteLLM keeps one call path for every model: the same retries, usage
accounting, caching and records as API models. Everything a call needs travels with the call
(`r2d_local`: the load options; `r2d_mock`: the script), so two recipe models that share a
reference but differ in dtype or adapter never see each other's settings.
"""

from __future__ import annotations

import functools
from typing import Any

from r2d_sdk._generation import GenerationParams
from r2d_sdk._network import import_litellm

LOCAL_OPTIONS_KEY = "r2d_local"
MOCK_SCRIPT_KEY = "r2d_mock"


def _params(optional: dict[str, Any]) -> GenerationParams:
    return GenerationParams(
        temperature=float(optional.get("temperature") or 0.0),
        max_tokens=int(optional.get("max_tokens") or optional.get("max_completion_tokens") or 150),
        top_p=optional.get("top_p"),
        seed=optional.get("seed"),
        stop=[optional["stop"]] if isinstance(optional.get("stop"), str) else optional.get("stop"),
        repetition_penalty=optional.get("repetition_penalty"),
    )


def ensure_registered() -> None:
    """Make sure both providers are in LiteLLM's custom provider map (a cheap check per call:
    code that swaps the map, as a test may, must not leave the SDK without its providers)."""
    litellm = import_litellm()
    providers = _handlers()
    present = {p.get("provider"): p.get("custom_handler") for p in litellm.custom_provider_map}
    if all(present.get(name) is handler for name, handler in providers.items()):
        return
    litellm.custom_provider_map = [
        *[p for p in litellm.custom_provider_map if p.get("provider") not in providers],
        *({"provider": name, "custom_handler": handler} for name, handler in providers.items()),
    ]
    # LiteLLM reads the map into its provider list when it is set through its own helper.
    from litellm.utils import custom_llm_setup

    custom_llm_setup()


@functools.cache
def _handlers() -> dict[str, Any]:
    """The two provider objects, made once per process."""
    litellm = import_litellm()
    from litellm import CustomLLM

    class LocalTransformersProvider(CustomLLM):
        async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            from r2d_sdk.models._local import LocalModel

            optional = dict(kwargs.get("optional_params") or {})
            local = LocalModel.get(model, **(optional.get(LOCAL_OPTIONS_KEY) or {}))
            result = await local.generate(messages, _params(optional))
            return litellm.ModelResponse(
                model=f"local/{model}",
                choices=[{"index": 0, "finish_reason": result.finish_reason,
                          "message": {"role": "assistant", "content": result.text}}],
                usage={"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                       "total_tokens": result.prompt_tokens + result.completion_tokens},
            )

        async def astreaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            from r2d_sdk.models._local import LocalModel

            optional = dict(kwargs.get("optional_params") or {})
            local = LocalModel.get(model, **(optional.get(LOCAL_OPTIONS_KEY) or {}))
            pieces = local.stream(messages, _params(optional))
            try:
                async for item in pieces:
                    if isinstance(item, str):
                        yield _chunk(item)
                    else:
                        yield _chunk("", item.finish_reason, item.prompt_tokens, item.completion_tokens)
            finally:
                await pieces.aclose()  # a reader that stopped early stops the generation

        def completion(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            raise NotImplementedError("r2d-sdk calls local models asynchronously only")

    class ScriptedProvider(CustomLLM):
        async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            from r2d_sdk.models._mock import mock_response

            optional = kwargs.get("optional_params") or {}
            script = optional.get(MOCK_SCRIPT_KEY)
            if script is None:
                raise ValueError(f"mock/{model} was called without a script: build it as Model(..., mock=MockScript(...))")
            reply = await script.answer(messages)
            # Like a real provider: log-probabilities only when the call asked for them.
            return mock_response(litellm, model, messages, reply, with_logprobs=bool(optional.get("logprobs")))

        async def astreaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            from r2d_sdk.models._mock import mock_usage, stream_pieces

            optional = kwargs.get("optional_params") or {}
            script = optional.get(MOCK_SCRIPT_KEY)
            if script is None:
                raise ValueError(f"mock/{model} was called without a script: build it as Model(..., mock=MockScript(...))")
            reply = await script.answer(messages)
            for piece in stream_pieces(reply.text):
                yield _chunk(piece)
            yield _chunk("", reply.finish_reason, *mock_usage(messages, reply.text))

        def completion(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            raise NotImplementedError("r2d-sdk calls mock models asynchronously only")

    return {"local": LocalTransformersProvider(), "mock": ScriptedProvider()}


def _chunk(text: str, finish_reason: str | None = None, prompt_tokens: int = 0, completion_tokens: int = 0) -> Any:
    """One LiteLLM `GenericStreamingChunk`; the last one carries the finish reason and the usage."""
    last = finish_reason is not None
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens} if last else None
    return {"text": text, "is_finished": last, "finish_reason": finish_reason or "", "usage": usage, "index": 0,
            "tool_use": None}
