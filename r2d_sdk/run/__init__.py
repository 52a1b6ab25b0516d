"""The runner: builds the grid from a recipe and walks it, writing to the results database."""

from r2d_sdk.run._build import Grid, build_grid, build_models, load_items, validate_components
from r2d_sdk.run._metrics import compute_metrics
from r2d_sdk.run._runner import Interrupted, RunResult, execute

__all__ = ["Grid", "Interrupted", "RunResult", "build_grid", "build_models", "compute_metrics", "execute",
           "load_items", "validate_components"]
