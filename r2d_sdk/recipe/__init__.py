"""Recipes: YAML files naming models, datasets, attacks, defenses, judges and metrics."""

from r2d_sdk.recipe._load import LoadedRecipe, expand_env, load_recipe, parse_recipe
from r2d_sdk.recipe._schema import AttackSpec, ComponentSpec, DatasetSpec, GenerationSpec, ModelSpec, Recipe

__all__ = ["AttackSpec", "ComponentSpec", "DatasetSpec", "GenerationSpec", "LoadedRecipe", "ModelSpec", "Recipe",
           "expand_env", "load_recipe", "parse_recipe"]
