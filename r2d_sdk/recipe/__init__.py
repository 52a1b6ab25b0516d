"""Recipes: YAML files naming models, datasets, attacks, defenses, judges and metrics, and the
`train:`, `distill:` and `serve:` sections. Pure pydantic models and YAML loading: nothing here builds a component."""

from r2d_sdk.recipe._distill import QUOTE_CHARS, DistillSpec, PromptSource
from r2d_sdk.recipe._load import LoadedRecipe, expand_env, load_recipe, parse_recipe
from r2d_sdk.recipe._schema import AttackSpec, ComponentSpec, DatasetSpec, GenerationSpec, ModelSpec, Recipe
from r2d_sdk.recipe._serve import RouteSpec, ServeSection
from r2d_sdk.recipe._train import LoraSpec, TrainDataSpec, TrainSection, TrainSpec

__all__ = ["QUOTE_CHARS", "AttackSpec", "ComponentSpec", "DatasetSpec", "DistillSpec", "GenerationSpec",
           "LoadedRecipe", "LoraSpec", "ModelSpec", "PromptSource", "Recipe", "RouteSpec", "ServeSection",
           "TrainDataSpec", "TrainSection", "TrainSpec", "expand_env", "load_recipe", "parse_recipe"]
