"""The runner: builds the grid from a recipe once and walks it, writing to the results database."""

from r2d_sdk.run._build import Grid, build_grid, check_components, load_items, validate_components
from r2d_sdk.run._evaluate import apply_overrides, evaluate, evaluate_async, load_any, validate
from r2d_sdk.run._executors import Executor, InProcessExecutor, Work
from r2d_sdk.run._metrics import compute_metrics
from r2d_sdk.run._ray_executor import RayExecutor
from r2d_sdk.run._resume import RunOptions, resume_command
from r2d_sdk.run._runner import Interrupted, RunResult, execute

__all__ = ["Executor", "Grid", "InProcessExecutor", "Interrupted", "RayExecutor", "RunOptions", "RunResult", "Work",
           "apply_overrides", "build_grid", "check_components", "compute_metrics", "evaluate", "evaluate_async",
           "execute", "load_any", "load_items", "resume_command", "validate", "validate_components"]
