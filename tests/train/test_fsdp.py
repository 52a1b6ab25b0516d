"""Sharded training (FSDP2) with two CPU processes: the same model as one process, exact resume, the CLI path.

accelerate runs its FSDP plugin on accelerators only; `fsdp_on_cpu.py` lifts that gate so the
shipped config (adjusted for CPU) runs here over gloo; see its docstring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from test_trainer import _check_one_training_run_of_two_processes, _tiny_train_recipe, trajectory

from r2d_sdk.recipe._train import TrainSpec
from r2d_sdk.train._collate import split_heldout
from r2d_sdk.train._trainer import R2DTrainer
from r2d_sdk.trajectories import write_jsonl

REPO = Path(__file__).resolve().parents[2]
FSDP_CONFIG = REPO / "recipes" / "accelerate" / "fsdp.yaml"
LAUNCHER = Path(__file__).with_name("fsdp_on_cpu.py")
# 25 trajectories, a fifth held out: 5 held-out examples, so with batches of 2 one process has two
# held-out batches and the other one (plus a stand-in batch to keep the forward passes in step).
DATA = [trajectory(i) for i in range(25)]
HELDOUT_FRACTION = 0.2
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _cpu_config(tmp_path: Path) -> Path:
    """The shipped FSDP config for two CPU processes: use_cpu, two processes, no bf16."""
    config = yaml.safe_load(FSDP_CONFIG.read_text())
    config.update(use_cpu=True, num_processes=2, mixed_precision="no")
    config.pop("gpu_ids")
    path = tmp_path / "fsdp-cpu.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _launch(config: Path, *args: str, cwd: Path, through_launcher: bool = True) -> subprocess.CompletedProcess[str]:
    program = [str(LAUNCHER)] if through_launcher else ["-m", "r2d_sdk.cli"]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), *program, *args]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=420, cwd=cwd)


def _spec(finetune: str) -> dict[str, Any]:
    values: dict[str, Any] = {"name": "t", "data": {"path": "unused.jsonl"}, "max_steps": 6, "batch_size": 2,
                              "learning_rate": 1e-3, "new_token_learning_rate": 1e-2, "save_every": 3,
                              "eval_generate": 2, "eval_max_tokens": 6, "max_length": 96}
    if finetune == "lora":  # no dropout: two processes draw other masks than one process would
        values.update(finetune="lora", lora={"r": 4, "alpha": 8, "dropout": 0.0})
    return values


def _weights(folder: str) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder).state_dict()


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_two_sharded_processes_train_the_model_one_process_trains(finetune: str, tiny_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    write_jsonl(DATA, tmp_path / "data.jsonl")
    scenario = {"data": str(tmp_path / "data.jsonl"), "heldout_fraction": HELDOUT_FRACTION, "spec": _spec(finetune),
                "model": str(tiny_model_dir), "out": str(tmp_path / "fsdp"), "stop_at": 3}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    done = _launch(_cpu_config(tmp_path), "runs", str(tmp_path / "scenario.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads((tmp_path / "fsdp" / "report.json").read_text())
    assert report["sharded"] and report["num_processes"] == 2  # FSDP2, every decoder layer its own unit

    # One process with two micro-batches per step does the same optimizer steps as two processes
    # with one each (the step plan deals micro-batches by process).
    train_set, heldout_set = split_heldout(DATA, HELDOUT_FRACTION, seed=0)
    logged: list[tuple[str, dict[str, Any]]] = []
    single = R2DTrainer(TrainSpec(**{**_spec(finetune), "gradient_accumulation": 2}), str(tiny_model_dir), train_set,
                        heldout_set, tmp_path / "single", progress=False,
                        log=lambda split, rows: logged.extend((split, r) for r in rows))
    single_result = single.train()
    single_steps = [r for split, r in logged if split == "train"]
    sharded_steps = report["straight"]["steps"]
    assert [r["step"] for r in sharded_steps] == [1, 2, 3, 4, 5, 6]
    for one, two in zip(single_steps, sharded_steps, strict=True):
        for key in ("loss", "ce", "cpo", "learning_rate"):
            assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-9), (one["step"], key)
        assert (two["tokens"], two["pivot_acc"]) == (one["tokens"], one["pivot_acc"])

    # The exported (gathered, LoRA-merged) weights are the single process's, and they moved.
    exported, expected = _weights(report["straight"]["checkpoint"]), _weights(single_result.checkpoint_path or "")
    assert exported.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(exported[name], expected[name], rtol=0, atol=2e-6, msg=name)
    base = _weights(str(tiny_model_dir))
    q_proj = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(exported[q_proj], base[q_proj])

    # Held-out checks on a sharded model: the same counts and greedy answers. The loss is a mean of
    # batch means, and the processes batch the examples differently, hence the looser tolerance.
    one_heldout = [r for split, r in logged if split == "heldout"][-1]
    two_heldout = report["straight"]["heldout"][-1]
    assert two_heldout["n_heldout"] == 5 and two_heldout["n_generated"] == 2
    for key in ("pivot_acc", "first_pivot_acc", "emit_rate", "finished_rate"):
        assert two_heldout[key] == one_heldout[key], key
    assert two_heldout["samples"] == one_heldout["samples"]
    assert two_heldout["loss"] == pytest.approx(one_heldout["loss"], rel=1e-3)

    # Stopped after step 3 (a saved sharded state), resumed by a fresh trainer: the same model, bit for bit.
    assert report["resumed"]["steps"] == [1, 2, 3, 4, 5, 6]
    resumed_folder, straight_folder = Path(report["resumed"]["checkpoint"]), Path(report["straight"]["checkpoint"])
    assert resumed_folder.name == straight_folder.name  # the folder name is the content hash
    assert (tmp_path / "fsdp" / "resumed" / "state" / "step-3" / "pytorch_model_fsdp_0").is_dir()


def test_cli_train_sharded_with_two_cpu_processes(tiny_model_dir: Path, tmp_path: Path) -> None:
    recipe = _tiny_train_recipe(tiny_model_dir, tmp_path)
    db = tmp_path / "results.db"
    done = _launch(_cpu_config(tmp_path), "cli", "train", str(recipe), "--db", str(db), "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("r2d: completed") == 1  # the main process reports (and writes) once
    _check_one_training_run_of_two_processes(db)
    from r2d_sdk.store import Store, TrainingRuns

    row = TrainingRuns(Store(f"sqlite:///{db}")).latest("r2d")
    assert row is not None and row.metrics_json["distributed_type"] == "FSDP"
    assert _weights(row.checkpoint_path)["model.embed_tokens.weight"].shape[0] > 0


def test_fsdp_on_cpu_without_the_gate_lifted_is_refused_not_run_as_ddp(tiny_model_dir: Path, tmp_path: Path) -> None:
    # What a user on a CPU machine gets from the FSDP config: accelerate would quietly train DDP.
    recipe = _tiny_train_recipe(tiny_model_dir, tmp_path)
    done = _launch(_cpu_config(tmp_path), "train", str(recipe), "--db", str(tmp_path / "r.db"), "--quiet",
                   cwd=tmp_path, through_launcher=False)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "asks for FSDP, but these processes run on CPU" in output and "recipes/accelerate/ddp.yaml" in output
    # Each process exits with the bad-input status and no traceback of ours (torchrun prints its own).
    assert "exitcode: 2" in output and f'File "{REPO / "r2d_sdk"}' not in output


def test_the_shipped_fsdp_config_shards_each_decoder_layer_of_qwen2_and_llama() -> None:
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config = yaml.safe_load(FSDP_CONFIG.read_text())
    fsdp = config["fsdp_config"]
    assert config["distributed_type"] == "FSDP" and config["use_cpu"] is False and config["mixed_precision"] == "bf16"
    assert fsdp["fsdp_version"] == 2 and fsdp["fsdp_reshard_after_forward"] is True  # FULL_SHARD
    assert "fsdp_transformer_layer_cls_to_wrap" not in fsdp  # the model's own block, whichever model
    small = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 2, "num_key_value_heads": 1}
    for model, layer in ((Qwen2ForCausalLM(Qwen2Config(**small)), "Qwen2DecoderLayer"),
                         (LlamaForCausalLM(LlamaConfig(**small)), "LlamaDecoderLayer")):
        plugin = FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy=fsdp["fsdp_auto_wrap_policy"].lower())
        plugin.set_auto_wrap_policy(model)
        policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
        assert policy is not None
        wrapped = [type(m).__name__ for m in model.modules() if policy(m)]
        assert wrapped == [layer, layer]


def test_held_out_batches_keep_every_process_in_step_under_fsdp() -> None:
    from r2d_sdk.train._sharding import heldout_batches

    examples = list(range(5))
    for world in (1, 2, 3, 8):
        plain = [heldout_batches(examples, 2, rank, world, lockstep=False) for rank in range(world)]
        stepped = [heldout_batches(examples, 2, rank, world, lockstep=True) for rank in range(world)]
        assert len({len(batches) for batches in stepped}) == 1  # the same number of forward passes everywhere
        for rank in range(world):
            assert [b for b in stepped[rank] if b is not None] == plain[rank]  # padding only, nothing moved
        dealt = sorted(x for batches in plain for batch in batches for x in batch)
        assert dealt == examples  # each example evaluated exactly once
    assert heldout_batches(examples, 2, 1, 2, lockstep=True) == [[1, 3], None]
    assert heldout_batches(examples, 2, 1, 2, lockstep=False) == [[1, 3]]
    assert heldout_batches(examples, 2, 0, 2, lockstep=True) == [[0, 2], [4]]
    assert heldout_batches(examples, 2, 3, 8, lockstep=True) == [[3]]
    assert heldout_batches(examples, 2, 6, 8, lockstep=True) == [None]
