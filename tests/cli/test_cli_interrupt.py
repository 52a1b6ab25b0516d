"""Ctrl-C on `r2d-sdk run`: exit 130, run marked interrupted, the resume command printed (with the
options the run started with), and it works; a resume of a run another process is running is refused;
runs started at once on one fresh database all complete."""

from __future__ import annotations

import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from postgres_databases import postgres_database

from r2d_sdk.cli import cli

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


def _start(exe: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_sigint)


def _wait_for_samples(child: subprocess.Popen[str], db: Path, n: int) -> None:
    deadline = time.monotonic() + 60
    while _count(db, "SELECT COUNT(*) FROM samples") < n:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "no samples were written"
        time.sleep(0.05)


def test_the_printed_resume_command_reproduces_a_limited_run(write_recipe: Callable[..., Path], tmp_path: Path,
                                                             r2d_sdk_exe: str, subprocess_env: dict[str, str]) -> None:
    recipe = write_recipe(items=ITEMS, delay=0.3, concurrency=4, defenses="[none]")
    db = tmp_path / "r.db"
    child = _start(r2d_sdk_exe, ["run", str(recipe), "--db", str(db), "--limit", "16", "--concurrency", "2",
                                 "--quiet"], subprocess_env)
    _wait_for_samples(child, db, 3)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    printed = next(line for line in err.splitlines() if "resume with:" in line).split("resume with:", 1)[1]
    words = shlex.split(printed)
    assert words[:2] == ["r2d-sdk", "run"] and words[words.index("--limit") + 1] == "16"
    assert words[words.index("--concurrency") + 1] == "2" and words[words.index("--db") + 1] == str(db)

    resumed = subprocess.run([r2d_sdk_exe, *words[1:], "--quiet"], capture_output=True, text=True, env=subprocess_env,
                             timeout=120)  # exactly as printed
    assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT status FROM runs").fetchall() == [("completed",)]
        per_item = connection.execute("SELECT item_id, COUNT(*) FROM samples GROUP BY item_id").fetchall()
    assert len(per_item) == 16 and {n for _, n in per_item} == {1}  # the 16 items it started with, not all 40


def test_resume_of_a_run_still_running_elsewhere_is_refused(write_recipe: Callable[..., Path], tmp_path: Path,
                                                            r2d_sdk_exe: str, subprocess_env: dict[str, str]) -> None:
    recipe = write_recipe(items=30, delay=0.4, concurrency=1, defenses="[none]")  # 12 s: outlasts the resume
    db = tmp_path / "r.db"
    running = _start(r2d_sdk_exe, ["run", str(recipe), "--db", str(db), "--quiet"], subprocess_env)
    _wait_for_samples(running, db, 2)
    resumed = subprocess.run([r2d_sdk_exe, "run", str(recipe), "--db", str(db), "--resume", "latest", "--quiet"],
                             capture_output=True, text=True, env=subprocess_env, timeout=120)
    first_still_running = running.poll() is None
    with sqlite3.connect(db) as connection:
        (run_id,) = connection.execute("SELECT id FROM runs").fetchone()
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert resumed.returncode == 1, resumed.stderr
    assert f"error: run {run_id} is still running in another process" in resumed.stderr
    assert f"pid {running.pid}" in resumed.stderr and "fix: wait for it to finish" in resumed.stderr
    assert first_still_running, "the first run ended before the resume was refused: make it slower"
    out, err = running.communicate(timeout=120)
    assert running.returncode == 0, err
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT status FROM runs").fetchall() == [("completed",)]
        per_item = connection.execute("SELECT item_id, COUNT(*) FROM samples GROUP BY item_id").fetchall()
    assert len(per_item) == 30 and {n for _, n in per_item} == {1}


def test_resume_against_a_missing_database_creates_no_file(write_recipe: Callable[..., Path], tmp_path: Path) -> None:
    recipe = write_recipe()
    result = CliRunner().invoke(cli, ["run", str(recipe), "--db", "missing.db", "--resume", "latest", "--quiet"])
    assert result.exit_code == 1, result.output
    assert f"error: no results database at {Path.cwd() / 'missing.db'}" in result.output
    assert "Traceback" not in result.output
    assert list(Path.cwd().glob("missing.db*")) == []


# `r2d-sdk run` started at an agreed moment, its slow imports and plugin loading done before: the
# runs reach the empty schema together.
_RUN_AT = """
import sys, time
import litellm, alembic, alembic.command, sqlalchemy, r2d_sdk.run, r2d_sdk.store, r2d_sdk.report
from r2d_sdk._registry import load_plugins
from r2d_sdk.cli import main
load_plugins()
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
sys.argv = ["r2d-sdk", *sys.argv[2:]]
main()
"""


def test_two_runs_started_at_once_on_one_fresh_postgres_database_both_complete(
        write_recipe: Callable[..., Path], subprocess_env: dict[str, str]) -> None:
    recipe = write_recipe(items=3, defenses="[none]")
    with postgres_database() as url:
        start_at = str(time.time() + 8)  # after both children have imported everything
        children = [subprocess.Popen([sys.executable, "-c", _RUN_AT, start_at, "run", str(recipe), "--db", url,
                                      "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=subprocess_env) for _ in range(2)]
        outcomes = [child.communicate(timeout=120) for child in children]
        assert [child.returncode for child in children] == [0, 0], outcomes
        assert all("completed" in out for out, _ in outcomes)
