"""Recipes: YAML files naming models, datasets, attacks, defenses, judges and metrics, and the
`train:`, `distill:` and `serve:` sections. Pure pydantic models and YAML loading: nothing here builds a component."""

from r2d_sdk.recipe._deployments import ROUTING_STRATEGIES, DeploymentSpec, RoutingSpec
from r2d_sdk.recipe._distill import QUOTE_CHARS, DistillSpec, PromptSource
from r2d_sdk.recipe._executor import RAY_INSTALL, ExecutorSpec, RaySpec
from r2d_sdk.recipe._judge_identity import JudgeIdentity, judge_config_hash, judge_identity
from r2d_sdk.recipe._load import LoadedRecipe, expand_env, load_recipe, parse_recipe
from r2d_sdk.recipe._schema import AttackSpec, ComponentSpec, DatasetSpec, GenerationSpec, ModelSpec, Recipe
from r2d_sdk.recipe._serve import RouteSpec, ServeSection
from r2d_sdk.recipe._train import JudgeDataSpec, LoraSpec, TrainDataSpec, TrainSection, TrainSpec

__all__ = ["QUOTE_CHARS", "RAY_INSTALL", "ROUTING_STRATEGIES", "AttackSpec", "ComponentSpec", "DatasetSpec",
           "DeploymentSpec", "DistillSpec", "ExecutorSpec", "GenerationSpec", "JudgeDataSpec", "JudgeIdentity", "LoadedRecipe",
           "LoraSpec", "ModelSpec",
           "PromptSource", "RaySpec", "Recipe", "RouteSpec", "RoutingSpec", "ServeSection", "TrainDataSpec",
           "TrainSection", "TrainSpec", "expand_env", "judge_config_hash", "judge_identity", "load_recipe", "parse_recipe"]
