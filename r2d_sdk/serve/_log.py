"""The request log: answered requests go to the results database in batches, off the request path.

`add` only puts the record on a queue, so writing never holds a response back. A writer thread
takes what has queued (up to FLUSH_ROWS, or what came within FLUSH_SECONDS of the first) and
writes it in one transaction; a failed write is tried again with a growing pause. `close`
writes everything still queued before it returns: nothing is lost on a clean shutdown.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from r2d_sdk._calls import CallRecord

if TYPE_CHECKING:
    from r2d_sdk.store import RequestRecord, Store

logger = logging.getLogger("r2d_sdk.serve")

FLUSH_ROWS = 256
FLUSH_SECONDS = 0.2
WRITE_TRIES = 6

_STOP = object()


class RequestLog:
    """Writes gateway requests (and calls made outside any request, e.g. setup) to a store.

    Args:
        store: the results database.
        owns_store: close the store when the log closes.
    """

    def __init__(self, store: Store, owns_store: bool = False) -> None:
        self.store = store
        self.owns_store = owns_store
        self.written = 0
        self.lost = 0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._queued = 0
        self._count_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="r2d-request-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a script that never calls close() still writes what it queued

    @property
    def pending(self) -> int:
        """Records queued and not yet written."""
        return self._queued

    def add(self, record: RequestRecord) -> None:
        """Queue one answered request (never blocks)."""
        self._put(record)

    def add_orphans(self, calls: list[CallRecord]) -> None:
        """Queue model calls made outside any request (a defense's setup, a calibration)."""
        if calls:
            self._put(list(calls))

    def _put(self, item: object) -> None:
        if self._closed:
            raise RuntimeError("the request log is closed")
        with self._count_lock:
            self._queued += 1
        self._queue.put(item)

    def close(self, timeout: float = 60.0) -> None:
        """Write everything queued, stop the writer and (if owned) close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("the request log did not finish writing within %.0f s; %d records pending",
                         timeout, self._queued)
        if self.owns_store:
            self.store.close()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + FLUSH_SECONDS
            while batch[-1] is not _STOP and len(batch) < FLUSH_ROWS:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = batch[-1] is _STOP
            items = [item for item in batch if item is not _STOP]
            if items:
                self._write(items)
            if stopping:
                return

    def _write(self, items: list[object]) -> None:
        from r2d_sdk.store import RequestRecord

        records = [item for item in items if isinstance(item, RequestRecord)]
        orphans = [call for item in items if isinstance(item, list) for call in item]
        for attempt in range(WRITE_TRIES):
            try:
                self.store.write_requests(records)
                self.store.write_orphan_calls(None, orphans)
                self.written += len(records)
                break
            except Exception as error:  # the database is busy or gone: try again, then say what was lost
                if attempt == WRITE_TRIES - 1:
                    self.lost += len(records)
                    logger.error("could not write %d request rows to %s: %s", len(records), self.store.display_url,
                                 error)
                else:
                    logger.warning("writing %d request rows failed (%s); trying again", len(records), error)
                    time.sleep(min(5.0, 0.2 * 2 ** attempt))
        with self._count_lock:
            self._queued -= len(items)
