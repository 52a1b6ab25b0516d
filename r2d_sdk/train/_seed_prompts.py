"""Prompts for building R2D trajectories: the shipped seed set, optional extra sources, overlap checks.

The seed set (seed/prompts.jsonl, written for this project) holds three kinds of prompt:
harmful requests spread over JailbreakBench's ten categories, everyday benign requests, and
benign requests that merely sound dangerous. Alpaca (benign) and AdvBench (harmful) can be
added at run time from R2D_DATA_DIR; they are never copied into the repository.

Training prompts must not leak into the evaluation sets. `find_overlaps` flags a pair as a
near duplicate when, after normalisation (NFKC, lower case, punctuation to spaces), either
  - the token sets have Jaccard similarity >= 0.6, or
  - difflib's SequenceMatcher ratio of the normalised strings is >= 0.8.
Both thresholds sit well above what unrelated prompts on the same topic reach (the seed set's
closest pair with JBB/XSTest is reported by tests/train/test_seed_data.py) and well below
what a reworded copy reaches.
"""

from __future__ import annotations

import difflib
import json
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from r2d_sdk._errors import ConfigError
from r2d_sdk.data import DataSource, read_table, resolve_data_file

HARMFUL, BENIGN, SENSITIVE_BENIGN = "harmful", "benign", "sensitive-benign"
LABELS = (HARMFUL, BENIGN, SENSITIVE_BENIGN)
JACCARD_THRESHOLD = 0.6
RATIO_THRESHOLD = 0.8

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
    text = resources.files("r2d_sdk.train").joinpath("seed/prompts.jsonl").read_text(encoding="utf-8")
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


def normalise(text: str) -> str:
    """Lower case, NFKC, every run of non-alphanumerics a single space."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def jaccard(a: str, b: str) -> float:
    """Token-set Jaccard similarity of two normalised strings."""
    left, right = set(a.split()), set(b.split())
    return len(left & right) / len(left | right) if left or right else 1.0


@dataclass(frozen=True)
class Overlap:
    """A prompt too close to an evaluation prompt."""

    prompt: str
    reference: str
    jaccard: float
    ratio: float
    exact: bool


def find_overlaps(prompts: Iterable[str], references: Iterable[str], jaccard_threshold: float = JACCARD_THRESHOLD,
                  ratio_threshold: float = RATIO_THRESHOLD) -> list[Overlap]:
    """Every (prompt, reference) pair that is an exact or near duplicate after normalisation."""
    refs = [(r, normalise(r)) for r in dict.fromkeys(references)]
    matcher = difflib.SequenceMatcher(autojunk=False)
    found = []
    for prompt in dict.fromkeys(prompts):
        norm = normalise(prompt)
        matcher.set_seq2(norm)  # seq2 is the cached side: one prompt against every reference
        for ref, ref_norm in refs:
            jac = jaccard(norm, ref_norm)
            matcher.set_seq1(ref_norm)
            close = (matcher.real_quick_ratio() >= ratio_threshold and matcher.quick_ratio() >= ratio_threshold)
            ratio = matcher.ratio() if close or jac >= jaccard_threshold else 0.0
            if norm == ref_norm or jac >= jaccard_threshold or ratio >= ratio_threshold:
                found.append(Overlap(prompt, ref, jac, ratio, norm == ref_norm))
    return found


def closest_reference(prompt: str, references: Sequence[str]) -> tuple[str, float, float]:
    """The reference most similar to a prompt (by max of Jaccard and ratio): for reports and tests."""
    norm = normalise(prompt)
    scored = []
    for ref in references:
        ref_norm = normalise(ref)
        scored.append((max(jaccard(norm, ref_norm), difflib.SequenceMatcher(None, norm, ref_norm).ratio()),
                       ref, jaccard(norm, ref_norm), difflib.SequenceMatcher(None, norm, ref_norm).ratio()))
    best = max(scored)
    return best[1], best[2], best[3]


def drop_overlapping(prompts: Sequence[SeedPrompt], references: Iterable[str]) -> tuple[list[SeedPrompt], int]:
    """Prompts with every near duplicate of a reference removed, and how many were removed."""
    flagged = {o.prompt for o in find_overlaps([p.text for p in prompts], references)}
    kept = [p for p in prompts if p.text not in flagged]
    return kept, len(prompts) - len(kept)


def relabel(prompts: Sequence[SeedPrompt], label: str) -> list[SeedPrompt]:
    """The same prompts under another label (e.g. a dataset of benign requests)."""
    return [replace(p, label=label) for p in prompts]
