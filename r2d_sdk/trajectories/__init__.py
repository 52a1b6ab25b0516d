"""R2D training data: the trajectory format, prompt sources, teacher distillation, the templated builder;
and the examples (and the one prompt) of the trained response judge.

A trajectory is an instruction, reasoning steps that each end in a pivot token, an answer and
its pivot. This package makes them (`distill`, `build_offline_trajectories`) and reads and
writes them (JSONL with a content hash); `r2d_sdk.train` consumes them. Nothing here imports torch.
"""

from r2d_sdk.trajectories._distill import DistillResult, distill
from r2d_sdk.trajectories._format import (
    OPPOSITE,
    PIVOT_PATTERN,
    PIVOTS,
    RETHINK,
    SAFE,
    THINK_CLOSE,
    THINK_OPEN,
    UNSAFE,
    Step,
    Trajectory,
    append_jsonl,
    file_hash,
    read_jsonl,
    write_jsonl,
    write_paper_jsonl,
)
from r2d_sdk.trajectories._judge_data import (
    JAILBROKEN,
    JUDGE_NO,
    JUDGE_YES,
    NOT_JAILBROKEN,
    artifact_records,
    build_judge_examples,
    judge_prompt,
)
from r2d_sdk.trajectories._overlap import find_overlaps
from r2d_sdk.trajectories._prompts import SeedPrompt, load_prompts, load_seed_prompts
from r2d_sdk.trajectories._templated import build_offline_trajectories

__all__ = ["JAILBROKEN", "JUDGE_NO", "JUDGE_YES", "NOT_JAILBROKEN", "OPPOSITE", "PIVOTS", "PIVOT_PATTERN", "RETHINK", "SAFE", "THINK_CLOSE",
           "THINK_OPEN", "UNSAFE", "DistillResult", "SeedPrompt", "Step", "Trajectory", "append_jsonl",
           "artifact_records", "build_judge_examples", "build_offline_trajectories", "distill", "file_hash",
           "find_overlaps", "judge_prompt", "load_prompts", "load_seed_prompts", "read_jsonl", "write_jsonl",
           "write_paper_jsonl"]
