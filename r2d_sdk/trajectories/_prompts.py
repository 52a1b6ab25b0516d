"""Prompts for building R2D trajectories: the shipped seed set, optional extra sources, overlap checks.

The seed set (seed/prompts.jsonl, written for this project) holds three kinds of prompt:
harmful requests spread over JailbreakBench's ten categories, everyday benign requests, and
benign requests that merely sound dangerous. Alpaca (benign) and AdvBench (harmful) can be
added at run time from R2D_DATA_DIR; they are never copied into the repository.

Training prompts must not leak into the evaluation sets: see `_overlap.find_overlaps`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from r2d_sdk._errors import ConfigError
from r2d_sdk.data import DataSource, read_table, resolve_data_file
from r2d_sdk.trajectories._overlap import find_overlaps

HARMFUL, BENIGN, SENSITIVE_BENIGN = "harmful", "benign", "sensitive-benign"
LABELS = (HARMFUL, BENIGN, SENSITIVE_BENIGN)

ALPACA = DataSource("alpaca", data_dir_paths=("alpaca/alpaca_5000.json", "alpaca/alpaca_data.json"))
ADVBENCH = DataSource("advbench", data_dir_paths=("advbench/data/advbench/harmful_behaviors.csv",
                                                  "advbench/harmful_behaviors.csv"))
# The evaluation sets the seed set must stay clear of.
EVALUATION_SETS = {
    "jbb-harmful": (DataSource("jbb-harmful", data_dir_paths=("jbb-behaviors/harmful-behaviors.csv",),
                               package=("jailbreakbench", "jailbreakbench/data/behaviors.csv")), "Goal"),
    "jbb-benign": (DataSource("jbb-benign", data_dir_paths=("jbb-behaviors/benign-behaviors.csv",)), "Goal"),
    "xstest": (DataSource("xstest", data_dir_paths=("xstest/xstest_prompts.csv",)), "prompt"),
}


@dataclass(frozen=True)
class SeedPrompt:
    """One prompt to turn into a trajectory.

    Attributes:
        id: stable identifier within its source.
        prompt: the instruction.
        label: harmful, benign or sensitive-benign (benign that sounds dangerous).
        category: JBB category for harmful prompts, topic or XSTest-style type otherwise.
        framing: how a harmful request is dressed: direct, roleplay, hypothetical, pretext.
        source: seed, alpaca, advbench, a dataset or a file name.
        input: Alpaca-style extra input, joined after the instruction.
    """

    id: str
    prompt: str
    label: str
    category: str = ""
    framing: str = ""
    source: str = "seed"
    input: str = ""

    @property
    def text(self) -> str:
        """What the user sends: instruction and input joined as the R2D code does."""
        return f"{self.prompt}\n\n{self.input}" if self.input else self.prompt


def load_seed_prompts(labels: Iterable[str] | None = None) -> list[SeedPrompt]:
    """The seed set shipped with the package, optionally only some labels."""
    wanted = set(labels or LABELS)
    unknown = wanted - set(LABELS)
    if unknown:
        raise ConfigError(f"unknown seed labels {sorted(unknown)}", fix=f"use some of {list(LABELS)}")
    text = resources.files("r2d_sdk.trajectories").joinpath("seed/prompts.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [SeedPrompt(**row) for row in rows if row["label"] in wanted]


def alpaca_prompts(limit: int | None = None, seed: int = 0, path: str | Path | None = None,
                   max_input_chars: int = 300) -> list[SeedPrompt]:
    """Benign Alpaca instructions (CC BY-NC), a seeded random sample, read at run time."""
    rows = read_table(resolve_data_file(ALPACA, path))
    prompts = [SeedPrompt(f"alpaca-{i}", str(r["instruction"]).strip(), BENIGN, "alpaca", source="alpaca",
                          input=str(r.get("input") or "").strip())
               for i, r in enumerate(rows) if len(str(r.get("input") or "")) <= max_input_chars]
    random.Random(f"alpaca:{seed}").shuffle(prompts)
    return prompts[:limit] if limit is not None else prompts


def advbench_prompts(limit: int | None = None, path: str | Path | None = None) -> list[SeedPrompt]:
    """Harmful AdvBench behaviors, read at run time (callers drop those overlapping JBB)."""
    rows = read_table(resolve_data_file(ADVBENCH, path))
    prompts = [SeedPrompt(f"advbench-{i}", str(r["goal"]).strip(), HARMFUL, source="advbench")
               for i, r in enumerate(rows)]
    return prompts[:limit] if limit is not None else prompts


def file_prompts(path: str | Path, label: str | None = None, limit: int | None = None) -> list[SeedPrompt]:
    """Prompts from a CSV/JSON/JSONL file with a prompt (or instruction/goal) column and a label."""
    path = Path(path)
    out = []
    for number, row in enumerate(read_table(path)):
        text = row.get("prompt") or row.get("instruction") or row.get("goal") or row.get("Goal")
        row_label = label or row.get("label")
        if not text or row_label not in LABELS:
            raise ConfigError(f"{path}: row {number + 1} needs a prompt and a label in {list(LABELS)}",
                              fix="add a `prompt` column and a `label` column, or set `label:` on the source")
        out.append(SeedPrompt(str(row.get("id") or f"{path.stem}-{number}"), str(text).strip(), row_label,
                              str(row.get("category") or ""), str(row.get("framing") or ""), path.name,
                              str(row.get("input") or "")))
    return out[:limit] if limit is not None else out


def evaluation_prompts() -> dict[str, list[str]]:
    """Prompts of the evaluation sets (JBB harmful + benign goals, XSTest), found like datasets."""
    return {name: [str(row[column]) for row in read_table(resolve_data_file(source))]
            for name, (source, column) in EVALUATION_SETS.items()}


def load_prompts(sources: Sequence[Any], seed: int = 0, limit: int | None = None,
                 exclude_evaluation: bool = True, context: Any = None) -> tuple[list[SeedPrompt], dict[str, Any]]:
    """Prompts from the `distill:` prompt sources, deduplicated, seeded-shuffled, limited.

    Args:
        sources: `PromptSource` specs (or dicts of their fields).
        seed: fixes the Alpaca sample and the final shuffle.
        limit: at most this many prompts in all.
        exclude_evaluation: drop near duplicates of JBB/XSTest prompts. The shipped seed set is
            checked by the test suite, not again here; AdvBench always loses its JBB overlap.
        context: the recipe's Context, for dataset plugins.

    Returns:
        The prompts and a summary: per-source counts, how many overlaps were dropped, what was checked.
    """
    from r2d_sdk.recipe import PromptSource

    specs = [s if isinstance(s, PromptSource) else PromptSource.model_validate(s) for s in sources]
    found: list[SeedPrompt] = []
    counts: dict[str, int] = {}
    for spec in specs:
        found.extend(_from_source(spec, seed, context))
        counts[spec.name or spec.path or spec.source] = len(found) - sum(counts.values())
    info: dict[str, Any] = {"sources": counts, "dropped_overlap": 0, "overlap_checked_against": []}
    prompts = list({p.text: p for p in found}.values())  # a prompt given twice is one trajectory
    outside_seed = [p for p in prompts if p.source != "seed"]
    if not outside_seed:
        info["overlap_checked_against"] = ["not needed: the seed set is checked by tests/train/test_seed_data.py"]
    if outside_seed and (exclude_evaluation or any(p.source == "advbench" for p in outside_seed)):
        try:
            evaluation = evaluation_prompts()
        except ConfigError as error:
            if any(p.source == "advbench" for p in outside_seed):
                raise ConfigError(f"AdvBench overlaps JBB, which was not found to remove it: {error.message}",
                                  fix=error.fix) from None
            info["overlap_checked_against"] = [f"nothing: {error.message}"]
        else:
            names = list(evaluation) if exclude_evaluation else ["jbb-harmful"]
            references = [text for name in names for text in evaluation[name]]
            flagged = {o.prompt for o in find_overlaps([p.text for p in outside_seed], references)}
            info["dropped_overlap"] = len(flagged)
            info["overlap_checked_against"] = names
            prompts = [p for p in prompts if p.text not in flagged]
    random.Random(f"prompts:{seed}").shuffle(prompts)
    return (prompts[:limit] if limit is not None else prompts), info


def _from_source(spec: Any, seed: int, context: Any) -> list[SeedPrompt]:
    if spec.source == "seed":
        prompts = load_seed_prompts(spec.labels)
    elif spec.source == "alpaca":
        prompts = alpaca_prompts(spec.limit, seed, spec.path)
    elif spec.source == "advbench":
        prompts = advbench_prompts(None, spec.path)
    elif spec.source == "file":
        prompts = file_prompts(spec.path, spec.label)
    else:
        prompts = dataset_prompts(spec.name, spec.args, spec.label, context)
    return prompts[:spec.limit] if spec.limit is not None else prompts


def dataset_prompts(name: str, args: dict[str, Any], label: str | None = None, context: Any = None) -> list[SeedPrompt]:
    """Prompts from a dataset plugin; each item's label is used unless `label` is given."""
    from r2d_sdk._components import Dataset
    from r2d_sdk._context import Context
    from r2d_sdk._registry import create

    dataset = create("dataset", name, args, context or Context(), f"distill.prompts[{name}]")
    assert isinstance(dataset, Dataset)
    out = []
    for item in dataset.items():
        item_label = label or item.label
        if item_label not in LABELS:
            raise ConfigError(f"dataset '{name}': item {item.id} has label {item_label!r}, not one of {list(LABELS)}",
                              fix="set `label:` on this prompt source")
        out.append(SeedPrompt(f"{name}-{item.id}", item.goal, item_label, item.category or "", source=name))
    return out
