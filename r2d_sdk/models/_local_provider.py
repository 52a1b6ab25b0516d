"""A LiteLLM custom provider (`local/...`) backed by in-process transformers models.

Routing local models through LiteLLM keeps one call path for every model: the same
retries, usage accounting, caching and records as API models.
"""

from __future__ import annotations

from typing import Any

from r2d_sdk._generation import GenerationParams
from r2d_sdk._offline import import_litellm

PROVIDER = "local"
_registered = False
# Options per model reference (batch size, dtype, adapter, ...), set by Model before calling.
LOAD_OPTIONS: dict[str, dict[str, Any]] = {}


def ensure_registered() -> None:
    """Add the provider to LiteLLM's custom provider map once per process."""
    global _registered
    if _registered:
        return
    litellm = import_litellm()
    from litellm import CustomLLM

    class LocalTransformersProvider(CustomLLM):
        async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            from r2d_sdk.models._local import LocalModel

            optional = dict(kwargs.get("optional_params") or {})
            params = GenerationParams(
                temperature=float(optional.get("temperature") or 0.0),
                max_tokens=int(optional.get("max_tokens") or optional.get("max_completion_tokens") or 150),
                top_p=optional.get("top_p"),
                seed=optional.get("seed"),
                stop=[optional["stop"]] if isinstance(optional.get("stop"), str) else optional.get("stop"),
                repetition_penalty=optional.get("repetition_penalty"),
            )
            local = LocalModel.get(model, **LOAD_OPTIONS.get(model, {}))
            result = await local.generate(messages, params)
            return litellm.ModelResponse(
                model=f"{PROVIDER}/{model}",
                choices=[{"index": 0, "finish_reason": result.finish_reason,
                          "message": {"role": "assistant", "content": result.text}}],
                usage={"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                       "total_tokens": result.prompt_tokens + result.completion_tokens},
            )

        def completion(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            raise NotImplementedError("r2d-sdk calls local models asynchronously only")

    litellm.custom_provider_map = [
        *[p for p in litellm.custom_provider_map if p.get("provider") != PROVIDER],
        {"provider": PROVIDER, "custom_handler": LocalTransformersProvider()},
    ]
    # LiteLLM reads the map into its provider list when it is set through its own helper.
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    _registered = True
