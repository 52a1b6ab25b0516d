"""Who is running a run: a lease on its row (host, pid, heartbeat), so one run has one writer.

The process running a run refreshes `runs.heartbeat_at` every HEARTBEAT_SECONDS from a thread
(a blocked event loop, e.g. a synchronous plugin or a long local batch, must not make a live
run look dead). A resume is refused while the lease is live and may take it over once the
heartbeat is older than STALE_SECONDS, or at once when the process is gone from this host
(a crash, kill -9). Times come from the database's clock where it has one (PostgreSQL), so
hosts whose clocks disagree still agree on a heartbeat's age.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from r2d_sdk.store._store import Store

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0  # twelve missed beats: a process this silent is taken for dead

log = logging.getLogger(__name__)


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def gone_from_this_host(run: Any) -> bool:
    """The run's process ran here and no longer exists: its lease can be taken at once."""
    return run.host == this_host() and run.pid is not None and not pid_alive(run.pid)


def live_holder(run: Any, now: datetime) -> str | None:
    """Who holds the run's lease ("host h, pid 12, last heartbeat 3 s ago"), or None when nobody
    does and the run may be taken: it is not running, its heartbeat is stale or missing (a run
    from before leases), or its process is gone from this host."""
    if run.status != "running" or run.heartbeat_at is None:
        return None
    age = (now - run.heartbeat_at).total_seconds()
    if age > STALE_SECONDS or gone_from_this_host(run):
        return None
    return f"host {run.host}, pid {run.pid}, last heartbeat {max(0.0, age):.0f} s ago"


class Heartbeat:
    """Keeps a run's lease fresh while the block runs; `lost` says why, once another process
    has taken the run (this one must then stop writing to it)."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"r2d-heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if self.store.heartbeat(self.run_id):
                    continue
            except Exception as error:  # the database is briefly unreachable: the next beat tries again
                log.warning("run %s: heartbeat failed (%s); retrying in %.0f s", self.run_id, error, HEARTBEAT_SECONDS)
                continue
            if self._stop.is_set():  # the run ended between the wait and the write
                return
            self.lost = (f"run {self.run_id} was taken over by another process (this one's lease went stale: "
                         f"no heartbeat reached the database for {STALE_SECONDS:.0f} s)")
            return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS + 30)  # a beat in flight ends within the DB's timeouts
