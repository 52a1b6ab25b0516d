"""The cross-process file lock waits a bounded time, then says who to wait for."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from r2d_sdk import R2DError
from r2d_sdk._locks import file_lock


def test_a_held_lock_is_waited_for_a_bounded_time(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"h = open({str(lock)!r}, 'w'); fcntl.flock(h, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(R2DError, match="held .* for more than 1 s"), file_lock(lock, timeout=1.0):
            pass
        assert 0.9 <= time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    with file_lock(lock, timeout=1.0):  # free again once the holder is gone
        pass
