"""Sharded training (FSDP2 through accelerate): what changes when each process holds a slice of every weight.

Under FSDP every forward pass is a collective: each wrapped block gathers its weights from
all processes just before it runs. So every process must run the same forward passes (the
held-out batches, each generation step), the optimizer must be prepared together with the model
(its parameters become the shards), the exported model is gathered onto the main process, and
the added tokens' rows, split between processes, are gathered to step on their own.

FSDP2 (`torch.distributed.fsdp.fully_shard`, `fsdp_version: 2`) rather than FSDP1: it keeps
the model the same module with its own parameter names, so `generate`, the LM-head hook of
`_forward.py` and PEFT's wrappers work unchanged; FSDP1 hides the model behind a flat-parameter
wrapper and is deprecated in torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from r2d_sdk._errors import ConfigError, R2DError

# accelerate's distributed types the trainer runs under: one process, data parallel (DDP) on GPUs
# or CPUs, or FSDP2. DeepSpeed and Megatron-LM own the optimizer and the checkpoint format.
DATA_PARALLEL = {"NO", "MULTI_GPU", "MULTI_CPU", "MULTI_XPU", "MULTI_NPU", "MULTI_MLU", "MULTI_SDAA", "MULTI_MUSA",
                 "MULTI_HPU"}
CONFIGS = "recipes/accelerate/ddp.yaml or recipes/accelerate/fsdp.yaml"


def fsdp_requested() -> bool:
    """Whether `accelerate launch` was given an FSDP config (it says so to the workers in the environment)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true", "yes")


def require_supported(distributed_type: str, fsdp_version: int | None = None, asked_for_fsdp: bool = False) -> None:
    """Refuse an accelerate setting the trainer would run wrongly, naming the config that works."""
    name = distributed_type.rsplit(".", 1)[-1]
    if name == "FSDP":
        if fsdp_version != 2:
            raise ConfigError(f"accelerate is set to FSDP version {fsdp_version}: the R2D trainer shards with FSDP2 "
                              "only (FSDP1's flat-parameter wrapper hides generate and the parameter names)",
                              fix="set `fsdp_version: 2` under fsdp_config, as recipes/accelerate/fsdp.yaml does")
        return
    if name == "MULTI_CPU" and asked_for_fsdp:
        # accelerate turns its FSDP plugin on only for accelerators; on CPU processes it would
        # silently wrap the model in DDP, each process holding the whole model.
        raise ConfigError("the accelerate config asks for FSDP, but these processes run on CPU, where accelerate "
                          "ignores FSDP and would train data-parallel instead",
                          fix="launch on GPUs, or use recipes/accelerate/ddp.yaml on CPUs")
    if name not in DATA_PARALLEL:
        raise ConfigError(f"accelerate is set to {name}: the R2D trainer runs in one process, data-parallel (DDP) "
                          "or sharded with FSDP2",
                          fix=f"launch with {CONFIGS} (docs/scale.md, \"Training on several GPUs\", says what fits)")


def is_sharded(accelerator: Any) -> bool:
    return str(accelerator.distributed_type).rsplit(".", 1)[-1] == "FSDP"


def check_accelerator(accelerator: Any) -> bool:
    """`require_supported` for a built Accelerator; returns whether it shards (FSDP2)."""
    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    require_supported(str(accelerator.distributed_type), getattr(plugin, "fsdp_version", None), fsdp_requested())
    return is_sharded(accelerator)


