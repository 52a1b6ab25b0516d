"""R2D training: pivot tokens, the SFT + Contrastive Pivot Optimization loss, the trainer,
checkpoints and the held-out evaluation. Trajectories come from `r2d_sdk.trajectories`.

torch loads inside the functions that need it, not when this package is imported.
"""

from r2d_sdk.train._checkpoint import (
    CheckpointRef,
    folder_hash,
    link_evaluation_run,
    read_checkpoint,
    resolve_checkpoint,
    resolve_for_run,
)
from r2d_sdk.train._pipeline import TrainOutcome, process_state, run_training

__all__ = ["CheckpointRef", "TrainOutcome", "folder_hash", "link_evaluation_run", "process_state",
           "read_checkpoint", "resolve_checkpoint", "resolve_for_run", "run_training"]
