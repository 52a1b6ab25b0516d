"""R2D training: trajectories with pivot tokens, SFT + Contrastive Pivot Optimization.

Import of torch-dependent parts happens in their own modules, not here.
"""

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
    file_hash,
    read_jsonl,
    write_jsonl,
)

__all__ = ["OPPOSITE", "PIVOTS", "RETHINK", "SAFE", "THINK_CLOSE", "THINK_OPEN", "UNSAFE", "Step", "Trajectory",
           "file_hash", "read_jsonl", "write_jsonl"]
