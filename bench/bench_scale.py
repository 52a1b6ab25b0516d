"""Outgrowing one process: the Ray executor's throughput and the Router over a failing endpoint.

Against fake OpenAI-compatible servers (tests/fake_openai.py, each in a process of its own so
the client's CPU is measured, not the server's), with a file dataset of distinct prompts (no
cache hits), `direct` × `none` × `refusal-string`:

1. Throughput: N requests at concurrency C to a server answering in `--delay` seconds, in one
   process, then on Ray with `--workers` actors (same total concurrency, split over them).
   Target (issue "Outgrow one machine", on the 2-core machine): Ray ≥ 1.6× one process, Ray's
   start-up (ray.init, workers started with their components) included and reported apart.
2. Router: the same N requests through one model with three deployments, one of which fails
   every second request (HTTP 500). Targets: every request succeeds, and the failing endpoint
   serves under 10% of the calls once it has been cooled down.

    .venv/bin/python bench/bench_scale.py                        # the full measurement (minutes)
    .venv/bin/python bench/bench_scale.py --requests 1000        # a quick check at reduced size
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared fake server

KEY = "sk-bench-not-a-real-key"


# ---- fake servers, one process each -------------------------------------------------------
def _serve(kind: str, delay: float, ports: Any, stop: Any) -> None:
    from fake_openai import FakeOpenAI, Reply

    answer = Reply("I can't help with that.", delay=delay)
    counter = itertools.count()

    def half_failing(_request: Any) -> Reply:
        return Reply(status=500, delay=delay) if next(counter) % 2 == 0 else answer

    with FakeOpenAI(half_failing if kind == "half-failing" else (lambda _request: answer)) as server:
        ports.put(server.port)
        stop.wait()
        ports.put(len(server.requests))


class ServerProcess:
    """A fake server in its own process; `requests` is its request count once stopped."""

    def __init__(self, kind: str, delay: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._ports, self._stop = context.Queue(), context.Event()
        self._process = context.Process(target=_serve, args=(kind, delay, self._ports, self._stop), daemon=True)
        self.requests = 0

    def __enter__(self) -> ServerProcess:
        self._process.start()
        self.url = f"http://127.0.0.1:{self._ports.get(timeout=60)}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.requests = self._ports.get(timeout=60)
        self._process.join(timeout=30)


# ---- recipes ------------------------------------------------------------------------------
def _items(folder: Path, count: int, tag: str) -> Path:
    path = folder / f"items-{tag}.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "goal": f"Synthetic request {tag} number {i}"}) + "\n"
                            for i in range(count)))
    return path


def _recipe(items: Path, model: str, concurrency: int, executor: str = "") -> str:
    return f"""
name: bench-scale
models:
  target:
{model}
datasets:
  - {{name: file, label: synthetic, args: {{path: {items}, id_column: id, label: harmful}}}}
attacks: [direct]
defenses: [none]
judges: [refusal-string]
metrics: [asr]
concurrency: {concurrency}
{executor}
"""


def _one_endpoint(url: str) -> str:
    return f"    model: openai/fake\n    api_base: {url}\n    api_key: {KEY}\n    timeout: 60\n"


class _CpuMeter:
    """CPU seconds of this process and of the Ray workers from the first cell to the last."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.driver = 0.0
        self.workers: list[float] = []
        self._start: tuple[float, list[float]] | None = None

    def _now(self) -> tuple[float, list[float]]:
        import psutil

        def seconds(process: Any) -> float:
            times = process.cpu_times()
            return float(times.user + times.system)

        workers = []
        for worker in getattr(self.executor, "workers", []):
            try:
                workers.append(seconds(psutil.Process(worker["pid"])))
            except psutil.Error:
                workers.append(0.0)
        return seconds(psutil.Process()), workers

    def __call__(self, step: int, total: int) -> None:  # a progress callback
        if step and self._start is None:
            self._start = self._now()
        elif self._start is not None:
            driver, workers = self._now()
            self.driver = driver - self._start[0]
            self.workers = [w - s for w, s in zip(workers, self._start[1], strict=False)]


async def _timed_run(recipe: str, db: Path, executor: Any = None, progress: Any = None) -> tuple[Any, float]:
    from r2d_sdk.recipe import parse_recipe
    from r2d_sdk.run import build_grid, execute
    from r2d_sdk.store import Store

    loaded = parse_recipe(recipe, "bench")
    store = Store(f"sqlite:///{db}")
    try:
        started = time.perf_counter()
        result = await execute(loaded, build_grid(loaded), store, executor=executor, progress=progress)
        return result, time.perf_counter() - started
    finally:
        store.close()


def _warm_up(folder: Path, url: str) -> None:
    # Imports LiteLLM and opens its clients, so the single-process figure is not charged for it.
    asyncio.run(_timed_run(_recipe(_items(folder, 20, "warm"), _one_endpoint(url), 20), folder / "warm.db"))


