"""Training throughput: r2d-sdk's trainer vs TRL's SFTTrainer, same model, data, order and batch.

Target: our tokens/s >= TRL's. TRL is not a dependency; install it into the venv for this only
(`pip install trl`; it leaves torch and transformers as they are). Both run full fine-tuning
in fp32 (or both in bf16 autocast with --bf16; TRL's own defaults are not used, since recent TRL
switches on bf16 and gradient checkpointing) on the same prompt/completion pairs (prompt masked),
in the same order, with AdamW and no gradient checkpointing; ours also computes the CPO term.
Throughput = non-padding tokens of the timed steps / their wall time; the first step of each is a warm-up and not timed. The two trainers run one after
the other, so on a shared machine run it when the load is steady (`uptime` is printed).

    .venv/bin/python bench/bench_train_vs_trl.py                 # SmolLM2-135M, 5 steps of 8
    .venv/bin/python bench/bench_train_vs_trl.py --steps 8 --bf16          # both in bf16 autocast
    .venv/bin/python bench/bench_train_vs_trl.py --steps 8 --trl-defaults  # ours bf16, TRL as it comes
    .venv/bin/python bench/bench_train_vs_trl.py --model tiny --steps 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_cpo_overhead import TINY, trajectories  # type: ignore[import-not-found]

from r2d_sdk.recipe._train import TrainSpec
from r2d_sdk.train._collate import collate, encode, epoch_batches, render_prompt
from r2d_sdk.train._trainer import R2DTrainer


def ours(model_ref: str, data: list, batch: int, steps: int, folder: Path, bf16: bool
         ) -> tuple[list[float], list[int]]:
    spec = TrainSpec(name="bench", data={"path": "unused"}, batch_size=batch, max_steps=steps, eval_generate=0,
                     save_every=10_000, learning_rate=1e-5, new_token_learning_rate=None, warmup_ratio=0.0,
                     max_length=512, bf16=bf16)
    seconds: list[float] = []
    trainer = R2DTrainer(spec, model_ref, data, [], folder, progress=False,
                         log=lambda split, rows: seconds.extend(r["seconds"] for r in rows if split == "train"))
    order = [i for b in epoch_batches(len(trainer.train_examples), batch, 0, spec.seed) for i in b]
    trainer._export = lambda: (None, None)  # type: ignore[method-assign]  # not part of a training step
    trainer.train()
    tokens = [int(collate([trainer.train_examples[i] for i in order[s * batch:(s + 1) * batch]],
                          trainer.tokenizer.pad_token_id)["attention_mask"].sum()) for s in range(steps)]
    return seconds, tokens


def trl(model_ref: str, data: list, batch: int, steps: int, folder: Path, order: list[int], bf16: bool,
        trl_defaults: bool = False) -> list[float]:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from r2d_sdk.train._model_setup import load_base
    from r2d_sdk.train._tokens import add_pivot_tokens

    model, tokenizer = load_base(model_ref, bf16=False)
    add_pivot_tokens(model, tokenizer)  # the same vocabulary and embedding size as ours
    if not trl_defaults:
        model.config.use_cache = False  # as ours: a training forward builds no key/value cache
    precision: dict[str, Any] = {} if trl_defaults else {"bf16": bf16, "fp16": False, "gradient_checkpointing": False}
    rows = [{"prompt": render_prompt(tokenizer, data[i].prompt), "completion": data[i].output_text()} for i in order]
    config = SFTConfig(output_dir=str(folder), per_device_train_batch_size=batch, max_steps=steps,
                       learning_rate=1e-5, lr_scheduler_type="cosine", warmup_steps=0, logging_steps=1_000,
                       save_strategy="no", report_to=[], use_cpu=True, max_length=512, packing=False,
                       completion_only_loss=True, optim="adamw_torch_fused", dataloader_num_workers=0,
                       shuffle_dataset=False, disable_tqdm=True,
                       # Pinned, not left to TRL's defaults (recent TRL turns on bf16 autocast and
                       # gradient checkpointing): both trainers run at the same precision, without
                       # checkpointing.
                       **precision)
    seconds: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.started = time.perf_counter()

        def on_step_end(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            seconds.append(time.perf_counter() - self.started)

    class InOrder(SFTTrainer):
        def _get_train_sampler(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return torch.utils.data.SequentialSampler(self.train_dataset)

    trainer = InOrder(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                      callbacks=[Timer()])
    trainer.train()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="local model reference, or 'tiny'")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="both trainers in bf16 autocast (default fp32)")
    parser.add_argument("--trl-defaults", action="store_true",
                        help="TRL with its own precision and checkpointing defaults; ours in bf16")
    args = parser.parse_args()
    model_ref = str(TINY) if args.model == "tiny" else args.model
    args.bf16 = args.bf16 or args.trl_defaults
    data = trajectories(args.batch * args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        our_seconds, tokens = ours(model_ref, data, args.batch, args.steps, Path(tmp) / "ours", args.bf16)
        from r2d_sdk.train._model_setup import load_base

        _, tokenizer = load_base(model_ref, bf16=False)
        from r2d_sdk.train._tokens import add_pivot_tokens

        add_pivot_tokens(_, tokenizer)
        encoded = [e for e in (encode(t, tokenizer, max_length=512) for t in data) if e]
        order = [i for b in epoch_batches(len(encoded), args.batch, 0, 0) for i in b]
        trl_seconds = trl(model_ref, data, args.batch, args.steps, Path(tmp) / "trl", order, args.bf16,
                          args.trl_defaults)
    timed = slice(1, None)
    timed_tokens = sum(tokens[timed])
    ours_rate = timed_tokens / sum(our_seconds[timed])
    trl_rate = timed_tokens / sum(trl_seconds[timed])
    from importlib.metadata import version

    precision = ("bf16" if args.bf16 else "fp32") + (" (TRL: its defaults)" if args.trl_defaults else "")
    print(f"model {args.model}, batch {args.batch}, {args.steps - 1} timed steps, {timed_tokens} tokens, "
          f"{precision}; TRL {version('trl')}; load: {os.getloadavg()[0]:.2f}")
    print(f"  r2d-sdk trainer (CE + CPO): {ours_rate:8.1f} tokens/s  steps {[round(s, 2) for s in our_seconds]}")
    print(f"  TRL SFTTrainer  (CE):       {trl_rate:8.1f} tokens/s  steps {[round(s, 2) for s in trl_seconds]}")
    print(f"throughput ratio (ours / TRL): {ours_rate / trl_rate:.3f}  (target >= 1.0)")


if __name__ == "__main__":
    main()
