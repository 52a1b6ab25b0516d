"""A cross-process file lock: one writer converts the embedded model, one process migrates a file."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from r2d_sdk._errors import R2DError

# Both holders finish in seconds (a migration, a ~20 s model conversion): a wait this long means
# the holder is stuck, and nothing may wait forever.
DEFAULT_WAIT_SECONDS = 300.0


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float = DEFAULT_WAIT_SECONDS, poll: float = 0.1) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block; released on exit.

    Raises:
        R2DError: another process held the lock for longer than `timeout` seconds.
    """
    with open(path, "w") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise R2DError(f"another process has held {path} for more than {timeout:.0f} s",
                                   fix="wait for the other r2d-sdk process to finish, or stop it; the lock goes "
                                       "with the process that holds it") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
