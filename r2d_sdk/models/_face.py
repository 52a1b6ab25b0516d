"""What a scoring or decoding plugin may use of an in-process model: `Model.local` returns this.

A perplexity filter, SafeDecoding, erase-and-check, back-translation, random search and GCG
need the tokenizer, the torch module, the exact prompt text and log-probabilities. They get
them through this protocol, not through the backend class, so the backend can change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from r2d_sdk._generation import GenerationParams
from r2d_sdk._types import Message

T = TypeVar("T")


@runtime_checkable
class LocalLM(Protocol):
    """An in-process causal language model.

    Attributes:
        tokenizer: its Hugging Face tokenizer (left padding).
        model: the torch module (`PreTrainedModel`, or a PEFT wrapper of one).
        device: where it runs (`cpu`, `cuda`, ...).
    """

    tokenizer: Any
    model: Any
    device: str

    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        """The exact prompt text the model sees for these messages."""
        ...

    def token_logprobs(self, text: str, prefix: str = "") -> list[float]:
        """Log-probability of each token of `text` given `prefix` (blocking; takes the lock)."""
        ...

    def mean_nll(self, text: str) -> float:
        """Mean negative log-likelihood per token of `text`."""
        ...

    def decoding_kwargs(self, params: GenerationParams, max_new_tokens: int) -> dict[str, Any]:
        """`generate` keyword arguments for these settings (greedy or sampled)."""
        ...

    def end_ids(self) -> set[int]:
        """Every token id that ends a generation."""
        ...

    def exclusive(self) -> threading.RLock:
        """The lock every torch call on this model holds; hold it to drive the model yourself."""
        ...

    async def run_exclusive(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking torch work in a worker thread, holding the lock."""
        ...
