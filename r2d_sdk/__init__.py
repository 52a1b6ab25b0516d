"""r2d-sdk: declarative jailbreak evaluation and guardrails built around Reasoning-to-Defend.

`import r2d_sdk` stays light: torch, transformers and litellm load only when a model is used.
"""

from typing import TYPE_CHECKING, Any

from r2d_sdk._calls import record_model_call
from r2d_sdk._components import Attack, Component, Dataset, Defense, Judge, Metric, NoConfig, Target
from r2d_sdk._context import Context
from r2d_sdk._errors import ConfigError, ModelCallError, R2DError, Unavailable
from r2d_sdk._generation import PRESETS, GenerationParams
from r2d_sdk._registry import create, lookup, plugin_load_errors, plugins, register
from r2d_sdk._settings import cache_dir
from r2d_sdk._stats import wilson_interval
from r2d_sdk._types import (
    AttackPrompt,
    Behavior,
    CheckResult,
    DefenseResult,
    Judgment,
    JudgmentStatus,
    Message,
    MetricValue,
    ModelOutput,
    assistant,
    system,
    user,
)
from r2d_sdk._version import __version__
from r2d_sdk.data import DataSource, read_table, resolve_data_file
from r2d_sdk.models import LocalClassifier, LocalLM, LocalWeights, MockReply, MockScript, Model
from r2d_sdk.trajectories import (
    PIVOT_PATTERN,
    PIVOTS,
    RETHINK,
    SAFE,
    THINK_CLOSE,
    THINK_OPEN,
    UNSAFE,
    judge_prompt,
)

if TYPE_CHECKING:
    from r2d_sdk.report import export_artifact
    from r2d_sdk.run import Interrupted, RunResult, evaluate, evaluate_async
    from r2d_sdk.serve import Guard, GuardError, GuardReply
    from r2d_sdk.train import CheckpointRef, link_evaluation_run, resolve_checkpoint, resolve_for_run

# Public names whose packages pull in SQLAlchemy, rich or litellm: imported on first use (PEP 562), so
# `import r2d_sdk` in a plugin or a notebook stays fast.
_LAZY = {
    "export_artifact": "r2d_sdk.report",
    "Interrupted": "r2d_sdk.run", "RunResult": "r2d_sdk.run", "evaluate": "r2d_sdk.run",
    "evaluate_async": "r2d_sdk.run",
    "Guard": "r2d_sdk.serve", "GuardError": "r2d_sdk.serve", "GuardReply": "r2d_sdk.serve",
    "CheckpointRef": "r2d_sdk.train", "link_evaluation_run": "r2d_sdk.train", "resolve_checkpoint": "r2d_sdk.train",
    "resolve_for_run": "r2d_sdk.train",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'r2d_sdk' has no attribute {name!r}")

__all__ = [
    "PIVOTS",
    "PIVOT_PATTERN",
    "PRESETS",
    "RETHINK",
    "SAFE",
    "THINK_CLOSE",
    "THINK_OPEN",
    "UNSAFE",
    "Interrupted",
    "LocalClassifier",
    "LocalLM",
    "LocalWeights",
    "MockReply",
    "MockScript",
    "RunResult",
    "evaluate",
    "evaluate_async",
    "Attack",
    "AttackPrompt",
    "Behavior",
    "CheckResult",
    "CheckpointRef",
    "Component",
    "ConfigError",
    "DataSource",
    "Context",
    "Dataset",
    "Defense",
    "DefenseResult",
    "GenerationParams",
    "Guard",
    "GuardError",
    "GuardReply",
    "Judge",
    "judge_prompt",
    "Judgment",
    "JudgmentStatus",
    "Message",
    "Metric",
    "MetricValue",
    "Model",
    "ModelCallError",
    "ModelOutput",
    "NoConfig",
    "R2DError",
    "Target",
    "Unavailable",
    "__version__",
    "assistant",
    "cache_dir",
    "create",
    "export_artifact",
    "lookup",
    "link_evaluation_run",
    "plugin_load_errors",
    "plugins",
    "read_table",
    "record_model_call",
    "resolve_checkpoint",
    "resolve_for_run",
    "resolve_data_file",
    "register",
    "system",
    "user",
    "wilson_interval",
]
