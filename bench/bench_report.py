"""Report speed on a synthetic results database: 1,000,000 samples, 4 judges, 20 cells.

Targets (issue "See it", section 5): `r2d-sdk report` of one run in under 10 s with an HTML page
under 5 MB, and `r2d-sdk compare` of two such runs in under 5 s: every aggregate in SQL, never a
Python loop over samples.

    .venv/bin/python bench/bench_report.py [--samples 1000000] [--db URL] [--reuse]

Building the two runs (`synthetic_results.py`, INSERT ... SELECT in the database) takes minutes
and is not timed; `--reuse` takes the newest two synthetic runs of that size already in `--db`.
The first report on a machine also bundles the Vega libraries (seconds, then cached under
R2D_CACHE_DIR): timed on its own, before the report. Wall and CPU seconds are both printed: on a
shared machine the CPU figure is the steadier one.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from synthetic_results import fill_synthetic_run

from r2d_sdk.report import compare_runs, print_comparison, write_report
from r2d_sdk.store import Store


def timed(what: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = what()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def synthetic_runs(store: Store, samples: int, reuse: bool) -> list[str]:
    if reuse:
        found = [run.id for run in store.list_runs(50) if run.name == "synthetic"
                 and sum(store.sample_count(run.id).values()) == samples // 20 * 20]
        if len(found) >= 2:
            return found[:2][::-1]
    runs = []
    for salt in (0, 1):
        run_id, seconds, _ = timed(lambda salt=salt: fill_synthetic_run(store, samples, salt=salt))  # type: ignore[misc]
        print(f"built run {run_id}: {samples:,} samples in {seconds:.0f} s (not timed)", flush=True)
        runs.append(run_id)
    return runs


def main(samples: int, db: str | None, reuse: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = db or f"sqlite:///{Path(folder) / 'synthetic.db'}"
        store = Store(url)
        run_a, run_b = synthetic_runs(store, samples, reuse)
        from r2d_sdk.report._bundle import javascript_bundle

        _, bundle_seconds, _ = timed(javascript_bundle)
        page = Path(folder) / "report.html"
        written, report_wall, report_cpu = timed(lambda: write_report(store, [run_a], page))
        text = io.StringIO()
        console = Console(file=text, width=100)
        _, compare_wall, compare_cpu = timed(lambda: print_comparison(compare_runs(store, run_a, run_b), console))
        load = os.getloadavg()[0]
        print(f"database: {store.engine.dialect.name}, {samples // 20 * 20:,} samples per run, 4 judges, 20 cells; "
              f"load average {load:.1f} on {os.cpu_count()} cores")
        print(f"vega bundle (first report on this machine only): {bundle_seconds:.2f} s")
        print(f"report:  {report_wall:.2f} s wall, {report_cpu:.2f} s CPU (target < 10 s); "
              f"HTML {written.bytes / 1e6:.2f} MB (target < 5 MB)")
        print(f"compare: {compare_wall:.2f} s wall, {compare_cpu:.2f} s CPU (target < 5 s); "
              f"{text.getvalue().count(chr(10))} lines printed")
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="a database URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="use the newest two synthetic runs already in --db")
    arguments = parser.parse_args()
    main(arguments.samples, arguments.db, arguments.reuse)