def heldout_batches(examples: list[Any], batch_size: int, rank: int, world: int,
                    lockstep: bool) -> list[list[Any] | None]:
    """This process's held-out batches: the examples dealt out one by one (`examples[rank::world]`).

    With `lockstep` (FSDP) the list is padded with None up to as many batches as the busiest
    process has: a None is a batch run only so that every process takes part in every forward pass.
    """
    mine = examples[rank::world]
    batches: list[list[Any] | None] = [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]
    if not lockstep:
        return batches
    busiest = len(examples[0::world])  # process 0 gets the most when they do not divide evenly
    rounds = -(-busiest // batch_size)
    return batches + [None] * (rounds - len(batches))


class ShardedRows:
    """The added tokens' rows at their own learning rate when FSDP2 splits each matrix by rows.

    The sharded counterpart of `RowLearningRate`: each embedding-shaped matrix's new rows get an
    fp32 "shadow", the same on every process, with its own AdamW and schedule. Each step the rows'
    gradients are gathered from the processes that hold them (one all-reduce of a few rows), the
    shadow steps, and every process writes back the rows it holds. Being identical everywhere, the
    shadows' optimizer state is whole in what accelerate saves from the main process.

    Args:
        weights: the sharded (DTensor) parameters, split by rows over one mesh dimension.
        rows: the new tokens' row ids.
        learning_rate: their learning rate.
        schedule: makes the learning-rate schedule for the shadows' optimizer (the trainer's own).
    """

    def __init__(self, weights: list[Any], rows: list[int], learning_rate: float,
                 schedule: Callable[[Any], Any]) -> None:
        import torch

        self.weights = weights
        self.rows = rows
        self.held = [self._held_rows(w) for w in weights]
        self.groups = [w.device_mesh.get_group() for w in weights]
        self.shadows = [torch.nn.Parameter(self._gather(w.to_local(), held, group)) for w, held, group in
                        zip(weights, self.held, self.groups, strict=True)]
        self.optimizer = torch.optim.AdamW(self.shadows, lr=learning_rate, weight_decay=0.0, fused=True)
        self.scheduler = schedule(self.optimizer)

    def _held_rows(self, weight: Any) -> tuple[Any, Any]:
        """(positions in `rows`, local row indices) of the new rows this process holds."""
        import torch
        from torch.distributed.tensor import DTensor, Shard

        if not isinstance(weight, DTensor) or weight.device_mesh.ndim != 1 or tuple(weight.placements) != (Shard(0),):
            raise R2DError("the added tokens' learning rate needs FSDP2 to split the embeddings by rows over one "
                           "mesh dimension", fix="set new_token_learning_rate: null, or train with DDP")
        mesh = weight.device_mesh
        total, world, rank = weight.shape[0], mesh.size(), mesh.get_local_rank()
        chunk = -(-total // world)  # torch.chunk's split, which FSDP2 uses
        start = min(rank * chunk, total)
        held = weight.to_local().shape[0]
        if held != min(chunk, total - start):
            raise R2DError(f"unexpected FSDP2 shard of {held} rows on process {rank} (of {total} rows)",
                           fix="set new_token_learning_rate: null")
        positions = [k for k, row in enumerate(self.rows) if start <= row < start + held]
        device = weight.to_local().device
        return (torch.tensor(positions, dtype=torch.long, device=device),
                torch.tensor([self.rows[k] - start for k in positions], dtype=torch.long, device=device))

    def _gather(self, local: Any, held: tuple[Any, Any], group: Any) -> Any:
        """The new rows of a sharded matrix (or of its gradient), whole and in fp32, on every process."""
        import torch
        import torch.distributed as dist

        positions, indices = held
        whole = torch.zeros(len(self.rows), local.shape[1], dtype=torch.float32, device=local.device)
        whole[positions] = local.detach()[indices].float()
        dist.all_reduce(whole, group=group)  # each row is held by exactly one process: the sum is the row
        return whole

    def before_step(self) -> None:
        for weight, shadow, held, group in zip(self.weights, self.shadows, self.held, self.groups, strict=True):
            shadow.grad = None if weight.grad is None else self._gather(weight.grad.to_local(), held, group)

    def after_step(self) -> None:
        """Step the shadows (after the main optimizer) and write the held rows back over its update."""
        import torch

        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        with torch.no_grad():
            for weight, shadow, (positions, indices) in zip(self.weights, self.shadows, self.held, strict=True):
                local = weight.to_local()
                local[indices] = shadow.detach()[positions].to(local.dtype)

    def sync(self) -> None:
        import torch

        with torch.no_grad():
            for weight, shadow, held, group in zip(self.weights, self.shadows, self.held, self.groups, strict=True):
                shadow.copy_(self._gather(weight.to_local(), held, group))

    def checkpoint_objects(self) -> list[Any]:
        return [self.optimizer, self.scheduler]


def gathered_model(trainer: Any) -> Any | None:
    """The trained model whole, on the main process's CPU (None on the others); every process must call it.

    The full state dict is gathered onto the main process (accelerate, `get_model_state_dict`
    with `full_state_dict` and CPU offload) and loaded, strictly by name, into a fresh copy built
    the way the trainer built its own: base, added tokens, LoRA. The copy is plain (not sharded),
    so merging the adapter and `save_pretrained` work as without FSDP.
    """
    from r2d_sdk.train._model_setup import load_base, prepare_model

    state = trainer.accelerator.get_state_dict(trainer.model)
    if not trainer.accelerator.is_main_process:
        return None
    model, tokenizer = load_base(trainer.base_ref, trainer.lora_bf16)
    model, _ = prepare_model(model, tokenizer, trainer.spec)
    model.load_state_dict(state)  # strict: a missing or extra weight is an error, not a silent default
    del state
    return model
