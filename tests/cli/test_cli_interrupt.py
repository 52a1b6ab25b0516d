"""Ctrl-C on `r2d-sdk run`: exit 130, run marked interrupted, the resume command printed, and it works."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ITEMS = 40


def _default_sigint() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and an ignored
    # signal stays ignored across exec (Python then installs no KeyboardInterrupt handler): the
    # child would rightly finish its run. Give it the disposition an interactive terminal gives.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _count(db: Path, query: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(query).fetchone()[0] or 0
    except sqlite3.OperationalError:  # the schema is still being created
        return 0


def test_sigint_interrupts_and_resume_latest_completes(write_recipe: Callable[..., Path], tmp_path: Path,
                                                       r2d_sdk_exe: str, subprocess_env: dict[str, str]) -> None:
    # About 6 s of work, so SIGINT lands mid-run even on a loaded machine.
    recipe = write_recipe(items=ITEMS, delay=0.3, concurrency=2, defenses="[none]")
    db = tmp_path / "r.db"
    child = subprocess.Popen([r2d_sdk_exe, "run", str(recipe), "--db", str(db), "--quiet"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=subprocess_env,
                             preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while _count(db, "SELECT COUNT(*) FROM samples") < 3:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "no samples were written"
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (out, err)
    assert "Traceback" not in err
    with sqlite3.connect(db) as connection:
        run_id, status = connection.execute("SELECT id, status FROM runs").fetchone()
        saved = connection.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert status == "interrupted" and 3 <= saved < ITEMS
    assert f"run {run_id} interrupted; {saved} samples are saved" in err
    assert f"--resume {run_id} --db {db}" in err

    resumed = subprocess.run([r2d_sdk_exe, "run", str(recipe), "--db", str(db), "--resume", "latest", "--quiet"],
                             capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run_id}: completed" in resumed.stdout and f"({saved} already done" in resumed.stdout
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT status FROM runs").fetchall() == [("completed",)]
        per_cell = connection.execute("SELECT item_id, COUNT(*) FROM samples GROUP BY item_id").fetchall()
    assert len(per_cell) == ITEMS and {n for _, n in per_cell} == {1}
