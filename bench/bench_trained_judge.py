"""What the trained judge adds to a run: seconds to judge 600 answers on this machine.

The main job (recipes/jbb.yaml) makes 600 answers (100 behaviors x 3 attacks x 2 defenses, 150 new
tokens each). Here 600 real responses from JailbreakBench's artifacts stand in for them (a seeded
draw of the 1,637; most are longer than 150 tokens, so the prompt cut applies as it would). They
are judged the way a run judges: one `judge()` call per sample, 64 in flight, gathered by the
judge's micro-batching. Loading the weights is timed apart. Target (issue 13): at most 3 minutes.

    R2D_DATA_DIR=../shared/data .venv/bin/python bench/bench_trained_judge.py --training judge-smollm2 --db judge.db \
        [--dtype bfloat16] [--answers 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

from r2d_plugins.judges.trained_judge import TrainedJudge

from r2d_sdk import Behavior, Context
from r2d_sdk.store import Store
from r2d_sdk.trajectories import artifact_records


async def judge_all(judge: TrainedJudge, rows: list[tuple[str, str]], concurrency: int) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def one(goal: str, response: str) -> bool:
        async with gate:
            judgment = await judge.judge(Behavior(id="x", goal=goal), goal, response)
        return judgment.score is not None

    return sum(await asyncio.gather(*(one(goal, response) for goal, response in rows)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--training", default="judge-smollm2")
    parser.add_argument("--db", default="judge.db")
    parser.add_argument("--checkpoint", default=None, help="a judge model folder instead of --training")
    parser.add_argument("--answers", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dtype", default=None, help="e.g. bfloat16")
    args = parser.parse_args()
    if args.checkpoint:
        config = TrainedJudge.Config(checkpoint=args.checkpoint, dtype=args.dtype, batch_size=args.batch_size)
        context = Context()
    else:
        config = TrainedJudge.Config(training=args.training, dtype=args.dtype, batch_size=args.batch_size)
        # Read only: a database that newer code has migrated since still holds the training run.
        url = args.db if "://" in args.db else f"sqlite:///{os.path.abspath(args.db)}"
        context = Context(store=Store(url, migrate=False))
    records = artifact_records()
    rows = [(r["goal"], r["response"]) for r in random.Random(0).sample(records, min(args.answers, len(records)))]
    judge = TrainedJudge(config, context)
    started = time.perf_counter()
    asyncio.run(judge.setup())
    loading = time.perf_counter() - started
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    scored = asyncio.run(judge_all(judge, rows, args.concurrency))
    seconds = time.perf_counter() - started
    _, classifier, _ = judge._loaded  # type: ignore[misc]
    print(f"trained judge {judge.info['checkpoint']} (dtype {args.dtype or 'float32'}, batch {args.batch_size}, "
          f"{classifier.model.config.num_hidden_layers} layers)")
    print(f"loading: {loading:.1f} s")
    print(f"judged {scored} of {len(rows)} answers in {seconds:.1f} s ({len(rows) / seconds:.1f} answers/s, "
          f"{classifier.forward_passes} forward passes); target <= 180 s")
    print(f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}, on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
