"""`r2d-sdk train RECIPE` as a Python function: data, database rows, trainer, export.

For each training configuration of the recipe's `train:` section, in order: get the
trajectories (a JSONL file, the offline builder with the base model, or judge examples from
JailbreakBench's artifacts), split off the held-out set (judge examples: by behavior), open or continue its row in `training_runs`, train, export, and mark it
completed with the checkpoint's location and hash. A configuration already trained on the
same data is skipped unless `force`; an unfinished one continues from its last saved state.
Under `accelerate launch` every process trains; only the main one builds data and writes rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r2d_sdk._errors import ConfigError
from r2d_sdk.recipe import LoadedRecipe, Recipe, TrainSpec
from r2d_sdk.train._collate import split_heldout
from r2d_sdk.trajectories import Trajectory, build_judge_examples, read_jsonl, write_jsonl


@dataclass
class TrainOutcome:
    """One configuration's result as the CLI reports it."""

    name: str
    training_run_id: int | None
    status: str  # completed, skipped, stopped
    checkpoint_path: str | None
    heldout: dict[str, Any]
    steps: int
    seconds: float


def base_reference(recipe: Recipe, spec: TrainSpec) -> tuple[str, str]:
    """(model id, local reference) of the configuration's base model; it must be a local model."""
    where = f"train.runs[{spec.name}].base"
    if spec.base not in recipe.models:
        raise ConfigError(f"{where}: no model named '{spec.base}' (models: {', '.join(sorted(recipe.models))})",
                          fix="set `base` to a local model under `models:`")
    model_id = recipe.models[spec.base].model
    if not model_id.startswith("local/"):
        raise ConfigError(f"{where}: '{spec.base}' is {model_id}; training needs local weights",
                          fix="train a `local/...` model (local/smollm2, a folder, or a hub id)")
    return model_id, model_id[len("local/"):]


