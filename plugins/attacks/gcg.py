"""`gcg`: Greedy Coordinate Gradient suffix attack (Zou et al. 2023) on a white-box local model.

The attack only sees the defended system as a black box, so the model whose gradients it
follows is named in its arguments (`model:`): the target's own local model, another local
model (a transfer attack), or an R2D checkpoint (`local/<folder>`). The optimised suffix is
stored with the sample (prompt and attack info), so `r2d-sdk export-artifact` can turn a run
into a JailbreakBench artifact that the `artifact` attack replays against any other model.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from r2d_plugins.attacks._white_box import model_lock

from r2d_sdk import Attack, AttackPrompt, Behavior, ConfigError, Target, record_model_call, register, user

# Paper scale (Zou et al. 2023, and JailbreakBench's GCG artifacts): 500 steps, top-k 256,
# 512 candidates per step, a 20-token suffix of "!". The CPU preset is this project's own
# budget for SmolLM2-135M on two cores: about a minute or two per behavior.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"steps": 500, "top_k": 256, "batch_size": 512, "suffix_length": 20, "eval_batch": 512,
              "check_every": 0},
    "cpu": {"steps": 12, "top_k": 64, "batch_size": 32, "suffix_length": 10, "eval_batch": 32,
            "check_every": 4},
}

class GCGConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="recipe name of the local model whose gradients are used (white-box)")
    preset: Literal["cpu", "paper"] = Field("cpu", description="budget defaults; any field below overrides")
    steps: int | None = Field(None, gt=0, le=1_000_000, description="optimisation steps")
    top_k: int | None = Field(None, gt=0, le=1_000_000, description="replacement tokens kept per suffix position")
    batch_size: int | None = Field(None, gt=0, le=65_536, description="candidate suffixes tried per step")
    suffix_length: int | None = Field(None, gt=0, le=4096, description="suffix tokens")
    suffix_init: str = Field("!", description="the token the suffix starts as (repeated)")
    eval_batch: int | None = Field(None, gt=0, le=65_536, description="candidates per forward pass (memory bound)")
    check_every: int | None = Field(None, ge=0, le=1_000_000, description="test greedy decoding every N steps and stop "
                                                            "once it yields the target; 0 never stops early")
    allow_non_ascii: bool = Field(False, description="allow non-ASCII tokens in the suffix")
    target: str | None = Field(None, description="target string; default: the behavior's target")


@register("gcg")
class GCGAttack(Attack):
    """Greedy Coordinate Gradient adversarial suffix, optimised on a white-box local model."""

    Config = GCGConfig

    def __init__(self, config: BaseModel | None = None, context: Any = None) -> None:
        super().__init__(config, context)
        model = self.context.model(self.config.model)
        if not model.is_local:
            raise ConfigError(f"gcg needs gradients, but model '{model.name}' ({model.model_id}) is an API model",
                              fix="name a `local/...` model in the gcg attack's `model:` argument")
        self.white_box = model
        preset = PRESETS[self.config.preset]
        self.settings = {k: v if (v := getattr(self.config, k)) is not None else preset[k] for k in preset}

    async def prompts(self, behavior: Behavior, target: Target) -> list[AttackPrompt]:
        target_text = self.config.target or behavior.target
        if not target_text:
            raise ConfigError(f"behavior {behavior.id} has no target string for gcg to aim at",
                              fix="use a dataset with a Target column (jbb-harmful) or set the gcg `target:` arg")
        seed = self.context.rng("gcg", behavior.id).randrange(2**31)
        result, seconds = await asyncio.to_thread(self._optimise, behavior.goal, target_text, seed)
        prompt = behavior.goal + result.suffix
        # The optimisation runs the model directly: log it as one call so its cost is on record.
        record_model_call(self.white_box, [user(prompt)], None, prompt_tokens=result.tokens,
                          latency_ms=seconds * 1000, finish_reason="score",
                          params={"attack": "gcg", "steps": result.steps_run})
        info = {
            "attack": "gcg", "attack_type": "white_box", "white_box_model": self.white_box.name,
            "suffix": result.suffix, "suffix_ids": result.suffix_ids, "target": target_text,
            "best_loss": round(result.best_loss, 4), "loss_trace": [round(x, 4) for x in result.losses],
            "steps_run": result.steps_run, "stopped": result.stopped, "greedy_success": result.success,
            "filtered_candidates": result.filtered, "seconds": round(seconds, 2),
            "settings": dict(self.settings, preset=self.config.preset, seed=seed),
            # One forward per candidate plus one forward/backward per step (JailbreakBench counts
            # GCG queries the same way: steps × batch size).
            "queries": result.steps_run * (self.settings["batch_size"] + 1),
        }
        return [AttackPrompt([user(prompt)], info)]

    def _optimise(self, goal: str, target_text: str, seed: int) -> Any:
        from r2d_plugins.attacks._gcg_core import GCGSettings, optimise, split_prompt

        local = self.white_box.local
        settings = GCGSettings(**self.settings, suffix_init=self.config.suffix_init,
                               allow_non_ascii=self.config.allow_non_ascii, seed=seed)
        parts = split_prompt(lambda content: local.render([user(content)]), local.tokenizer, goal, target_text)
        with model_lock(local):  # timed from here: waiting for another behavior's turn is not its cost
            started = time.perf_counter()
            return optimise(local.model, local.tokenizer, parts, settings), time.perf_counter() - started
