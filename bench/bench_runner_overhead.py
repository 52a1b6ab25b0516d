"""Runner overhead: samples/s end to end (attack, mock model call, judge, SQLite write).

The target is LiteLLM's `mock_response`, so the figure measures the SDK, not a model.
Target (issue 2): at least 300 samples/s on the project's 2-core machine.

    .venv/bin/python bench/bench_runner_overhead.py [--items 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from r2d_sdk import Behavior, Dataset, register
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Store


@register("bench-synthetic")
class SyntheticDataset(Dataset):
    """Numbered synthetic requests: distinct prompts so every call misses the cache."""

    def items(self) -> Iterable[Behavior]:
        return (Behavior(id=str(i), goal=f"Synthetic request number {i}", label="harmful") for i in range(100_000))


RECIPE = """
name: bench-runner
models:
  target:
    model: openai/gpt-4o-mini
    params: {{mock_response: "Sure, here is a long and detailed answer to the request."}}
datasets:
  - name: bench-synthetic
    limit: {items}
attacks: [direct]
defenses: [none]
judges: [refusal-string]
metrics: [asr]
concurrency: {concurrency}
"""


async def main(items: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'bench.db'}")
        # Warm-up run: imports litellm, opens connections.
        await evaluate_async(parse_recipe(RECIPE.format(items=20, concurrency=concurrency)), store)
        loaded = parse_recipe(RECIPE.format(items=items, concurrency=concurrency).replace("bench-runner", "timed"))
        started = time.perf_counter()
        result = await evaluate_async(loaded, store)
        seconds = time.perf_counter() - started
        samples = sum(result.samples.values())
        rate = samples / seconds
        print(f"samples written: {samples} in {seconds:.2f} s -> {rate:.0f} samples/s "
              f"(target >= 300: {'met' if rate >= 300 else 'MISSED'}; ratio to target {rate / 300:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.items, args.concurrency))
