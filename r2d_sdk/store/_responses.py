"""The response cache: finished deterministic generations by call key, in the results database.

Models are handed this table (`Store.responses`); a repeated greedy call is answered from it.
New entries are buffered and written with the next batch of samples, or on `flush`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from r2d_sdk._types import ModelOutput
from r2d_sdk.store._schema import CachedResponse


class ResponseTable:
    """`get`/`put` by key (the `ResponseCache` protocol models take), backed by `response_cache`."""

    def __init__(self, engine: Engine, lock: threading.Lock) -> None:
        self.engine = engine
        self._lock = lock  # the store's write lock: one writer at a time
        self._pending: dict[str, ModelOutput] = {}
        self._keys: set[str] | None = None  # loaded on first lookup; misses then cost no query

    def get(self, key: str) -> ModelOutput | None:
        pending = self._pending.get(key)
        if pending is not None:
            return ModelOutput(**{**pending.__dict__, "cached": True, "latency_ms": 0.0})
        if self._keys is None:
            with self.engine.connect() as connection:
                self._keys = set(connection.execute(select(CachedResponse.key)).scalars())
        if key not in self._keys:
            return None
        with self.engine.connect() as connection:
            row = connection.execute(select(CachedResponse).where(CachedResponse.key == key)).first()
        if row is None:
            return None
        return ModelOutput(text=row.response, model=row.model_id, prompt_tokens=row.prompt_tokens,
                           completion_tokens=row.completion_tokens, finish_reason=row.finish_reason, cached=True)

    def put(self, key: str, output: ModelOutput) -> None:
        # Buffered: written with the next sample batch, or on flush.
        self._pending[key] = output
        if self._keys is not None:
            self._keys.add(key)

    def flush(self) -> None:
        """Write the buffered entries now."""
        with self._lock, self.engine.begin() as connection:
            self.flush_into(connection)

    def flush_into(self, connection: Any) -> None:
        """Write the buffered entries inside a transaction the caller holds (and its lock)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        # In key order: two processes caching the same calls then take the rows' locks in one order.
        # In the order calls finished, each could hold a key the other waits for (PostgreSQL deadlock).
        rows = [{"key": k, "model_id": o.model, "response": o.text, "finish_reason": o.finish_reason,
                 "prompt_tokens": o.prompt_tokens, "completion_tokens": o.completion_tokens,
                 "created_at": datetime.now(UTC)} for k, o in sorted(pending.items())]
        # Another process (or Store) may have cached the same call meanwhile: first writer wins.
        from sqlalchemy.dialects import postgresql, sqlite

        dialect: Any = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        connection.execute(dialect.insert(CachedResponse).on_conflict_do_nothing(index_elements=["key"]), rows)
