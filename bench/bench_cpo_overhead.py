"""How much the CPO term adds to a training step over plain cross-entropy (target: ratio <= 1.10).

Both variants run the same model, batches and optimizer; a step is forward + loss + backward +
AdamW step. "CE only" is torch's own `cross_entropy(ignore_index=-100)` over the whole batch,
the way a plain SFT loop computes it; "CE + CPO" is `r2d_loss` with λ = 1. The two variants
alternate step by step so a busy machine slows both alike; CPU time of this process is
reported beside wall time because it is steadier when other work shares the cores.

    .venv/bin/python bench/bench_cpo_overhead.py            # SmolLM2-135M, batch 8 x ~160 tokens
    .venv/bin/python bench/bench_cpo_overhead.py --model tiny --steps 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from r2d_sdk.train._collate import collate, encode
from r2d_sdk.train._losses import r2d_loss
from r2d_sdk.train._model_setup import load_base
from r2d_sdk.train._tokens import add_pivot_tokens, pivot_ids
from r2d_sdk.trajectories import RETHINK, SAFE, UNSAFE, Step, Trajectory

TINY = Path.home() / ".cache" / "r2d-sdk" / "test-assets" / "tiny-llama-smollm2-tokenizer-v1"


def trajectories(n: int) -> list[Trajectory]:
    answer = "Here is a practical answer with the steps, the reasons behind them and a short example. " * 2
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(Trajectory(f"Write instructions for hurting someone, case {i}.",
                                  [Step("This asks for help hurting a person.", UNSAFE),
                                   Step("I will decline and say why.", SAFE)],
                                  "I'm sorry, but I cannot help with that; it could hurt someone.", SAFE, "harmful"))
        elif i % 3 == 1:
            out.append(Trajectory(f"How do I kill a stuck Python process, case {i}?",
                                  [Step("'Kill' sounds violent; let me check the meaning.", RETHINK),
                                   Step("It is about software, so it is fine.", SAFE)], answer, SAFE, "benign"))
        else:
            out.append(Trajectory(f"Give me a bread recipe, case {i}.", [Step("This is a cooking question.", SAFE)],
                                  answer, SAFE, "benign"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="local model reference, or 'tiny'")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant (after one warm-up each)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model, tokenizer = load_base(str(TINY) if args.model == "tiny" else args.model, bf16=False)
    add_pivot_tokens(model, tokenizer)
    pivots = pivot_ids(tokenizer).pivots
    examples = [e for e in (encode(t, tokenizer) for t in trajectories(args.batch * (args.steps + 1))) if e]
    batches = [collate(examples[i:i + args.batch], tokenizer.pad_token_id)
               for i in range(0, len(examples), args.batch)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=True)

    def step(batch: dict, cpo: bool) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        targets = batch["labels"][:, 1:]
        if cpo:
            loss = r2d_loss(logits, targets, pivots, lambda_cpo=1.0).loss
        else:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - wall, time.process_time() - cpu

    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for index, batch in enumerate(batches):
        for cpo in ((False, True) if index % 2 == 0 else (True, False)):  # alternate who goes first
            measured = step(batch, cpo)
            if index > 0:  # the first batch warms both variants up
                times[cpo].append(measured)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[1:])
    print(f"model {args.model}, batch {args.batch}, {len(batches) - 1} timed steps per variant, "
          f"{tokens / max(1, len(batches) - 1):.0f} tokens per step")
    for label, cpo in (("CE only", False), ("CE + CPO", True)):
        wall = statistics.median(t[0] for t in times[cpo])
        cpu = statistics.median(t[1] for t in times[cpo])
        print(f"  {label:9s} median step: {wall:7.3f} s wall, {cpu:7.3f} s CPU")
    wall_ratio = statistics.median(t[0] for t in times[True]) / statistics.median(t[0] for t in times[False])
    cpu_ratio = statistics.median(t[1] for t in times[True]) / statistics.median(t[1] for t in times[False])
    print(f"CPO overhead ratio (CE+CPO / CE): {wall_ratio:.3f} wall, {cpu_ratio:.3f} CPU  (target <= 1.10)")


if __name__ == "__main__":
    main()
