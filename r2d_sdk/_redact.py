"""Secrets out of error text before it is stored or printed.

A provider's error may echo the request (its Authorization header, the key in a URL), and
that text becomes `samples.error`, `model_calls.error`, `judgments.error` and the CLI's
message. `redact` removes every key this process was configured with (`register_secret`:
each `Model` adds its own) and anything shaped like a credential, whoever's it is.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import overload

REDACTED = "[REDACTED]"

# Shorter values are not keys (a local server's dummy "EMPTY", "none"); redacting every
# occurrence of them would garble messages without protecting anything.
MIN_SECRET_LENGTH = 6

# Credential shapes, for keys nobody registered (a provider echoing some other header).
# Each keeps what names the value (group 1) and replaces the value itself.
_SHAPES = [
    # "Authorization: Bearer x", 'authorization': 'Basic x', proxy-authorization=x: the
    # scheme word and the credential after it, not the rest of the sentence.
    re.compile(r"""(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:[A-Za-z]+\s+)?[^"'\s,;}]+"""),
    # x-api-key: x, "api-key": "x", api_key=x (a URL query or a repr of keyword arguments)
    re.compile(r"""(?i)((?:x-)?(?:api|access|secret)[-_]?(?:key|token)["']?\s*[:=]\s*["']?)[^"'\s,;&}]+"""),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    # OpenAI / Anthropic (sk-..., sk-proj-..., sk-ant-...), Hugging Face, Google API keys.
    re.compile(r"()\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"()\bhf_[A-Za-z0-9]{20,}"),
    re.compile(r"()\bAIza[0-9A-Za-z_-]{30,}"),
]

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a configured key, so that no error text carries it from now on."""
    if value is None or len(value.strip()) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.add(value.strip())


@functools.lru_cache(maxsize=8)
def _known_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    if not secrets:
        return None
    # Longest first: a key that contains another must go whole.
    return re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))


@overload
def redact(text: str) -> str: ...


@overload
def redact(text: None) -> None: ...


def redact(text: str | None) -> str | None:
    """`text` with every registered key and every credential-shaped value replaced by [REDACTED]."""
    if not text:
        return text
    with _lock:
        known = _known_pattern(frozenset(_secrets))
    if known is not None:
        text = known.sub(REDACTED, text)
    for shape in _SHAPES:
        text = shape.sub(lambda match: match.group(1) + REDACTED, text)
    return text
