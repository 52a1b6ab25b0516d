"""The one retry layer of a model call: what is tried again, and how long to wait first.

LiteLLM's and the OpenAI client's own retries are switched off for every call (see
`Model._call_litellm`), so each attempt here is one request to the provider and
`model_calls.retries` is true to what was sent.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

# LiteLLM's names for failures worth another try: the provider was busy, the connection
# dropped, the server erred, or (a model with deployments) the Router has every deployment
# cooled down for now. An authentication or bad-request error fails at once.
TRANSIENT = frozenset({"RateLimitError", "APIConnectionError", "Timeout", "ServiceUnavailableError",
                       "InternalServerError", "APIError", "RouterRateLimitError"})

# A provider asking for a longer pause than this is out of quota, not briefly busy: wait the
# cap, try once more, and let the call fail (a resumed run retries it later) rather than hold
# a worker for many minutes.
MAX_RETRY_AFTER_S = 60.0

# Without a Retry-After: 0.5-1 s, 1-1.5 s, 2-2.5 s, ... up to 8 s. The jitter keeps many
# concurrent callers that failed together from coming back together.
_backoff = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)


class AttemptTimeout(TimeoutError):
    """One attempt got no answer within the model's timeout (transient: it is tried again)."""

    def __init__(self, seconds: float, detail: str | None = None) -> None:
        super().__init__(f"timed out after {seconds:g} s" + (f" ({detail})" if detail else ""))
        self.seconds = seconds


def is_transient(error: BaseException) -> bool:
    """True for a failure another attempt may not meet: busy, dropped, timed out, server error."""
    return isinstance(error, AttemptTimeout) or type(error).__name__ in TRANSIENT


def _response_headers(error: BaseException) -> Mapping[str, Any]:
    """The provider's response headers, where LiteLLM or the OpenAI client left them."""
    for headers in (getattr(error, "litellm_response_headers", None),
                    getattr(getattr(error, "response", None), "headers", None),
                    getattr(error, "headers", None)):
        if headers:
            return {str(k).lower(): v for k, v in dict(headers).items()}
    return {}


def retry_after_seconds(error: BaseException, now: float | None = None) -> float | None:
    """How long the provider asked the caller to wait (`retry-after-ms`, or `Retry-After` in
    seconds or as an HTTP date), or None when it did not say. For a Router with every
    deployment cooled down: its cooldown, the longest any of them can still be out."""
    if type(error).__name__ == "RouterRateLimitError":
        cooldown = getattr(error, "cooldown_time", None)
        return max(0.0, float(cooldown)) if isinstance(cooldown, int | float) else None
    headers = _response_headers(error)
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(str(value))
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
    except (TypeError, ValueError, OverflowError):  # a malformed header is no instruction
        return None


def wait_before_retry(state: RetryCallState) -> float:
    """Seconds to wait before the next attempt: what the provider asked for (capped, plus a
    little jitter), none after a timeout (the attempt itself already waited its full
    timeout), else exponential backoff with jitter."""
    error = state.outcome.exception() if state.outcome is not None else None
    if isinstance(error, AttemptTimeout):
        return 0.0
    asked = retry_after_seconds(error) if error is not None else None
    if asked is not None:
        return min(asked, MAX_RETRY_AFTER_S) + random.uniform(0, 0.25)
    return float(_backoff(state))


def retrying(max_retries: int) -> AsyncRetrying:
    """The retry loop of one call: up to `max_retries` attempts after the first, transient
    failures only; the last failure is raised as it is."""
    return AsyncRetrying(stop=stop_after_attempt(max_retries + 1), retry=retry_if_exception(is_transient),
                         wait=wait_before_retry, reraise=True)
