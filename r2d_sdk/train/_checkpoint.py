"""Checkpoints: resumable training state, the exported model, and finding a checkpoint again.

Training state (`<output>/<name>/state/step-N`) holds the model, optimizer, scheduler and RNG
states through accelerate, plus `trainer_state.json` (the step reached). The exported model
(`<output>/<name>/model-<hash12>`) is a plain transformers folder (LoRA merged unless asked
otherwise) with `r2d_checkpoint.json`; its folder name carries its content hash, so a model
answer cached under `local/<folder>` can never belong to another set of weights.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r2d_sdk._errors import ConfigError, R2DError

if TYPE_CHECKING:
    from r2d_sdk._context import Context
    from r2d_sdk.store import Store

STATE_FILE = "trainer_state.json"
CHECKPOINT_INFO = "r2d_checkpoint.json"


def folder_hash(folder: str | Path) -> str:
    """SHA-256 over every file's relative path and bytes, in sorted order."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def state_folders(root: str | Path) -> list[Path]:
    """Saved training states under `root`, oldest first."""
    root = Path(root)
    found = [p for p in root.glob("step-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def save_state(accelerator: Any, root: str | Path, step: int, extra: dict[str, Any], keep: int) -> Path:
    """Save everything needed to resume at `step`; keep the newest `keep` states."""
    folder = Path(root) / f"step-{step}"
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        (folder / STATE_FILE).write_text(json.dumps({"step": step, **extra}, indent=1))
        for old in state_folders(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return folder


def load_latest_state(accelerator: Any, root: str | Path) -> dict[str, Any] | None:
    """Restore the newest saved state; returns its trainer_state.json, or None when there is none."""
    folders = state_folders(root)
    if not folders:
        return None
    accelerator.load_state(str(folders[-1]))
    return json.loads((folders[-1] / STATE_FILE).read_text())


def export_model(model: Any, tokenizer: Any, root: str | Path, info: dict[str, Any]) -> tuple[Path, str]:
    """Save a loadable model folder and return (its final path, its content hash)."""
    root = Path(root)
    partial = root / "model.partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    (partial / CHECKPOINT_INFO).write_text(json.dumps(info, indent=1, sort_keys=True))
    digest = folder_hash(partial)
    final = root / f"model-{digest[:12]}"
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final, digest


@dataclass
class CheckpointRef:
    """A model folder the `r2d` defense can answer with, and the training run that made it."""

    path: str
    training_run_id: int | None = None
    name: str | None = None
    checkpoint_hash: str | None = None
    base_model: str | None = None
    adapter_base: str | None = None  # set when the folder is an unmerged PEFT adapter
    prompt_format: str = "chat"
    source: str | None = None  # the adapter folder `path` was merged from
    info: dict[str, Any] = field(default_factory=dict)  # the folder's r2d_checkpoint.json (e.g. a judge's settings)


def read_checkpoint(folder: str | Path) -> CheckpointRef:
    """Describe a checkpoint folder (merged model or PEFT adapter); an error names the fix."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"checkpoint folder {folder} does not exist",
                          fix="give the model folder `r2d-sdk train` printed, or use `training: <name>`")
    info = json.loads((folder / CHECKPOINT_INFO).read_text()) if (folder / CHECKPOINT_INFO).exists() else {}
    adapter_base = None
    if (folder / "adapter_config.json").exists():
        adapter_base = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    elif not (folder / "config.json").exists():
        raise ConfigError(f"{folder} holds neither a model (config.json) nor a PEFT adapter (adapter_config.json)",
                          fix="point `checkpoint:` at the exported model folder")
    return CheckpointRef(str(folder.resolve()), info.get("training_run_id"), info.get("name"),
                         info.get("checkpoint_hash"), info.get("base_model"), adapter_base,
                         info.get("prompt_format", "chat"), info=info)


def merged_folder(ref: CheckpointRef) -> str:
    """A plain model folder for a PEFT adapter checkpoint: base + adapter merged once, kept in the cache.

    The adapter's tokenizer (with the pivot tokens) is used and the base resized to it first.
    """
    if ref.adapter_base is None:
        return ref.path
    from r2d_sdk._settings import cache_dir

    target = cache_dir() / "r2d-merged" / folder_hash(ref.path)[:16]
    if (target / "config.json").exists():
        return str(target)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r2d_sdk.models import resolve_model_folder

    base_folder, on_disk = resolve_model_folder(ref.adapter_base)
    tokenizer = AutoTokenizer.from_pretrained(ref.path)
    base = AutoModelForCausalLM.from_pretrained(base_folder, local_files_only=on_disk)
    base.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model = PeftModel.from_pretrained(base, ref.path).merge_and_unload()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if (Path(ref.path) / CHECKPOINT_INFO).exists():
        shutil.copy(Path(ref.path) / CHECKPOINT_INFO, partial / CHECKPOINT_INFO)
    partial.rename(target)
    return str(target)


def resolve_checkpoint(checkpoint: str | None = None, training: str | None = None, store: Store | None = None,
                       database: str | None = None) -> CheckpointRef:
    """Find the model folder for the `r2d` defense (or another consumer of a checkpoint).

    Args:
        checkpoint: a model folder (merged model, or a PEFT adapter over its base).
        training: the name of a training run: the latest *completed* one in the results database.
        store: the results database to search; opened from `database` when None.
        database: URL or path of the results database (default: R2D_DATABASE_URL, ./r2d-results.db).
    """
    if (checkpoint is None) == (training is None):
        raise ConfigError("the r2d defense needs exactly one of `checkpoint: <folder>` or `training: <name>`",
                          fix="set `checkpoint` to a model folder, or `training` to a name from `r2d-sdk train`")
    if checkpoint is not None:
        return _loadable(read_checkpoint(checkpoint))
    from r2d_sdk._settings import database_url
    from r2d_sdk.store import Store, TrainingRuns

    store = store if store is not None else Store(database_url(database))
    row = TrainingRuns(store).latest(str(training))
    if row is None or not row.checkpoint_path:
        raise R2DError(f"no completed training run named '{training}' in {store.display_url}",
                       fix="run `r2d-sdk train RECIPE` first (same --db), or list them: r2d-sdk sql \"SELECT id, name, status FROM training_runs\"")
    ref = read_checkpoint(row.checkpoint_path)
    ref.training_run_id, ref.name, ref.checkpoint_hash = row.id, row.name, row.checkpoint_hash
    ref.base_model = row.base_model
    return _loadable(ref)


def _loadable(ref: CheckpointRef) -> CheckpointRef:
    # An unmerged adapter is merged once into the cache so `local/<folder>` can load it.
    if ref.adapter_base is not None:
        ref.source, ref.path = ref.path, merged_folder(ref)
    return ref


def link_evaluation_run(store: Store | None, run_id: str | None, training_run_id: int | None) -> None:
    """Point an evaluation run (`runs.training_run_id`) at the training run whose checkpoint answered.

    A no-op without a results database, run or training run (e.g. a defense used from Python).
    """
    if store is None or run_id is None or training_run_id is None:
        return
    from r2d_sdk.store import TrainingRuns

    TrainingRuns(store).link_run(run_id, training_run_id)


def resolve_for_run(context: Context, checkpoint: str | None = None, training: str | None = None,
                    database: str | None = None) -> CheckpointRef:
    """`resolve_checkpoint` for a component inside a run, then `link_evaluation_run`.

    A training run is looked up in the run's own results database (`context.store`) unless
    `database` names another; the run is then linked to it.
    """
    ref = resolve_checkpoint(checkpoint, training, context.store if database is None else None, database)
    link_evaluation_run(context.store, context.run_id, ref.training_run_id)
    return ref