def config_hash(spec: TrainSpec, model_id: str, data_hash: str) -> str:
    payload = json.dumps([spec.model_dump(mode="json"), model_id, data_hash], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def load_trajectories(loaded: LoadedRecipe, spec: TrainSpec, is_main: bool, store: Any = None
                      ) -> tuple[list[Trajectory], str, str]:
    """The configuration's trajectories, the file they are in and its hash.

    The offline builder's answer calls go through the results database's cache (`store`), so
    building again with other options (another source added) answers only the new prompts.
    """
    if spec.data.path is not None:
        path = Path(spec.data.path).expanduser()
        if not path.is_absolute() and loaded.path is not None and not path.exists():
            path = loaded.path.parent / path
        if not path.exists():
            raise ConfigError(f"train.runs[{spec.name}].data.path: {path} does not exist",
                              fix="run `r2d-sdk distill` first, or point `path` at a trajectory JSONL")
        trajectories = read_jsonl(path)
        return trajectories, str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest()
    if spec.data.judge is not None:
        return _judge_examples(spec, is_main)
    options = dict(spec.data.offline or {})
    model_id, _ = base_reference(loaded.recipe, spec)
    key = hashlib.sha256(json.dumps([options, model_id], sort_keys=True).encode()).hexdigest()[:16]
    path = Path(spec.output_dir) / "data" / f"offline-{key}.jsonl"
    if is_main and not path.exists():
        trajectories = build_offline(loaded.recipe, spec, options, store)
        partial = path.with_suffix(".partial")
        write_jsonl(trajectories, partial)
        partial.rename(path)
    _wait_for_everyone()
    return read_jsonl(path), str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest()


def _judge_examples(spec: TrainSpec, is_main: bool) -> tuple[list[Trajectory], str, str]:
    """Judge examples, written to the run's data folder on each training (they take a second to
    build, and the file's hash then always describes the artifacts read this time)."""
    assert spec.data.judge is not None
    options = spec.data.judge.model_dump(mode="json")
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(spec.output_dir) / "data" / f"judge-{key}.jsonl"
    if is_main:
        examples = build_judge_examples(**options)
        partial = path.with_suffix(".partial")
        write_jsonl(examples, partial)
        partial.replace(path)
    _wait_for_everyone()
    return read_jsonl(path), str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest()


def judge_settings(spec: TrainSpec) -> dict[str, Any] | None:
    """What the trained-judge plugin must know to read a judge checkpoint as it was trained."""
    if spec.data.judge is None:
        return None
    from r2d_sdk.trajectories import JUDGE_NO, JUDGE_YES

    # A plain prompt's answer follows one space (encode), so the scorer reads the spaced words.
    return {"max_response_chars": spec.data.judge.max_response_chars, "yes": f" {JUDGE_YES}",
            "no": f" {JUDGE_NO}"}


def build_offline(recipe: Recipe, spec: TrainSpec, options: dict[str, Any], store: Any = None) -> list[Trajectory]:
    """Run the offline builder with the recipe's base model (it writes benign answers itself)."""
    from r2d_sdk.models import build_models
    from r2d_sdk.trajectories import build_offline_trajectories

    model = build_models(recipe, store.responses if store is not None else None)[spec.base]
    parameters = inspect.signature(build_offline_trajectories).parameters
    if "model" in parameters:
        options = {"model": model, **options}
    result = build_offline_trajectories(**options)
    if inspect.isawaitable(result):
        result = asyncio.run(result)  # type: ignore[arg-type]
    if store is not None:
        store.responses.flush()  # the answers are cached for the next build
    return list(result)


def process_state() -> Any:
    """accelerate's process state, set up the way the trainer's Accelerator will be.

    It is a process-wide singleton: built first without `cpu=True` on a CPU-only machine, a
    launched worker would take itself for a lone main process (and both would export).
    """
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _wait_for_everyone() -> None:
    process_state().wait_for_everyone()


def run_training(loaded: LoadedRecipe, store: Any = None, only: list[str] | None = None, force: bool = False,
                 progress: bool = True, stop_at: int | None = None) -> list[TrainOutcome]:
    """Train every configuration of `loaded.recipe.train` (or those named in `only`).

    Args:
        loaded: the recipe.
        store: the results database (a `Store`); rows are written by the main process only.
        only: names of the configurations to train.
        force: retrain a configuration even if it was already trained on the same data.
        progress: show a progress bar.
        stop_at: stop each configuration after this many optimizer steps, resumable (tests).
    """
    from r2d_sdk.store import TrainingRuns
    from r2d_sdk.train._trainer import R2DTrainer

    section = loaded.recipe.train
    if section is None:
        raise ConfigError(f"{loaded.path or 'the recipe'} has no `train:` section",
                          fix="add a `train:` section (docs/r2d.md, 'Training recipe')")
    specs = [s for s in section.runs if not only or s.name in only]
    if only and len(specs) != len(set(only)):
        missing = sorted(set(only) - {s.name for s in specs})
        raise ConfigError(f"no training configuration named {missing}",
                          fix=f"choose from: {', '.join(s.name for s in section.runs)}")
    state = process_state()
    is_main = state.is_main_process
    runs = TrainingRuns(store) if store is not None and is_main else None
    outcomes = []
    for spec in specs:
        model_id, ref = base_reference(loaded.recipe, spec)
        trajectories, data_path, data_hash = load_trajectories(loaded, spec, is_main, store if is_main else None)
        digest = config_hash(spec, model_id, data_hash)
        run_dir = Path(spec.output_dir) / f"{spec.name}-{digest[:8]}"
        done = runs.latest(spec.name) if runs is not None else None
        if (done is not None and not force and done.config_hash == digest and done.checkpoint_path
                and Path(done.checkpoint_path).exists()):
            outcomes.append(TrainOutcome(spec.name, done.id, "skipped", done.checkpoint_path, done.metrics_json,
                                         done.steps_done, 0.0))
            continue
        if force and is_main:
            shutil.rmtree(run_dir / "state", ignore_errors=True)
        state.wait_for_everyone()
        train_set, heldout_set = split_heldout(trajectories, spec.data.heldout_fraction, spec.seed)
        training_run_id = None
        if runs is not None:
            previous = runs.resumable(spec.name, digest, data_hash)
            if previous is not None and (run_dir / "state").exists():
                training_run_id = previous.id
                runs.reopen(previous.id)
        export_info: dict[str, Any] = {"base_model": model_id, "data_hash": data_hash}
        if spec.data.judge is not None:
            export_info["judge"] = judge_settings(spec)
        trainer = R2DTrainer(spec, ref, train_set, heldout_set, run_dir, progress=progress, export_info=export_info)
        if runs is not None and training_run_id is None:
            training_run_id = runs.create(spec.name, model_id, spec.model_dump(mode="json"), digest, data_hash,
                                          data_path, len(train_set), len(heldout_set), trainer.total_steps,
                                          str(run_dir.resolve()), loaded.hash)
        if runs is not None and training_run_id is not None:
            run_id = training_run_id
            trainer.log = lambda split, rows, run_id=run_id: runs.log_steps(run_id, split, rows)
            trainer.export_info["training_run_id"] = training_run_id
        try:
            result = trainer.train(stop_at=stop_at)
        except BaseException as error:
            if runs is not None and training_run_id is not None:
                status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
                runs.finish(training_run_id, status, error=f"{type(error).__name__}: {error}")
            raise
        status = "stopped" if result.stopped else "completed"
        if runs is not None and training_run_id is not None:
            metrics = {**result.heldout, "train_seconds": result.seconds,
                       "num_processes": trainer.accelerator.num_processes,
                       "distributed_type": str(trainer.accelerator.distributed_type).rsplit(".", 1)[-1]}
            runs.finish(training_run_id, "interrupted" if result.stopped else "completed", result.checkpoint_path,
                        result.checkpoint_hash, metrics)
        outcomes.append(TrainOutcome(spec.name, training_run_id, status, result.checkpoint_path, result.heldout,
                                     result.steps, result.seconds))
        del trainer
    return outcomes
