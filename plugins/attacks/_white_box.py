"""Shared by the white-box attacks: one optimisation at a time per local model."""

from __future__ import annotations

import threading
from typing import Any

_LOCKS: dict[int, threading.Lock] = {}
_GUARD = threading.Lock()


def model_lock(local: Any) -> threading.Lock:
    """The lock serialising optimisations on one loaded model: parallel ones only thrash the same cores."""
    with _GUARD:
        return _LOCKS.setdefault(id(local), threading.Lock())
