"""Two processes writing one PostgreSQL database at once: the response cache they share never deadlocks."""

from __future__ import annotations

import threading

from postgres_databases import postgres_database
from sqlalchemy import func, select

from r2d_sdk._types import ModelOutput
from r2d_sdk.store import CachedResponse, Store


def test_two_stores_caching_the_same_calls_in_opposite_orders_both_commit() -> None:
    """Each store caches the same calls, finished in opposite orders (as two runs of one recipe
    do). Written in that order, each transaction held a key the other waited for: PostgreSQL
    aborted one with DeadlockDetected, and that run failed."""
    keys = [f"{i:064x}" for i in range(3000)]
    with postgres_database() as url:
        stores = [Store(url), Store(url)]
        for store, order in zip(stores, (keys, keys[::-1]), strict=True):
            for key in order:
                store.responses.put(key, ModelOutput(text="Sure.", model="mock/target"))
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def flush(store: Store) -> None:
            start.wait()
            try:
                store.responses.flush()
            except BaseException as error:  # collected: an exception in a thread would be lost
                errors.append(error)

        threads = [threading.Thread(target=flush, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        with stores[0].engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(CachedResponse)).scalar() == len(keys)
        for store in stores:
            store.close()
