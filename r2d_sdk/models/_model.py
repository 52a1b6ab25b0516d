"""The one model-call path: cache lookup, LiteLLM (API or local provider), accounting, record."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Protocol

from r2d_sdk._calls import CallRecord, current_stage, record
from r2d_sdk._errors import ModelCallError
from r2d_sdk._generation import GenerationParams
from r2d_sdk._network import import_litellm
from r2d_sdk._types import Message, ModelOutput

if TYPE_CHECKING:
    from r2d_sdk.models._classifier import LocalClassifier
    from r2d_sdk.models._face import LocalLM
    from r2d_sdk.models._mock import MockScript

LOCAL_PREFIX = "local/"
MOCK_PREFIX = "mock/"

# Errors worth another try: the provider was busy or the connection dropped.
_TRANSIENT = ("RateLimitError", "APIConnectionError", "Timeout", "ServiceUnavailableError",
              "InternalServerError", "APIError")


class ResponseCache(Protocol):
    """Stores finished generations by key; the results database implements it."""

    def get(self, key: str) -> ModelOutput | None: ...

    def put(self, key: str, output: ModelOutput) -> None: ...


@functools.lru_cache(maxsize=256)
def params_dict(params: GenerationParams) -> dict[str, Any]:
    """The set fields of (frozen, hashable) params, computed once per distinct value: a hot path."""
    return params.model_dump(exclude_none=True)


def cache_key(model_id: str, api_base: str | None, messages: list[Message], params: GenerationParams,
              extra: dict[str, Any]) -> str:
    """Key of a call: the model, where it is served, the messages and every sampling knob."""
    payload = json.dumps([model_id, api_base, messages, params_dict(params), extra], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class Model:
    """A chat model reached through LiteLLM: an API model or a local transformers model.

    Args:
        name: the name the recipe gives it (what the database calls it).
        model_id: a LiteLLM model string (`openai/gpt-4o-mini`, `ollama/llama3`, ...) or
            `local/<ref>` for an in-process transformers model, where ref is `smollm2` (the
            embedded default), a folder, or a Hugging Face id.
        defaults: generation parameters used unless a call overrides them.
        api_base: the server URL for self-hosted providers.
        api_key: the key itself (expanded from `${ENV}` by the recipe, never stored).
        extra: further LiteLLM keyword arguments (e.g. `mock_response` in tests).
        cache: where deterministic responses are kept between runs.
        max_retries: tries after the first on transient errors.
        local_options: how a `local/...` model is loaded and batched (batch_size, dtype, device,
            chat_template, adapter, ...); sent with each call.
        mock: the script of a `mock/<name>` model (default: answers "OK").
    """

    def __init__(self, name: str, model_id: str, defaults: GenerationParams | None = None, *,
                 api_base: str | None = None, api_key: str | None = None, extra: dict[str, Any] | None = None,
                 cache: ResponseCache | None = None, max_retries: int = 3, local_options: dict[str, Any] | None = None,
                 mock: MockScript | None = None) -> None:
        self.name = name
        self.model_id = model_id
        self.defaults = defaults or GenerationParams()
        self.api_base = api_base
        self._api_key = api_key
        self.extra = dict(extra or {})
        self.cache = cache
        self.max_retries = max_retries
        self.local_options = dict(local_options or {})
        if mock is None and self.is_mock:
            from r2d_sdk.models._mock import MockScript

            mock = MockScript()
        self.mock = mock

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, model_id={self.model_id!r})"

    @property
    def is_local(self) -> bool:
        """True for an in-process transformers model."""
        return self.model_id.startswith(LOCAL_PREFIX)

    @property
    def is_mock(self) -> bool:
        """True for a scripted `mock/<name>` model."""
        return self.model_id.startswith(MOCK_PREFIX)

    def _require_local(self) -> str:
        if not self.is_local:
            raise ModelCallError(f"model '{self.name}' ({self.model_id}) is an API model; this needs a local one",
                                 fix="name a `local/...` model in the recipe for this component")
        return self.model_id[len(LOCAL_PREFIX):]

    @property
    def local(self) -> LocalLM:
        """The loaded local model (tokenizer, torch module, prompt text, scoring). Local models only."""
        from r2d_sdk.models._local import LocalModel

        return LocalModel.get(self._require_local(), **self.local_options)

    def classifier(self, head: str = "sequence", **options: Any) -> LocalClassifier:
        """This local model's weights as a classifier (see `LocalClassifier`), loaded once.

        The model's dtype and device carry over; `options` are the classifier's own (positive,
        yes/no words, batch size, max length).
        """
        from r2d_sdk.models._classifier import LocalClassifier

        carried = {k: v for k, v in self.local_options.items() if k in ("dtype", "device", "threads")}
        return LocalClassifier.get(self._require_local(), head=head, **{**carried, **options})

    def derive(self, name: str, model_id: str, *, defaults: GenerationParams | None = None,
               local_options: dict[str, Any] | None = None) -> Model:
        """Another model that shares this one's response cache and retries (e.g. the checkpoint a
        defense answers with in place of the target)."""
        return Model(name, model_id, defaults or self.defaults, cache=self.cache, max_retries=self.max_retries,
                     local_options=local_options)

    def _keyed_extra(self) -> dict[str, Any]:
        # Weights precision, adapter and prompt format change a local model's answers: a cached
        # float32 answer must not stand in for a bfloat16 one. Batch size only regroups the work.
        changes_output = {k: v for k, v in self.local_options.items() if k in ("dtype", "adapter", "chat_template")
                          and v not in (None, "auto")}
        keyed = {**self.extra, **({"local": changes_output} if changes_output else {})}
        if self.mock is not None:  # a changed script must not be answered from the cache
            keyed["mock"] = self.mock.fingerprint()
        return keyed

    async def generate(self, messages: list[Message], params: GenerationParams | None = None, *,
                       top_logprobs: int | None = None, **overrides: Any) -> ModelOutput:
        """Generate a reply to `messages`.

        Args:
            top_logprobs: also return the N likeliest tokens at each generated position
                (`ModelOutput.top_logprobs`), for API models whose provider supports it. Such
                calls skip the response cache, which keeps text only.

        Raises:
            ModelCallError: the call failed after its retries (it is recorded all the same).
        """
        params = (params or self.defaults).merged(**overrides)
        cache = self.cache if params.deterministic and not top_logprobs else None
        key = cache_key(self.model_id, self.api_base, messages, params, self._keyed_extra()) if cache else ""
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                self._record(messages, params, hit, cache_hit=True)
                return hit
        started = time.perf_counter()
        retries = 0
        while True:
            try:
                output = await self._call_litellm(messages, params, top_logprobs)
                break
            except Exception as error:
                transient = type(error).__name__ in _TRANSIENT
                if transient and retries < self.max_retries:
                    retries += 1
                    await asyncio.sleep(min(8.0, 0.5 * 2 ** retries))
                    continue
                latency = (time.perf_counter() - started) * 1000
                message = f"{type(error).__name__}: {error}"
                record(CallRecord(self.name, self.model_id, [dict(m) for m in messages], dict(params_dict(params)),
                                  None, current_stage(), latency_ms=latency, retries=retries, error=message))
                raise ModelCallError(f"model '{self.name}' call failed: {message}",
                                     fix="check the model string, api_base and API key variable") from error
        output.latency_ms = (time.perf_counter() - started) * 1000
        output.retries = retries
        self._record(messages, params, output, cache_hit=False)
        if cache is not None:
            cache.put(key, output)
        return output

    async def stream(self, messages: list[Message], params: GenerationParams | None = None,
                     **overrides: Any) -> AsyncGenerator[str | ModelOutput]:
        """Generate a reply as a stream: text pieces as they arrive, then the whole `ModelOutput`.

        The same call as `generate` (cache, retries, one call record), streamed: a cached answer
        comes as one piece. A failure before the first piece is retried like any other; after it
        the stream fails, since pieces already handed on cannot be taken back. A caller that
        stops reading early closes the provider's stream (a local model stops generating); the
        call is recorded with what was produced and finish reason `cancelled`.

        Raises:
            ModelCallError: the call failed after its retries (it is recorded all the same).
        """
        from r2d_sdk.models._streaming import StreamEnd, litellm_stream

        params = (params or self.defaults).merged(**overrides)
        cache = self.cache if params.deterministic else None
        key = cache_key(self.model_id, self.api_base, messages, params, self._keyed_extra()) if cache else ""
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            self._record(messages, params, hit, cache_hit=True)
            if hit.text:
                yield hit.text
            yield hit
            return
        started, retries, pieces = time.perf_counter(), 0, []
        end = StreamEnd()
        while True:
            source = litellm_stream(import_litellm(), self.model_id, messages, self._litellm_kwargs(params))
            try:
                async for item in source:
                    if isinstance(item, StreamEnd):
                        end = item
                    else:
                        pieces.append(item)
                        yield item
                break
            except Exception as raised:
                # LiteLLM wraps a provider error met while reading the stream; the original says what it was.
                error = getattr(raised, "original_exception", None) or raised
                if type(error).__name__ in _TRANSIENT and retries < self.max_retries and not pieces:
                    retries += 1
                    await asyncio.sleep(min(8.0, 0.5 * 2 ** retries))
                    continue
                message = f"{type(error).__name__}: {error}"
                record(CallRecord(self.name, self.model_id, [dict(m) for m in messages], dict(params_dict(params)),
                                  "".join(pieces) or None, current_stage(), retries=retries, error=message,
                                  latency_ms=(time.perf_counter() - started) * 1000))
                raise ModelCallError(f"model '{self.name}' call failed: {message}",
                                     fix="check the model string, api_base and API key variable") from error
            except BaseException:  # closed early or cancelled: count what was produced
                output = ModelOutput("".join(pieces), self.name, finish_reason="cancelled", retries=retries,
                                     latency_ms=(time.perf_counter() - started) * 1000)
                self._record(messages, params, output, cache_hit=False)
                raise
            finally:
                await source.aclose()  # now, not when the garbage collector gets to it
        output = ModelOutput("".join(pieces), self.name, prompt_tokens=end.prompt_tokens,
                             completion_tokens=end.completion_tokens, finish_reason=end.finish_reason,
                             latency_ms=(time.perf_counter() - started) * 1000, retries=retries)
        self._record(messages, params, output, cache_hit=False)
        if cache is not None:
            cache.put(key, output)
        yield output

    async def _call_litellm(self, messages: list[Message], params: GenerationParams,
                            top_logprobs: int | None = None) -> ModelOutput:
        litellm = import_litellm()
        kwargs = self._litellm_kwargs(params, top_logprobs)
        response = await litellm.acompletion(model=self.model_id, messages=list(messages), **kwargs)
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return ModelOutput(
            text=choice.message.content or "",
            model=self.name,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            finish_reason=choice.finish_reason,
            top_logprobs=_top_logprobs(choice) if top_logprobs else None,
        )

    def _litellm_kwargs(self, params: GenerationParams, top_logprobs: int | None = None) -> dict[str, Any]:
        """The LiteLLM keyword arguments of one call (a plain or a streamed one)."""
        kwargs: dict[str, Any] = {"temperature": params.temperature, "max_tokens": params.max_tokens}
        if self.is_local or self.is_mock:
            from r2d_sdk.models._providers import LOCAL_OPTIONS_KEY, MOCK_SCRIPT_KEY, ensure_registered

            ensure_registered()
            # With the call, not in a shared table: models sharing a reference keep their own settings.
            if self.is_local:
                kwargs[LOCAL_OPTIONS_KEY] = self.local_options
            else:
                kwargs[MOCK_SCRIPT_KEY] = self.mock
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = params.stop
        if params.repetition_penalty is not None:
            kwargs["repetition_penalty"] = params.repetition_penalty
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=top_logprobs)
        kwargs.update(self.extra)
        return kwargs

    def _record(self, messages: list[Message], params: GenerationParams, output: ModelOutput, cache_hit: bool) -> None:
        record(CallRecord(
            self.name, self.model_id, [dict(m) for m in messages], dict(params_dict(params)), output.text,
            current_stage(), finish_reason=output.finish_reason, prompt_tokens=output.prompt_tokens,
            completion_tokens=output.completion_tokens, latency_ms=0.0 if cache_hit else output.latency_ms,
            cache_hit=cache_hit, retries=output.retries,
        ))


def _top_logprobs(choice: Any) -> list[dict[str, float]] | None:
    """Per generated token, {token: logprob} of its likeliest alternatives (OpenAI's shape)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [{alt.token: float(alt.logprob) for alt in (getattr(item, "top_logprobs", None) or [])}
            or {item.token: float(item.logprob)} for item in content]
