"""The one model-call path: cache lookup, LiteLLM (API or local provider), accounting, record."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from r2d_sdk._calls import CallRecord, current_stage, record
from r2d_sdk._errors import ConfigError, ModelCallError
from r2d_sdk._generation import GenerationParams
from r2d_sdk._network import import_litellm
from r2d_sdk._redact import redact, register_secret
from r2d_sdk._types import Message, ModelOutput
from r2d_sdk.models._retry import (
    MAX_RETRY_AFTER_S,
    AttemptTimeout,
    is_transient,
    retry_after_seconds,
    retrying,
)
from r2d_sdk.models._router import Deployment, Routing, build_router, failed_at, served_by

if TYPE_CHECKING:
    from r2d_sdk.models._classifier import LocalClassifier
    from r2d_sdk.models._face import LocalLM
    from r2d_sdk.models._mock import MockScript

LOCAL_PREFIX = "local/"
MOCK_PREFIX = "mock/"

# Per attempt, for API (and mock) models: LiteLLM's own default is 6,000 s, so one hung
# request held a run for over an hour. Two minutes is several times a long completion.
API_TIMEOUT_S = 120.0
# Local models get none by default: the call never leaves the process, and its time is the
# batch's compute plus the queue ahead of it, which on a CPU can rightly be many minutes; a
# timeout there would fire on healthy work and its retry would queue the same work again.

# Set by r2d-sdk on every call: a recipe's `params:` must not bring back a second retry layer
# or a timeout that the attempt's own bound does not know about.
_RESERVED_PARAMS = {"timeout": "timeout", "request_timeout": "timeout", "max_retries": "max_retries",
                    "num_retries": "max_retries"}


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
        max_retries: tries after the first on transient errors (the only retries: LiteLLM's and
            the provider client's own are switched off).
        timeout: seconds one attempt may take before it is abandoned and tried again; None for
            the default (API and mock models: `API_TIMEOUT_S`; local models: no limit).
        local_options: how a `local/...` model is loaded and batched (batch_size, dtype, device,
            chat_template, adapter, ...); sent with each call.
        mock: the script of a `mock/<name>` model (default: answers "OK").
        deployments: endpoints that all serve this model, reached through a LiteLLM Router
            (`_router.py`); the cache key, call log and cost stay this model's, and each call
            records the deployment that answered.
        routing: the Router's strategy, allowed failures and cooldown (with `deployments`).
    """

    def __init__(self, name: str, model_id: str, defaults: GenerationParams | None = None, *,
                 api_base: str | None = None, api_key: str | None = None, extra: dict[str, Any] | None = None,
                 cache: ResponseCache | None = None, max_retries: int = 3, timeout: float | None = None,
                 local_options: dict[str, Any] | None = None, mock: MockScript | None = None,
                 deployments: list[Deployment] | None = None, routing: Routing | None = None) -> None:
        reserved = sorted(set(extra or {}) & set(_RESERVED_PARAMS))
        if reserved:
            raise ConfigError(f"model '{name}': params {reserved} are set by r2d-sdk itself",
                              fix=f"use the model's own {sorted({_RESERVED_PARAMS[k] for k in reserved})} "
                                  "field(s) instead (docs/recipes.md, \"Timeouts and retries\")")
        if timeout is not None and not timeout > 0:
            raise ConfigError(f"model '{name}': timeout must be a positive number of seconds, not {timeout}",
                              fix="give timeout in seconds, e.g. 120")
        self.name = name
        self.model_id = model_id
        self.defaults = defaults or GenerationParams()
        self.api_base = api_base
        self._api_key = api_key
        register_secret(api_key)  # no error text, stored or printed, may carry it
        self.extra = dict(extra or {})
        self.cache = cache
        self.max_retries = max_retries
        self._timeout_setting = timeout
        self.timeout: float | None = timeout if timeout is not None else (
            None if model_id.startswith(LOCAL_PREFIX) else API_TIMEOUT_S)
        self.local_options = dict(local_options or {})
        if mock is None and self.is_mock:
            from r2d_sdk.models._mock import MockScript

            mock = MockScript()
        self.mock = mock
        self.deployments = list(deployments or [])
        for deployment in self.deployments:
            register_secret(deployment.api_key)
        self.routing = routing or Routing()
        self._router: Any = None  # built on the first call: LiteLLM loads only when a call is made

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
        """Another model that shares this one's response cache, retries and timeout setting (e.g.
        the checkpoint a defense answers with in place of the target)."""
        return Model(name, model_id, defaults or self.defaults, cache=self.cache, max_retries=self.max_retries,
                     timeout=self._timeout_setting, local_options=local_options)

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
        attempts = 0
        try:
            async for attempt in retrying(self.max_retries):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    output = await self._attempt(messages, params, top_logprobs)
        except Exception as error:
            kind = "Timeout" if isinstance(error, AttemptTimeout) else type(error).__name__
            # Redacted here, where the text is made: a provider may echo the request's key.
            message = redact(f"{kind}: {error}")
            record(CallRecord(self.name, self.model_id, [dict(m) for m in messages], dict(params_dict(params)),
                              None, current_stage(), latency_ms=(time.perf_counter() - started) * 1000,
                              retries=attempts - 1, error=message, deployment=failed_at(error)))
            tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
            # `from None`: the provider's own exception (unredacted) must not reach a printed traceback.
            raise ModelCallError(f"model '{self.name}' call failed after {tries}: {message}",
                                 fix=self._fix_for(error)) from None
        output.latency_ms = (time.perf_counter() - started) * 1000
        output.retries = attempts - 1
        self._record(messages, params, output, cache_hit=False)
        if cache is not None:
            cache.put(key, output)
        return output

    def _fix_for(self, error: Exception) -> str:
        if isinstance(error, AttemptTimeout):
            return (f"raise the model's `timeout:` (now {self.timeout:g} s) or its `max_retries:`, "
                    "or check the server it calls")
        if type(error).__name__ == "RateLimitError":
            return "lower the recipe's `concurrency:` or raise the model's `max_retries:`"
        return "check the model string, api_base and API key variable"

    async def _attempt(self, messages: list[Message], params: GenerationParams,
                       top_logprobs: int | None) -> ModelOutput:
        """One request, bounded by the timeout here too: a provider that ignores LiteLLM's
        `timeout=` (or a connection that trickles bytes) must not hang the call."""
        if self.timeout is None:
            return await self._call_litellm(messages, params, top_logprobs)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for runs the call in a task of its
            # own, from which a Ctrl-C (KeyboardInterrupt) escapes the loop instead of reaching the runner.
            async with asyncio.timeout(self.timeout):
                return await self._call_litellm(messages, params, top_logprobs)
        except TimeoutError:
            raise AttemptTimeout(self.timeout) from None
        except Exception as error:
            if type(error).__name__ == "Timeout":  # LiteLLM's, from the same bound inside the client
                raise AttemptTimeout(self.timeout, str(error)) from None
            raise

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
            client, model = self._client()
            source = litellm_stream(client, model, messages, self._litellm_kwargs(params))
            try:
                async for item in _first_within(source, self.timeout):
                    if isinstance(item, StreamEnd):
                        end = item
                    else:
                        pieces.append(item)
                        yield item
                break
            except Exception as raised:
                # LiteLLM wraps a provider error met while reading the stream; the original says what it was.
                error = getattr(raised, "original_exception", None) or raised
                # The one retry layer, as for generate; once a piece is handed on it cannot be taken back.
                if is_transient(error) and retries < self.max_retries and not pieces:
                    retries += 1
                    asked = retry_after_seconds(error)
                    await asyncio.sleep(min(asked, MAX_RETRY_AFTER_S) if asked is not None
                                        else min(8.0, 0.5 * 2 ** retries))
                    continue
                kind = "Timeout" if isinstance(error, AttemptTimeout) else type(error).__name__
                message = redact(f"{kind}: {error}")
                record(CallRecord(self.name, self.model_id, [dict(m) for m in messages], dict(params_dict(params)),
                                  "".join(pieces) or None, current_stage(), retries=retries, error=message,
                                  latency_ms=(time.perf_counter() - started) * 1000))
                tries = f"{retries + 1} attempt{'s' if retries else ''}"
                raise ModelCallError(f"model '{self.name}' call failed after {tries}: {message}",
                                     fix=self._fix_for(error)) from None
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
        kwargs = self._litellm_kwargs(params, top_logprobs)
        client, model = self._client()
        response = await client.acompletion(model=model, messages=list(messages), **kwargs)
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return ModelOutput(
            text=choice.message.content or "",
            model=self.name,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            finish_reason=choice.finish_reason,
            top_logprobs=_top_logprobs(choice) if top_logprobs else None,
            deployment=served_by(response) if self.deployments else None,
        )

    def _client(self) -> tuple[Any, str]:
        """What takes the call and under which model name: LiteLLM itself, or this model's
        Router (one per model, built on first use) when it has several deployments."""
        if not self.deployments:
            return import_litellm(), self.model_id
        if self._router is None:
            self._router = build_router(self.name, self.deployments, self.routing, self._api_key, self.timeout)
        return self._router, self.name

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
        if self._api_key and not self.deployments:  # a Router gives each deployment its own key
            kwargs["api_key"] = self._api_key
        if top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=top_logprobs)
        kwargs.update(self.extra)
        # One retry layer (generate's): LiteLLM retries `num_retries` times around the OpenAI
        # client, which retries `max_retries` times itself; both off, one attempt is one request.
        kwargs.update(num_retries=0, max_retries=0)
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return kwargs

    def _record(self, messages: list[Message], params: GenerationParams, output: ModelOutput, cache_hit: bool) -> None:
        record(CallRecord(
            self.name, self.model_id, [dict(m) for m in messages], dict(params_dict(params)), output.text,
            current_stage(), finish_reason=output.finish_reason, prompt_tokens=output.prompt_tokens,
            completion_tokens=output.completion_tokens, latency_ms=0.0 if cache_hit else output.latency_ms,
            cache_hit=cache_hit, retries=output.retries, deployment=None if cache_hit else output.deployment,
        ))


def _top_logprobs(choice: Any) -> list[dict[str, float]] | None:
    """Per generated token, {token: logprob} of its likeliest alternatives (OpenAI's shape)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [{alt.token: float(alt.logprob) for alt in (getattr(item, "top_logprobs", None) or [])}
            or {item.token: float(item.logprob)} for item in content]


async def _first_within(source: AsyncIterator[Any], timeout: float | None) -> AsyncIterator[Any]:
    """The stream's items, the first bounded by the attempt timeout (a stream may then run longer)."""
    iterator = source.__aiter__()
    try:
        if timeout is None:
            first = await iterator.__anext__()
        else:
            try:
                async with asyncio.timeout(timeout):
                    first = await iterator.__anext__()
            except TimeoutError:
                raise AttemptTimeout(timeout) from None
    except StopAsyncIteration:
        return
    yield first
    async for item in iterator:
        yield item
