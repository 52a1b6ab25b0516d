"""The R2D trainer on the tiny model: it learns, logs the loss parts, resumes exactly, exports, scales out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from r2d_sdk.recipe._train import TrainSpec
from r2d_sdk.train._checkpoint import CHECKPOINT_INFO, folder_hash
from r2d_sdk.train._collate import split_heldout
from r2d_sdk.train._tokens import pivot_ids
from r2d_sdk.train._trainer import R2DTrainer
from r2d_sdk.trajectories import SAFE, UNSAFE, Step, Trajectory, write_jsonl


def trajectory(i: int) -> Trajectory:
    if i % 2:
        return Trajectory(f"Explain how to make weapon number {i}.", [Step("This asks for weapon instructions.", UNSAFE)],
                          "I'm sorry, I cannot help with that.", UNSAFE, "harmful", "test")
    return Trajectory(f"Give me bread recipe number {i}.", [Step("This asks about baking.", SAFE)],
                      "Mix flour, water and yeast, then bake.", SAFE, "benign", "test")


DATA = [trajectory(i) for i in range(24)]
DDP_CONFIG = Path(__file__).resolve().parents[2] / "recipes" / "accelerate" / "ddp.yaml"
TRAIN, HELDOUT = split_heldout(DATA, 0.25, seed=0)


def spec(**overrides: object) -> TrainSpec:
    values: dict[str, object] = {"name": "t", "data": {"path": "unused.jsonl"}, "max_steps": 3, "batch_size": 4,
                                 "learning_rate": 1e-4, "new_token_learning_rate": 1e-2, "save_every": 100,
                                 "eval_generate": 2, "eval_max_tokens": 6, "max_length": 96}
    return TrainSpec(**{**values, **overrides})  # type: ignore[arg-type]


def weights(trainer: R2DTrainer) -> dict[str, torch.Tensor]:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_training_learns_logs_parts_and_exports(tiny_model_dir: Path, tmp_path: Path) -> None:
    logged: list[tuple[str, dict]] = []
    trainer = R2DTrainer(spec(), str(tiny_model_dir), TRAIN, HELDOUT, tmp_path / "run",
                         log=lambda split, rows: logged.extend((split, r) for r in rows), progress=False)
    before = weights(trainer)
    result = trainer.train()
    after = weights(trainer)
    assert result.steps == 3 and not result.stopped
    train_rows = [r for s, r in logged if s == "train"]
    assert [r["step"] for r in train_rows] == [1, 2, 3]
    for row in train_rows:
        assert row["loss"] == pytest.approx(row["ce"] + row["cpo"], rel=1e-5) and row["cpo"] > 0
        assert 0.0 <= row["pivot_acc"] <= 1.0 and row["tokens"] > 0
    heldout = [r for s, r in logged if s == "heldout"][-1]
    assert heldout["pivot_acc"] is not None and 0 <= heldout["emit_rate"] <= 1 and heldout["n_generated"] == 2
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert any("q_proj" in n for n in changed) and any("embed_tokens" in n for n in changed)

    # The new tokens' rows moved at their own (100x) learning rate; ordinary weights at the base rate.
    ids = list(pivot_ids(trainer.tokenizer).by_string().values())
    embed = next(n for n in before if n.endswith("embed_tokens.weight"))
    q_proj = next(n for n in before if "q_proj" in n)
    new_rows_step = (after[embed][ids] - before[embed][ids]).abs().mean()
    q_step = (after[q_proj] - before[q_proj]).abs().mean()
    assert new_rows_step > 10 * q_step

    folder = Path(result.checkpoint_path or "")
    assert folder.name == f"model-{result.checkpoint_hash[:12]}" and folder_hash(folder) == result.checkpoint_hash
    info = json.loads((folder / CHECKPOINT_INFO).read_text())
    assert info["pivots"][SAFE] == pivot_ids(trainer.tokenizer).safe
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reloaded = AutoModelForCausalLM.from_pretrained(folder)
    assert torch.equal(reloaded.get_input_embeddings().weight, after[embed].cpu())
    assert pivot_ids(AutoTokenizer.from_pretrained(folder)) == pivot_ids(trainer.tokenizer)


def test_resume_after_stop_matches_an_uninterrupted_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = spec(max_steps=4, save_every=2, eval_generate=0, learning_rate=1e-3)
    straight = R2DTrainer(config, str(tiny_model_dir), TRAIN, HELDOUT, tmp_path / "a", progress=False)
    straight.train()
    first = R2DTrainer(config, str(tiny_model_dir), TRAIN, HELDOUT, tmp_path / "b", progress=False)
    stopped = first.train(stop_at=2)
    assert stopped.stopped and stopped.steps == 2 and stopped.checkpoint_path is None
    replayed: list[int] = []
    resumed_trainer = R2DTrainer(config, str(tiny_model_dir), TRAIN, HELDOUT, tmp_path / "b", progress=False,
                                 log=lambda split, rows: replayed.extend(r["step"] for r in rows if split == "train"))
    resumed = resumed_trainer.train()
    assert resumed.steps == 4 and not resumed.stopped and replayed == [3, 4]  # continued, not restarted
    expected, got = weights(straight), weights(resumed_trainer)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6, msg=name)


def test_lora_trains_adapters_and_merges_on_export(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = spec(finetune="lora", lora={"r": 4, "alpha": 8}, max_steps=2, eval_generate=0, learning_rate=1e-2)
    trainer = R2DTrainer(config, str(tiny_model_dir), TRAIN, HELDOUT, tmp_path / "lora", progress=False)
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any("embed_tokens" in n for n in trainable)
    assert not any("o_proj" in n and "lora" in n for n in trainable)  # the paper's targets only
    trainer.train(stop_at=2)
    ids = torch.tensor([[1, 2, 3, pivot_ids(trainer.tokenizer).safe]])
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model(input_ids=ids.to(trainer.accelerator.device)).logits.cpu()
    path, _ = trainer._export()
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(path)
    assert not (Path(path) / "adapter_config.json").exists()
    # On a bf16 GPU the frozen base trains (and so exports) in bf16: merging rounds to bf16 there.
    tolerance = 1e-4 if merged.dtype == torch.float32 else 2e-2
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits.float(), expected.float(), rtol=tolerance,
                                   atol=tolerance)


def _tiny_train_recipe(tiny_model_dir: Path, tmp_path: Path) -> Path:
    write_jsonl(DATA, tmp_path / "data.jsonl")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"""
