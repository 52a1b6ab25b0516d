"""Which executor a recipe names (apart from `_executors`, which the Ray executor imports)."""

from __future__ import annotations

from r2d_sdk.recipe import Recipe
from r2d_sdk.run._executors import Executor, InProcessExecutor


def executor_for(recipe: Recipe) -> Executor:
    """The executor the recipe's `executor:` section names: in this process, or Ray."""
    if recipe.executor.ray is None:
        return InProcessExecutor()
    from r2d_sdk.run._ray_executor import RayExecutor

    return RayExecutor(recipe.executor.ray)
