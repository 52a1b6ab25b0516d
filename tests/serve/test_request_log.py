"""The request log: adding never waits for the database; batches; retries; nothing lost on close."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from r2d_sdk.serve import RequestLog
from r2d_sdk.serve import _log as log_module
from r2d_sdk.store import RequestRecord


class SlowStore:
    """Stands in for a Store whose writes take long, fail a few times, or always fail."""

    display_url = "sqlite:///fake.db"

    def __init__(self, delay: float = 0.0, failures: int = 0) -> None:
        self.delay, self.failures = delay, failures
        self.batches: list[list[RequestRecord]] = []
        self.closed = False
        self.lock = threading.Lock()

    def write_requests(self, records: list[RequestRecord]) -> None:
        time.sleep(self.delay)
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise OSError("database is locked")
            self.batches.append(list(records))

    def write_orphan_calls(self, run_id: object, calls: list[object]) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _record(i: int) -> RequestRecord:
    return RequestRecord(request_id=f"chatcmpl-{i}", route="r", client=None, model="m", model_id="mock/m",
                         defense="none", messages=[{"role": "user", "content": str(i)}], response="ok")


def test_adding_never_waits_for_the_database_and_close_writes_everything() -> None:
    store = SlowStore(delay=0.5)
    log = RequestLog(store, owns_store=True)  # type: ignore[arg-type]
    started = time.perf_counter()
    for i in range(600):
        log.add(_record(i))
    assert time.perf_counter() - started < 0.25  # 600 adds while a write takes 0.5 s
    log.close()
    written = [r.request_id for batch in store.batches for r in batch]
    assert written == [f"chatcmpl-{i}" for i in range(600)] and log.written == 600 and log.pending == 0
    assert len(store.batches) >= 3 and max(map(len, store.batches)) <= log_module.FLUSH_ROWS  # batched
    assert store.closed
    with pytest.raises(RuntimeError, match="closed"):
        log.add(_record(1))


def test_a_failing_write_is_tried_again_and_a_lost_batch_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module.time, "sleep", lambda _s: None)
    store = SlowStore(failures=2)
    log = RequestLog(store)  # type: ignore[arg-type]
    log.add(_record(1))
    log.close()
    assert [r.request_id for b in store.batches for r in b] == ["chatcmpl-1"] and log.lost == 0
    hopeless = SlowStore(failures=1000)
    log = RequestLog(hopeless)  # type: ignore[arg-type]
    log.add(_record(2))
    log.close()
    assert log.lost == 1 and log.written == 0 and log.pending == 0


def test_a_script_that_never_closes_its_guard_still_writes_its_rows(tmp_path: Path) -> None:
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "script.db"
    script = ("from r2d_sdk import Guard\n"
              f"guard = Guard(model={{'model': 'mock/s', 'mock': {{'replies': ['Hi.']}}}}, db={str(db)!r})\n"
              "for i in range(3):\n"
              "    guard.chat_sync([{'role': 'user', 'content': f'hello {i}'}])\n")  # and exits, no close()
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM guard_requests").fetchone() == (3,)