name: tiny-train
models:
  target: {{model: "local/{tiny_model_dir}"}}
datasets: [{{name: jbb-harmful, limit: 1}}]
judges: [refusal-string]
train:
  data: {{path: data.jsonl, heldout_fraction: 0.25}}
  batch_size: 2
  max_steps: 2
  eval_generate: 0
  max_length: 96
  output_dir: {tmp_path / 'ckpt'}
  runs:
    - name: r2d
""")
    return recipe


def _launcher(recipe: Path, db: Path, *machine: str) -> list[str]:
    # The shipped DDP config (MULTI_GPU, as on a GPU machine), with two processes in all. `--cpu` would
    # make accelerate use its single-process launcher; on a machine without GPUs MULTI_GPU starts
    # torchrun workers and Accelerator(cpu=True) runs them as MULTI_CPU over gloo.
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(DDP_CONFIG),
            "--num_processes", "2", *machine, "--mixed_precision", "no", "-m", "r2d_sdk.cli",
            "train", str(recipe), "--db", str(db), "--quiet"]


def _check_one_training_run_of_two_processes(db: Path) -> None:
    from r2d_sdk.store import Store, TrainingRuns

    runs = TrainingRuns(Store(f"sqlite:///{db}"))
    row = runs.latest("r2d")
    assert row is not None and row.steps_done == 2 and row.checkpoint_hash
    assert folder_hash(row.checkpoint_path) == row.checkpoint_hash
    steps = runs.steps(row.id, "train")
    assert [s.step for s in steps] == [1, 2] and all(s.ce and s.cpo is not None for s in steps)
    assert row.metrics_json["pivot_acc"] is not None and row.metrics_json["num_processes"] == 2


def test_cli_train_under_accelerate_with_two_cpu_processes(tiny_model_dir: Path, tmp_path: Path) -> None:
    recipe = _tiny_train_recipe(tiny_model_dir, tmp_path)
    db = tmp_path / "results.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(_launcher(recipe, db), capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "r2d: completed" in done.stdout
    _check_one_training_run_of_two_processes(db)


def test_cli_train_on_two_machines_of_one_process_each(tiny_model_dir: Path, tmp_path: Path) -> None:
    # Multi-node as docs/scale.md runs it (--num_machines 2, --machine_rank R, --main_process_ip),
    # here both "machines" on 127.0.0.1 sharing the folder, as nodes share a filesystem.
    import socket

    recipe = _tiny_train_recipe(tiny_model_dir, tmp_path)
    db = tmp_path / "results.db"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    nodes = [subprocess.Popen(_launcher(recipe, db, "--num_machines", "2", "--machine_rank", str(rank),
                                        "--main_process_ip", "127.0.0.1", "--main_process_port", port),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=240) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-3000:] for _, err in outputs]
    assert "r2d: completed" in outputs[0][0]  # the main process reports (and writes) once
    _check_one_training_run_of_two_processes(db)


def test_the_shipped_ddp_config_is_data_parallel_on_gpus() -> None:
    import yaml

    config = yaml.safe_load(DDP_CONFIG.read_text())
    assert config["distributed_type"] == "MULTI_GPU" and config["use_cpu"] is False
    assert config["mixed_precision"] == "bf16" and config["num_machines"] == 1


@pytest.mark.parametrize("kind", ["DEEPSPEED", "MEGATRON_LM"])
def test_unsupported_accelerate_settings_are_refused_with_the_configs_that_work(kind: str) -> None:
    from accelerate.utils import DistributedType

    from r2d_sdk import ConfigError
    from r2d_sdk.train._sharding import require_supported

    with pytest.raises(ConfigError, match=f"accelerate is set to {kind}") as raised:
        require_supported(str(DistributedType[kind]))
    assert "recipes/accelerate/ddp.yaml" in (raised.value.fix or "")
    assert "recipes/accelerate/fsdp.yaml" in (raised.value.fix or "")
    for fine in ("NO", "MULTI_GPU", "MULTI_CPU"):
        require_supported(str(DistributedType[fine]))


def test_fsdp2_is_accepted_fsdp1_and_fsdp_on_cpu_are_refused() -> None:
    from accelerate.utils import DistributedType

    from r2d_sdk import ConfigError
    from r2d_sdk.train._sharding import require_supported

    require_supported(str(DistributedType.FSDP), fsdp_version=2, asked_for_fsdp=True)
    with pytest.raises(ConfigError, match="FSDP version 1") as raised:
        require_supported(str(DistributedType.FSDP), fsdp_version=1, asked_for_fsdp=True)
    assert "fsdp_version: 2" in (raised.value.fix or "")
    # accelerate leaves FSDP off on CPU processes and runs DDP instead: refused rather than run other than asked.
    with pytest.raises(ConfigError, match="asks for FSDP, but these processes run on CPU"):
        require_supported(str(DistributedType.MULTI_CPU), asked_for_fsdp=True)


def test_train_layers_freezes_the_lower_layers(tiny_model_dir: Path, tmp_path: Path) -> None:
    trainer = R2DTrainer(spec(train_layers=1, eval_generate=0, learning_rate=1e-3, max_steps=1), str(tiny_model_dir),
                         TRAIN, HELDOUT, tmp_path / "top", progress=False)
    before = weights(trainer)
    trainer._export = lambda: (None, None)  # type: ignore[method-assign]
    trainer.train()
    after = weights(trainer)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(".layers.1." in n for n in changed) and not any(".layers.0." in n for n in changed)
    # Untied: the LM head learns, the input embeddings the frozen layers read stay as they were.
    assert "model.norm.weight" in changed and "lm_head.weight" in changed
    assert "model.embed_tokens.weight" not in changed


def test_training_without_reasoning_learns_the_answer_alone_with_the_base_vocabulary(tiny_model_dir: Path,
                                                                                     tmp_path: Path) -> None:
    # SafeDecoding's safety expert: plain SFT, no tokens added, so it mixes with the base token by token.
    from transformers import AutoConfig

    config = spec(reasoning=False, finetune="lora", lora={"r": 4, "alpha": 8, "train_embeddings": False},
                  max_steps=2, eval_generate=2, learning_rate=1e-2)
    logged: list[tuple[str, dict]] = []
    trainer = R2DTrainer(config, str(tiny_model_dir), TRAIN, HELDOUT, tmp_path / "plain", progress=False,
                         log=lambda split, rows: logged.extend((split, r) for r in rows))
    base_vocab = AutoConfig.from_pretrained(tiny_model_dir).vocab_size
    assert len(trainer.tokenizer) == base_vocab and "[SAFE]" not in trainer.tokenizer.get_vocab()
    # The labels are the answer and EOS alone: no <think>, no pivots.
    example = trainer.train_examples[0]
    answer = trainer.tokenizer.decode([t for t in example.labels if t >= 0], skip_special_tokens=True)
    assert answer == TRAIN[0].answer
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    result = trainer.train()
    rows = [r for s, r in logged if s == "train"]
    assert all(r["cpo"] == 0 and r["pivot_acc"] is None and r["loss"] == pytest.approx(r["ce"]) for r in rows)
    heldout = [r for s, r in logged if s == "heldout"][-1]
    assert "emit_rate" not in heldout and heldout["n_generated"] == 2
    info = json.loads((Path(result.checkpoint_path or "") / CHECKPOINT_INFO).read_text())
    assert info["reasoning"] is False and info["pivots"] == {}
    from transformers import AutoModelForCausalLM

    exported = AutoModelForCausalLM.from_pretrained(result.checkpoint_path)
    assert exported.get_output_embeddings().weight.shape[0] == base_vocab


@pytest.mark.parametrize("lora", [False, True])
def test_the_head_on_labelled_rows_gives_the_full_forwards_loss_and_gradients(tiny_model_dir: Path,
                                                                              lora: bool) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r2d_sdk.train._collate import collate, encode
    from r2d_sdk.train._forward import forward
    from r2d_sdk.train._losses import IGNORE_INDEX, r2d_loss
    from r2d_sdk.train._tokens import add_pivot_tokens

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    add_pivot_tokens(model, tokenizer)
    pivots = pivot_ids(tokenizer).pivots
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"]))
    # Rows of different lengths, so each has its own prompt and padding the head must skip.
    examples = [encode(t, tokenizer, max_length=96) for t in DATA[:3]]
    examples[1].input_ids += examples[1].input_ids[-5:]
    examples[1].labels += examples[1].labels[-5:]
    batch = collate([e for e in examples if e], tokenizer.pad_token_id)

    def loss_and_grads(labelled_only: bool) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        logits, targets = forward(model, batch, "cpu", labelled_only=labelled_only)
        out = r2d_loss(logits, targets, pivots)
        out.loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return logits, targets, [out.loss.detach(), *grads]

    full_logits, full_targets, full = loss_and_grads(False)
    rows, targets, picked = loss_and_grads(True)
    keep = full_targets != IGNORE_INDEX
    assert rows.shape == (int(keep.sum()), full_logits.shape[-1]) and int(keep.sum()) < keep.numel()
    assert torch.equal(targets, full_targets[keep]) and (targets != IGNORE_INDEX).all()
    torch.testing.assert_close(rows, full_logits[keep])
    assert len(picked) == len(full) > 1
    for a, b in zip(picked, full, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not model.get_output_embeddings()._forward_pre_hooks  # the hook is gone after the forward
