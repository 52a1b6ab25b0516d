"""The R2D trainer: a plain torch loop on accelerate (one process, or many with `accelerate launch`).

A plain loop rather than a transformers `Trainer` subclass: the loss needs the pivot ids and
its parts logged apart, the new tokens' rows need their own learning rate, and resuming must
land on exactly the batch where a killed run stopped. Each optimizer step's micro-batches are
a pure function of (seed, epoch, step), so a resumed run replays nothing and skips nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r2d_sdk.recipe import TrainSpec
from r2d_sdk.train._checkpoint import export_model, load_latest_state, save_state
from r2d_sdk.train._collate import Example, collate, encode, epoch_batches
from r2d_sdk.train._evaluate import evaluate_heldout, generate_heldout
from r2d_sdk.train._forward import forward
from r2d_sdk.train._losses import r2d_loss
from r2d_sdk.train._model_setup import (
    RowLearningRate,
    load_base,
    parameter_groups,
    prepare_model,
    vocab_matrix_names,
)
from r2d_sdk.train._sharding import ShardedRows, check_accelerator, gathered_model
from r2d_sdk.train._tokens import NO_PIVOTS, pivot_ids
from r2d_sdk.trajectories import Trajectory

# (split, rows): called on the main process with step metrics ("train") or held-out results ("heldout").
LogSink = Callable[[str, list[dict[str, Any]]], None]


@dataclass
class TrainResult:
    """What a finished (or stopped) training produced."""

    steps: int
    total_steps: int
    checkpoint_path: str | None = None
    checkpoint_hash: str | None = None
    heldout: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: bool = False


def use_bf16(spec: TrainSpec) -> bool:
    import torch

    if spec.bf16 == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(spec.bf16)


def step_plan(n_examples: int, spec: TrainSpec, world: int, rank: int, epoch: int) -> list[list[list[int]]]:
    """This process's micro-batches for each optimizer step of one epoch.

    Every process gets the same number of micro-batches (the remainder is dropped), as
    distributed data parallel requires.
    """
    batches = epoch_batches(n_examples, spec.batch_size, epoch, spec.seed)
    per_rank = len(batches) // world
    mine = batches[rank: per_rank * world: world]
    accumulation = spec.gradient_accumulation
    return [mine[i:i + accumulation] for i in range(0, len(mine), accumulation)]


class R2DTrainer:
    """Train one `TrainSpec` on trajectories; checkpoints go under `output_dir`.

    Args:
        spec: the training configuration.
        base_ref: the base model's local reference (`smollm2`, a folder, a hub id).
        train_set / heldout_set: trajectories (see `split_heldout`).
        output_dir: this run's folder (states in `state/`, the model in `model-<hash>`).
        log: receives step and held-out metrics on the main process (the results database).
        export_info: extra fields written into the exported model's r2d_checkpoint.json.
    """

    def __init__(self, spec: TrainSpec, base_ref: str, train_set: Sequence[Trajectory],
                 heldout_set: Sequence[Trajectory], output_dir: str | Path, log: LogSink | None = None,
                 export_info: dict[str, Any] | None = None, progress: bool = True) -> None:
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.spec = spec
        self.output_dir = Path(output_dir)
        self.log = log
        self.export_info = dict(export_info or {})
        self.bf16 = use_bf16(spec)
        # cpu=True on a machine without CUDA: several launched processes then train as MULTI_CPU
        # (gloo) instead of each silently training alone.
        self.accelerator = Accelerator(mixed_precision="bf16" if self.bf16 else "no",
                                       cpu=not torch.cuda.is_available())
        self.sharded = check_accelerator(self.accelerator)  # FSDP2: each process holds a slice of every weight
        set_seed(spec.seed)
        self.base_ref = base_ref
        self.lora_bf16 = self.bf16 and spec.finetune == "lora"  # a frozen base may sit in bf16
        model, self.tokenizer = load_base(base_ref, self.lora_bf16)
        model, new_rows = prepare_model(model, self.tokenizer, spec)
        # On the training device before the optimizer sees it: the new rows' shadow parameters are
        # made from the weights and must live beside them (a fused AdamW takes one device). Sharded,
        # `fully_shard` moves each block to the device as it shards it, so the whole model never
        # sits on one GPU (as transformers' Trainer does under FSDP).
        if not self.sharded:
            model.to(self.accelerator.device)
        self.pivots = pivot_ids(self.tokenizer) if spec.reasoning else NO_PIVOTS
        self.train_examples = self._encode(train_set)
        self.heldout_examples = self._encode(heldout_set)
        self.heldout_set = list(heldout_set)
        self.progress = progress
        import torch

        vocab_rows = model.get_input_embeddings().weight.shape[0]
        self.rows: RowLearningRate | ShardedRows | None
        groups, self.rows = parameter_groups(model, spec, new_rows, vocab_rows, shadow_rows=not self.sharded)
        row_matrices = vocab_matrix_names(model, vocab_rows) if self.sharded and spec.new_token_learning_rate else []
        # The fused kernel exists for CPU and CUDA tensors alike and saves a pass over the weights.
        self.optimizer = torch.optim.AdamW(groups, lr=spec.learning_rate, weight_decay=spec.weight_decay,
                                           fused=True)
        world = self.accelerator.num_processes
        self.steps_per_epoch = len(step_plan(len(self.train_examples), spec, world, 0, 0))
        if self.steps_per_epoch == 0 and not spec.max_steps:
            from r2d_sdk._errors import ConfigError

            raise ConfigError(f"train run '{spec.name}': {len(self.train_examples)} examples make no full batch "
                              f"of {spec.batch_size} × {world} processes", fix="lower batch_size or add data")
        self.total_steps = spec.max_steps or max(1, math.ceil(spec.epochs * self.steps_per_epoch))
        from transformers import get_cosine_schedule_with_warmup

        warmup = round(spec.warmup_ratio * self.total_steps)
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, warmup, self.total_steps)
        self.model = self._prepare(model, row_matrices, new_rows, warmup)
        self.step = 0

    def _prepare(self, model: Any, row_matrices: list[str], new_rows: list[int], warmup: int) -> Any:
        from transformers import get_cosine_schedule_with_warmup

        if not self.sharded:
            # Optimizer and scheduler stay ours (stepped once per global step); saved with the state.
            self.accelerator.register_for_checkpointing(self.optimizer, self.scheduler)
            return self.accelerator.prepare(model)
        # FSDP2 swaps the optimizer's parameters for their shards, so the two are prepared together;
        # accelerate then saves the sharded optimizer state itself. The scheduler stays ours.
        model, self.optimizer = self.accelerator.prepare(model, self.optimizer)
        if row_matrices and new_rows and self.spec.new_token_learning_rate:
            named = dict(model.named_parameters())
            self.rows = ShardedRows([named[n] for n in row_matrices], new_rows, self.spec.new_token_learning_rate,
                                    lambda optimizer: get_cosine_schedule_with_warmup(optimizer, warmup,
                                                                                      self.total_steps))
        self.accelerator.register_for_checkpointing(self.scheduler,
                                                    *(self.rows.checkpoint_objects() if self.rows else []))
        return model

    def _encode(self, trajectories: Sequence[Trajectory]) -> list[Example]:
        encoded = (encode(t, self.tokenizer, self.spec.with_pivots, self.spec.prompt_format, self.spec.max_length,
                          self.spec.reasoning, self.spec.end_with_eos) for t in trajectories)
        return [e for e in encoded if e is not None]

    # ---- the loop --------------------------------------------------------------------------
    def train(self, stop_at: int | None = None) -> TrainResult:
        """Train to `total_steps` (resuming from the newest saved state); `stop_at` stops early
        as a kill would, leaving the run resumable."""
        accelerator = self.accelerator
        started = time.monotonic()
        state = load_latest_state(accelerator, self.output_dir / "state")
        if state is not None:
            self.step = int(state["step"])
            if self.rows is not None:
                self.rows.sync()
        bar = self._bar()
        self.model.train()
        end = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        while self.step < end:
            tick = time.monotonic()
            epoch, index = divmod(self.step, max(1, self.steps_per_epoch))
            plan = step_plan(len(self.train_examples), self.spec, accelerator.num_processes,
                             accelerator.process_index, epoch)
            totals = self._optimizer_step(plan[index] if plan else [])
            self.step += 1
            row = self._row(totals, time.monotonic() - tick)
            if accelerator.is_main_process:
                if self.log:
                    self.log("train", [row])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.3f}", ce=f"{row['ce']:.3f}", cpo=f"{row['cpo']:.3f}",
                                    pivot_acc="-" if row["pivot_acc"] is None else f"{row['pivot_acc']:.2f}")
            if self.spec.eval_every and self.step % self.spec.eval_every == 0 and self.step < self.total_steps:
                self._log_heldout(generate=False)
            if self.step % self.spec.save_every == 0 or (self.step == end and end < self.total_steps):
                save_state(accelerator, self.output_dir / "state", self.step, {"total_steps": self.total_steps},
                           self.spec.keep_checkpoints)
        if bar is not None:
            bar.close()
        result = TrainResult(self.step, self.total_steps, stopped=self.step < self.total_steps)
        if not result.stopped:
            result.heldout = self._log_heldout(generate=True)
            result.checkpoint_path, result.checkpoint_hash = self._export()
        result.seconds = time.monotonic() - started
        return result

    def _optimizer_step(self, micro_batches: list[list[int]]) -> list[float]:
        import torch

        accelerator, model = self.accelerator, self.model
        # loss, ce, cpo, micro-batches, pivots, pivots right, tokens
        totals = torch.zeros(7, dtype=torch.float64)
        for number, indices in enumerate(micro_batches):
            batch = collate([self.train_examples[i] for i in indices], self.tokenizer.pad_token_id)
            last = number == len(micro_batches) - 1
            # DDP all-reduces gradients once per optimizer step, on its last micro-batch. FSDP reduce-
            # scatters every micro-batch: skipping it would keep whole unsharded gradients meanwhile.
            context = accelerator.no_sync(model) if not (last or self.sharded) else nullcontext()
            with context:
                logits, targets = forward(model, batch, accelerator.device, labelled_only=True)
                out = r2d_loss(logits, targets, self.pivots.pivots, self.spec.lambda_cpo, self.spec.cpo_reduction,
                               self._rethink_negative())
                accelerator.backward(out.loss / len(micro_batches))
            parts = [float(out.loss.detach()), float(out.ce.detach()), float(out.cpo.detach()), 1.0]
            totals += torch.tensor(parts + [out.n_pivots, out.n_pivot_correct, out.n_tokens], dtype=torch.float64)
        if self.spec.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), self.spec.max_grad_norm)
        if self.rows is not None:
            self.rows.before_step()
        self.optimizer.step()
        if self.rows is not None:
            self.rows.after_step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return accelerator.reduce(totals.to(accelerator.device), "sum").cpu().tolist()

    def _rethink_negative(self) -> int | None:
        negative = self.spec.rethink_negative
        return None if negative is None else self.pivots.by_string()[negative]

    def _row(self, totals: list[float], seconds: float) -> dict[str, Any]:
        loss, ce, cpo, micro, pivots, right, tokens = totals
        micro = max(micro, 1.0)
        return {"step": self.step, "loss": loss / micro, "ce": ce / micro, "cpo": cpo / micro,
                "pivot_acc": right / pivots if pivots else None,
                "learning_rate": self.scheduler.get_last_lr()[0], "tokens": int(tokens), "seconds": seconds}

    def _bar(self) -> Any:
        if not (self.progress and self.accelerator.is_main_process):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.total_steps, initial=self.step, desc=f"train {self.spec.name}", unit="step",
                    dynamic_ncols=True)

    # ---- held-out evaluation and export ----------------------------------------------------
    def _log_heldout(self, generate: bool) -> dict[str, Any]:
        metrics = evaluate_heldout(self)
        # A sharded model generates on every process (each decoding step is a collective), the
        # same prompts everywhere; the main process keeps the results.
        if generate and self.spec.eval_generate and (self.sharded or self.accelerator.is_main_process):
            generated = generate_heldout(self)
            if self.accelerator.is_main_process:
                metrics.update(generated)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process and self.log and metrics:
            self.log("heldout", [{"step": self.step, **metrics}])
        return metrics

    def _export(self) -> tuple[str | None, str | None]:
        accelerator = self.accelerator
        accelerator.wait_for_everyone()
        path = digest = None
        # Sharded, the whole model exists only once gathered (a collective: every process calls it).
        whole = gathered_model(self) if self.sharded else None
        if accelerator.is_main_process:
            model: Any = whole if self.sharded else accelerator.unwrap_model(self.model)
            if self.spec.finetune == "lora" and self.spec.merge:
                model = model.merge_and_unload()
            info = {**self.export_info, "name": self.spec.name, "prompt_format": self.spec.prompt_format,
                    "reasoning": self.spec.reasoning, "with_pivots": self.spec.with_pivots and self.spec.reasoning,
                    "pivots": self.pivots.by_string() if self.spec.reasoning else {}}
            exported, digest = export_model(model, self.tokenizer, self.output_dir, info)
            path = str(exported.resolve())
        accelerator.wait_for_everyone()
        return path, digest
