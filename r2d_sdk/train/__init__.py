"""R2D training: trajectories with pivot tokens, SFT + Contrastive Pivot Optimization.

Import of torch-dependent parts happens in their own modules, not here.
"""

from r2d_sdk.train._offline_data import build_offline_trajectories
from r2d_sdk.train._overlap import find_overlaps
from r2d_sdk.train._seed_prompts import SeedPrompt, load_seed_prompts
from r2d_sdk.train._trajectory import (
    OPPOSITE,
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

__all__ = ["OPPOSITE", "PIVOTS", "RETHINK", "SAFE", "THINK_CLOSE", "THINK_OPEN", "UNSAFE", "Step", "Trajectory",
           "file_hash", "read_jsonl", "write_jsonl",
           "SeedPrompt", "append_jsonl", "build_offline_trajectories", "find_overlaps", "load_seed_prompts",
           "write_paper_jsonl"]
