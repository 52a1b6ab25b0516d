"""Run the trainer under accelerate's FSDP2 on CPU processes (gloo), for the 2-process tests.

accelerate (1.x) switches its FSDP plugin on only for accelerators: on CPU processes it sets
the distributed type to MULTI_CPU and wraps the model in DDP, though torch's FSDP2 itself runs
on CPU over gloo. This launcher lifts that one gate (`_fsdp_on_cpu`); everything after it —
`prepare`, sharding, `save_state`/`load_state`, the gathered state dict — is accelerate's and
torch's own code. Without it the trainer refuses FSDP on CPU with a ConfigError (tested).

    accelerate launch --config_file CPU_FSDP.yaml tests/train/fsdp_on_cpu.py cli train RECIPE ...
    accelerate launch --config_file CPU_FSDP.yaml tests/train/fsdp_on_cpu.py runs SCENARIO.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _fsdp_on_cpu() -> None:
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    original = AcceleratorState.__init__

    def init(self: Any, *args: Any, fsdp_plugin: Any = None, **kwargs: Any) -> None:
        original(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            # Later AcceleratorState() calls copy the process state over their own: keep it FSDP there too.
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    AcceleratorState.__init__ = init  # type: ignore[method-assign]


def _runs(scenario_path: str) -> None:
    """Train as the scenario says: straight through, and stopped then resumed in a fresh trainer."""
    from torch.distributed.fsdp import FSDPModule

    from r2d_sdk.recipe._train import TrainSpec
    from r2d_sdk.train._collate import split_heldout
    from r2d_sdk.train._model_setup import decoder_layers
    from r2d_sdk.train._trainer import R2DTrainer
    from r2d_sdk.trajectories import read_jsonl

    scenario = json.loads(Path(scenario_path).read_text())
    train_set, heldout_set = split_heldout(read_jsonl(scenario["data"]), scenario["heldout_fraction"], seed=0)
    spec = TrainSpec(**scenario["spec"])
    report: dict[str, Any] = {}

    def trainer(folder: str, steps: list[dict[str, Any]], heldout: list[dict[str, Any]]) -> R2DTrainer:
        def log(split: str, rows: list[dict[str, Any]]) -> None:
            (steps if split == "train" else heldout).extend(rows)

        return R2DTrainer(spec, scenario["model"], train_set, heldout_set, Path(scenario["out"]) / folder, log=log,
                          progress=False)

    steps: list[dict[str, Any]] = []
    heldout: list[dict[str, Any]] = []
    straight = trainer("straight", steps, heldout)
    layers = decoder_layers(straight.model)
    report["sharded"] = straight.sharded and all(isinstance(layer, FSDPModule) for layer in layers)
    report["num_processes"] = straight.accelerator.num_processes
    done = straight.train()
    report["straight"] = {"steps": steps, "heldout": heldout, "checkpoint": done.checkpoint_path}

    stopped_steps: list[dict[str, Any]] = []
    trainer("resumed", stopped_steps, []).train(stop_at=scenario["stop_at"])
    resumed_steps: list[dict[str, Any]] = []
    resumed = trainer("resumed", resumed_steps, []).train()
    report["resumed"] = {"steps": [r["step"] for r in stopped_steps + resumed_steps],
                         "checkpoint": resumed.checkpoint_path}
    if straight.accelerator.is_main_process:
        Path(scenario["out"], "report.json").write_text(json.dumps(report))


def main() -> None:
    _fsdp_on_cpu()
    mode, *rest = sys.argv[1:]
    if mode == "cli":
        from r2d_sdk.cli import main as cli

        sys.argv = ["r2d-sdk", *rest]
        cli()
    else:
        _runs(rest[0])


if __name__ == "__main__":
    main()
