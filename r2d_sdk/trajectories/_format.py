"""Safety-aware reasoning trajectories: the training data of R2D.

A trajectory is an instruction, reasoning steps that each end in a pivot token, a final
answer followed by its own pivot, the ground-truth label and where it came from. Its text
form follows the format shown in the R2D paper (Zhu et al., EMNLP 2025):

    <think>\\n step ... [PIVOT]\\n\\n step ... [PIVOT] </think>\\n\\n answer ... [PIVOT]
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r2d_sdk._errors import ConfigError

SAFE, UNSAFE, RETHINK = "[SAFE]", "[UNSAFE]", "[RETHINK]"
PIVOTS = (SAFE, UNSAFE, RETHINK)
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# Opposites for Contrastive Pivot Optimization; RETHINK has none by default.
OPPOSITE = {SAFE: UNSAFE, UNSAFE: SAFE}
# Any pivot, as one capturing group (so `split` keeps the pivots between the segments).
PIVOT_PATTERN = re.compile("(" + "|".join(re.escape(p) for p in PIVOTS) + ")")
_INNER_PIVOT = re.compile(r" ?(\[SAFE\]|\[UNSAFE\]|\[RETHINK\])")


@dataclass
class Step:
    """One reasoning step and the pivot that ends it."""

    text: str
    pivot: str

    def __post_init__(self) -> None:
        if self.pivot not in PIVOTS:
            raise ValueError(f"pivot {self.pivot!r} is not one of {PIVOTS}")


@dataclass
class Trajectory:
    """One training example: instruction (+ optional input), reasoning, answer, label."""

    instruction: str
    steps: list[Step]
    answer: str
    answer_pivot: str
    label: str  # "harmful" or "benign"
    source: str = ""
    input: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """What the user asked: instruction and input joined as the paper's code does."""
        return f"{self.instruction}\n\n{self.input}" if self.input else self.instruction

    def output_text(self, with_pivots: bool = True, reasoning: bool = True) -> str:
        """The model's side: reasoning in <think>…</think>, then the answer, pivots after each part.

        `reasoning=False` gives the answer alone, without pivots (plain supervised fine-tuning).
        """
        def tag(pivot: str) -> str:
            return f" {pivot}" if with_pivots else ""

        def text(value: str) -> str:  # an imported answer may hold pivots of its own (one per sentence)
            return value.strip() if with_pivots else _INNER_PIVOT.sub("", value).strip()

        if not reasoning:
            return _INNER_PIVOT.sub("", self.answer).strip()
        steps = "\n\n".join(f"{text(s.text)}{tag(s.pivot)}" for s in self.steps)
        return f"{THINK_OPEN}\n{steps} {THINK_CLOSE}\n\n{text(self.answer)}{tag(self.answer_pivot)}"

    def to_paper_record(self) -> dict[str, str]:
        """The released dataset's columns: instruction, input, output."""
        return {"instruction": self.instruction, "input": self.input, "output": self.output_text()}

    @classmethod
    def from_paper_record(cls, record: dict[str, Any], label: str = "", source: str = "paper") -> Trajectory:
        """Parse a released-format record; steps are split at pivots inside <think>…</think>.

        The answer keeps any pivots inside it (the paper's teacher put one after every sentence);
        its last pivot becomes `answer_pivot`. Without a `label`, it is inferred: harmful when a
        reasoning step ends in [UNSAFE], else benign (`meta["label_inferred"]` says so).
        """
        output = str(record.get("output", ""))
        if THINK_OPEN in output and THINK_CLOSE in output:
            thinking = output.split(THINK_OPEN, 1)[1].split(THINK_CLOSE, 1)[0]
            answer_part = output.split(THINK_CLOSE, 1)[1]
        else:
            thinking, answer_part = "", output
        steps = _split_steps(thinking)
        answer = answer_part.strip()
        found = PIVOT_PATTERN.findall(answer)
        answer_pivot = found[-1] if found else SAFE
        if found and answer.endswith(answer_pivot):
            answer = answer[:-len(answer_pivot)].rstrip()
        meta: dict[str, Any] = {}
        if not label:
            label = "harmful" if any(s.pivot == UNSAFE for s in steps) else "benign"
            meta["label_inferred"] = True
        return cls(str(record.get("instruction", "")), steps, answer, answer_pivot, label, source,
                   str(record.get("input", "") or ""), meta)


def _split_steps(text: str) -> list[Step]:
    parts = PIVOT_PATTERN.split(text)
    steps = []
    for i in range(1, len(parts), 2):
        steps.append(Step(parts[i - 1].strip(), parts[i]))
    return steps


def write_jsonl(trajectories: Iterable[Trajectory], path: str | Path) -> str:
    """Write trajectories as JSONL; returns the file's SHA-256 (stored with each training run)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("w", encoding="utf-8") as handle:
        for trajectory in trajectories:
            line = trajectory_line(trajectory)
            handle.write(line)
            digest.update(line.encode())
    return digest.hexdigest()


def trajectory_line(trajectory: Trajectory) -> str:
    """One trajectory as the JSONL line `write_jsonl` writes."""
    return json.dumps(asdict(trajectory), ensure_ascii=False, sort_keys=True) + "\n"


def append_jsonl(trajectories: Iterable[Trajectory], path: str | Path) -> None:
    """Add trajectories to a JSONL file as they are made, so an interrupted build keeps them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for trajectory in trajectories:
            handle.write(trajectory_line(trajectory))
            handle.flush()


def write_paper_jsonl(trajectories: Iterable[Trajectory], path: str | Path) -> str:
    """Write the R2D release's format (instruction, input, output); returns the file's SHA-256.

    `read_jsonl` reads it back (labels are then inferred from the pivots).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("w", encoding="utf-8") as handle:
        for trajectory in trajectories:
            line = json.dumps(trajectory.to_paper_record(), ensure_ascii=False) + "\n"
            handle.write(line)
            digest.update(line.encode())
    return digest.hexdigest()


def read_jsonl(path: str | Path) -> list[Trajectory]:
    """Read trajectories written by `write_jsonl` (or paper-format records, detected per line)."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if "steps" in data:
                    data["steps"] = [Step(**s) for s in data["steps"]]
                    out.append(Trajectory(**data))
                else:
                    out.append(Trajectory.from_paper_record(data))
            except (json.JSONDecodeError, TypeError, ValueError) as error:
                raise ConfigError(f"{path}:{number}: not a trajectory ({error})",
                                  fix="each line must be a trajectory object or an instruction/input/output record"
                                  ) from None
    return out


def file_hash(path: str | Path) -> str:
    """SHA-256 of a data file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
