"""The runner: builds the grid from a recipe once and walks it, writing to the results database."""

from r2d_sdk.run._build import (
    Grid,
    JudgePanel,
    build_grid,
    build_judges,
    check_components,
    load_items,
    validate_components,
)
from r2d_sdk.run._corrections import CORRECTED_METRICS, correct_metrics, recorrect_run
from r2d_sdk.run._evaluate import apply_overrides, evaluate, evaluate_async, load_any, validate
from r2d_sdk.run._executors import Executor, InProcessExecutor, Work
from r2d_sdk.run._judging import judge_safely
from r2d_sdk.run._metrics import compute_metrics
from r2d_sdk.run._ray_executor import RayExecutor
from r2d_sdk.run._resume import RunOptions, resume_command
from r2d_sdk.run._runner import Interrupted, RunResult, execute

__all__ = ["CORRECTED_METRICS", "Executor", "Grid", "InProcessExecutor", "Interrupted", "JudgePanel", "RayExecutor",
           "RunOptions", "RunResult", "Work", "apply_overrides", "build_grid", "build_judges", "check_components",
           "compute_metrics", "correct_metrics", "evaluate", "evaluate_async", "execute", "judge_safely", "load_any",
           "load_items", "recorrect_run", "resume_command", "validate", "validate_components"]
