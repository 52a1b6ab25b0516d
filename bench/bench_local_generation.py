"""Local generation throughput: the SDK at 32 concurrent requests vs `model.generate` one prompt at a time.

Same model (SmolLM2-135M-Instruct, embedded), same 32 JBB goals, greedy, same new-token budget,
same process. Target (issue 2): SDK tokens/s at least 4x the one-at-a-time baseline.

    .venv/bin/python bench/bench_local_generation.py [--prompts 32] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import torch

from r2d_sdk import GenerationParams, Model
from r2d_sdk.data import read_table
from r2d_sdk.data._resolve import resolve_data_file


def goals(n: int) -> list[str]:
    from r2d_plugins.datasets.jbb import HARMFUL

    return [row["Goal"] for row in read_table(resolve_data_file(HARMFUL))][:n]


def one_at_a_time(model: Model, prompts: list[str], max_tokens: int) -> tuple[int, float]:
    local = model.local
    tokenizer, torch_model = local.tokenizer, local.model
    tokens = 0
    started = time.perf_counter()
    for prompt in prompts:
        text = local.render([{"role": "user", "content": prompt}])
        encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            output = torch_model.generate(**encoded, max_new_tokens=max_tokens, do_sample=False,
                                          pad_token_id=tokenizer.pad_token_id)
        tokens += output.shape[1] - encoded["input_ids"].shape[1]
    return tokens, time.perf_counter() - started


async def through_sdk(model: Model, prompts: list[str]) -> tuple[int, float]:
    started = time.perf_counter()
    outputs = await asyncio.gather(*(model.generate([{"role": "user", "content": p}]) for p in prompts))
    return sum(o.completion_tokens for o in outputs), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    prompts = goals(args.prompts)
    model = Model("smollm2", "local/smollm2", GenerationParams(max_tokens=args.max_tokens),
                  local_options={"batch_size": args.prompts})  # no cache: every call generates
    asyncio.run(through_sdk(model, prompts[:2]))  # warm-up: load weights, first kernels
    sdk_tokens, sdk_seconds = asyncio.run(through_sdk(model, prompts))
    base_tokens, base_seconds = one_at_a_time(model, prompts, args.max_tokens)
    sdk_rate, base_rate = sdk_tokens / sdk_seconds, base_tokens / base_seconds
    print(f"one at a time: {base_tokens} tokens in {base_seconds:.1f} s = {base_rate:.1f} tok/s")
    print(f"sdk, {len(prompts)} concurrent: {sdk_tokens} tokens in {sdk_seconds:.1f} s = {sdk_rate:.1f} tok/s")
    ratio = sdk_rate / base_rate
    print(f"ratio: {ratio:.2f}x (target >= 4x: {'met' if ratio >= 4 else 'MISSED'}); threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
