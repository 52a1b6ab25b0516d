"""What every in-process model shares: one instance per reference and options, offline loading,
the torch lock, and running blocking torch work off the event loop.

A causal LM (`LocalModel`) and a classifier (`LocalClassifier`) both build on this, and so can a
plugin that needs weights of its own: `LocalWeights.get(...)` caches, `load_pretrained` loads
without the network unless the user allowed the hub, `exclusive()`/`run_exclusive()` keep two
torch jobs from running on one model at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from r2d_sdk._errors import R2DError, missing_package
from r2d_sdk._network import quiet_network_defaults
from r2d_sdk._settings import hub_allowed

T = TypeVar("T")
W = TypeVar("W", bound="LocalWeights")


def resolve_model_folder(ref: str) -> tuple[str, bool]:
    """Map a local model reference to something `from_pretrained` takes, and whether it is on disk."""
    from r2d_sdk.models._embedded import EMBEDDED_ALIASES, embedded_model_folder

    if ref.lower() in EMBEDDED_ALIASES:
        return str(embedded_model_folder()), True
    path = Path(ref).expanduser()
    if path.exists():
        return str(path), True
    return ref, False


def load_pretrained(auto_class: str, ref: str, dtype: str | None = None, purpose: str = "local models",
                    **kwargs: Any) -> tuple[Any, Any]:
    """(tokenizer, model) for a reference, through a transformers Auto class by name
    (`AutoModelForCausalLM`, `AutoModelForSequenceClassification`, ...).

    Files on disk (and the embedded model) load with `local_files_only`; a hub id only when the
    hub is allowed (HF_HUB_OFFLINE unset). Errors name the fix, never a traceback.
    """
    quiet_network_defaults()
    try:
        import torch
        import transformers
    except ImportError as error:
        raise missing_package(error.name or "transformers", purpose) from None
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # our own progress bar is the one that matters
    folder, on_disk = resolve_model_folder(ref)
    local_only = on_disk or not hub_allowed()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=local_only)
        torch_dtype = getattr(torch, dtype) if dtype else None
        model = getattr(transformers, auto_class).from_pretrained(folder, local_files_only=local_only,
                                                                 dtype=torch_dtype, **kwargs)
    except OSError as error:
        raise R2DError(f"could not load local model '{ref}': {error}",
                       fix="give a folder with config.json and weights, `smollm2` for the embedded model, "
                           "or a hub id with HF_HUB_OFFLINE unset and the hub reachable") from None
    return tokenizer, model


def default_device(device: str | None) -> str:
    """The device asked for, else cuda when there is one."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class LocalWeights:
    """Base of in-process models: loaded once per process per (class, reference, options).

    Subclasses load their weights in `__init__` and run every torch call under `exclusive()`.
    """

    _instances: ClassVar[dict[tuple[Any, ...], LocalWeights]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def get(cls: type[W], ref: str, **options: Any) -> W:
        """The process-wide instance for this reference and options (loaded on first use)."""
        key = (cls, ref, tuple(sorted((k, str(v)) for k, v in options.items())))
        with LocalWeights._instances_lock:
            if key not in LocalWeights._instances:
                LocalWeights._instances[key] = cls(ref, **options)
            return LocalWeights._instances[key]  # type: ignore[return-value]

    def __init__(self, ref: str, threads: int | None = None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.ref = ref
        # Re-entrant: a plugin holding it (run_exclusive) may call token_logprobs, which takes it too.
        self._torch_lock = threading.RLock()

    def exclusive(self) -> threading.RLock:
        """The lock every batch and scoring pass holds. A plugin that drives the model itself
        (e.g. SafeDecoding's own decoding loop) holds it too, so the two never run at once: on a
        small CPU two concurrent torch calls each bring their own thread team and slow both.
        """
        return self._torch_lock

    async def run_exclusive(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking torch work in a worker thread, holding this model's lock."""

        def locked() -> T:
            with self._torch_lock:
                return function(*args)

        return await asyncio.to_thread(locked)