# ---- 1. throughput ------------------------------------------------------------------------
def throughput(folder: Path, requests: int, concurrency: int, workers: int, delay: float) -> None:
    import ray

    from r2d_sdk.recipe import RaySpec
    from r2d_sdk.run import RayExecutor

    with ServerProcess("ok", delay) as server:
        _warm_up(folder, server.url)
        one_cpu = _CpuMeter(None)
        one, one_s = asyncio.run(_timed_run(_recipe(_items(folder, requests, "one"), _one_endpoint(server.url),
                                                    concurrency), folder / "one.db", progress=one_cpu))
        assert one.samples == {"ok": requests}, one.samples
        init_started = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - init_started
        executor = RayExecutor(RaySpec(workers=workers))
        cpu = _CpuMeter(executor)
        try:
            sharded, ray_s = asyncio.run(_timed_run(_recipe(_items(folder, requests, "ray"),
                                                            _one_endpoint(server.url), concurrency),
                                                    folder / "ray.db", executor, cpu))
        finally:
            ray.shutdown()
        assert sharded.samples == {"ok": requests}, sharded.samples
    one_rate = requests / one_s
    startup_s = init_s + executor.startup_seconds
    total_s = init_s + ray_s
    ray_rate, cells_rate = requests / total_s, requests / (ray_s - executor.startup_seconds)
    ratio = ray_rate / one_rate
    print(f"1. throughput: {requests} requests, concurrency {concurrency}, server delay {delay * 1000:.0f} ms")
    print(f"   one process:      {one_s:7.1f} s  -> {one_rate:6.1f} requests/s "
          f"({one_cpu.driver * 1000 / requests:.1f} ms CPU per request)")
    print(f"   Ray, {workers} workers:   {total_s:7.1f} s  -> {ray_rate:6.1f} requests/s with start-up "
          f"({cells_rate:.1f} requests/s without)")
    print(f"   Ray start-up:     {startup_s:7.1f} s  (ray.init {init_s:.1f} s, workers ready "
          f"{executor.startup_seconds:.1f} s)")
    print(f"   CPU seconds while the cells ran: driver {cpu.driver:.1f}, workers "
          f"{', '.join(f'{c:.1f}' for c in cpu.workers)} (over {ray_s - executor.startup_seconds:.1f} s; "
          f"{(cpu.driver + sum(cpu.workers)) * 1000 / requests:.1f} ms CPU per request)")
    print(f"   ratio Ray / one process, start-up included: {ratio:.2f} "
          f"(target >= 1.6: {'met' if ratio >= 1.6 else 'MISSED'})")


# ---- 2. Router over three endpoints, one failing half its requests -----------------------
def router(folder: Path, requests: int, concurrency: int, delay: float) -> None:
    from sqlalchemy import text

    from r2d_sdk.store import Store

    names = ("good-1", "good-2", "half-failing")
    servers = {name: ServerProcess("half-failing" if name == "half-failing" else "ok", delay) for name in names}
    for server in servers.values():
        server.__enter__()
    try:
        deployments = "".join(f"      - {{name: {name}, api_base: '{s.url}'}}\n" for name, s in servers.items())
        model = (f"    model: openai/fake\n    api_key: {KEY}\n    timeout: 60\n    max_retries: 3\n"
                 f"    deployments:\n{deployments}")  # routing left at its defaults
        _warm_up(folder, servers["good-1"].url)
        result, seconds = asyncio.run(_timed_run(_recipe(_items(folder, requests, "router"), model, concurrency),
                                                 folder / "router.db"))
    finally:
        for server in servers.values():
            server.__exit__()
    with Store(f"sqlite:///{folder / 'router.db'}").engine.connect() as connection:
        rows = list(connection.execute(text(
            "SELECT deployment, error IS NULL AS ok, retries, created_at FROM model_calls WHERE run_id = :run "
            "ORDER BY created_at"), {"run": result.run_id}))
    served = Counter(row.deployment for row in rows if row.ok)
    failed_calls = sum(1 for row in rows if not row.ok)
    failing = "half-failing"
    share = served[failing] / max(1, sum(served.values()))
    # "Once cooled down": the calls that finished after its first failure (it is cooled down then,
    # back after cooldown_time, and cooled down again after allowed_fails more failures).
    first_retry = next((i for i, row in enumerate(rows) if row.retries > 0), len(rows))
    later = Counter(row.deployment for row in rows[first_retry:] if row.ok)
    later_share = later[failing] / max(1, sum(later.values()))
    print(f"2. Router: {requests} requests over {', '.join(names)} (the last fails every second request), "
          f"concurrency {concurrency}, {seconds:.1f} s -> {requests / seconds:.1f} requests/s")
    print(f"   samples: {result.samples}; calls that failed after their retries: {failed_calls} "
          f"(target 0: {'met' if failed_calls == 0 and result.samples == {'ok': requests} else 'MISSED'})")
    print(f"   served: {dict(served)}; requests received: "
          f"{ {name: s.requests for name, s in servers.items()} }")
    print(f"   {failing} served {share:.1%} of all calls, {later_share:.1%} of those after its first failure "
          f"(target < 10%: {'met' if later_share < 0.10 else 'MISSED'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.2, help="the fake server's answer time, seconds")
    parser.add_argument("--part", choices=["all", "ray", "router"], default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "ray"):
            throughput(Path(tmp), args.requests, args.concurrency, args.workers, args.delay)
        if args.part in ("all", "router"):
            router(Path(tmp), args.requests, args.concurrency, args.delay)
