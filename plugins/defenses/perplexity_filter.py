"""Perplexity filter: refuse prompts whose text is too unlikely under a scoring model.

Alon & Kamfonas 2023 and Jain et al. 2023 ("Baseline Defenses for Adversarial Attacks Against
Aligned Language Models"); JailbreakBench scores the whole user turn (no sliding window) and
sets the threshold to the largest mean NLL among its 100 plain goals, so that no plain request
is refused. Optimised suffixes (GCG) read as noise and score far above it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from r2d_plugins.defenses._common import (
    REFUSAL_FIELD,
    Scored,
    last_user_text,
    mean,
    require_local,
    score_logprobs,
)

from r2d_sdk import CheckResult, Context, Dataset, Defense, DefenseResult, Message, Model, create, register


class PerplexityFilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float | None = Field(None, description="refuse when the prompt's mean token NLL is above this")
    calibrate: Literal["jbb-goals"] | None = Field(None, description="jbb-goals: the threshold is the largest "
                                                                     "mean NLL over the 100 plain JBB goals")
    scorer: str | None = Field(None, description="recipe model that scores the prompt (a local model); "
                                                 "default: the target")
    refusal: str = REFUSAL_FIELD

    @model_validator(mode="after")
    def _one_threshold(self) -> PerplexityFilterConfig:
        if (self.threshold is None) == (self.calibrate is None):
            raise ValueError("give exactly one of `threshold: <float>` or `calibrate: jbb-goals`")
        return self


@register("perplexity-filter")
class PerplexityFilter(Defense):
    """Refuse prompts whose mean token NLL under a scoring model exceeds a threshold."""

    Config = PerplexityFilterConfig
    config: PerplexityFilterConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self.threshold: float | None = self.config.threshold
        self.calibration: dict[str, float | int] = {}
        if self.config.scorer:
            self.context.model(self.config.scorer)  # a name not in the recipe fails now, not mid-run
        self.goals: list[str] = []
        if self.config.calibrate == "jbb-goals":  # read now (a small file) so a missing one fails at validate
            dataset = create("dataset", "jbb-harmful", {}, self.context, "perplexity-filter calibration")
            assert isinstance(dataset, Dataset)
            self.goals = [item.goal for item in dataset.items()]

    @property
    def scorer(self) -> Model:
        return self.context.model(self.config.scorer) if self.config.scorer else self.model

    def bind(self, model: Model) -> PerplexityFilter:
        super().bind(model)
        # API models that return logprobs could be scored too; not done here, so the scorer must be local.
        require_local(self.scorer, self.name, "perplexity scoring")
        return self

    async def setup(self) -> None:
        require_local(self.scorer, self.name, "perplexity scoring")
        if self.config.calibrate == "jbb-goals" and self.threshold is None:
            goals = self.goals
            scores = [mean_nll(s.logprobs) for s in [await score_logprobs(self.scorer, g) for g in goals]]
            self.threshold = max(scores)
            self.calibration = {"goals": len(goals), "max_nll": self.threshold, "mean_nll": mean(scores)}

    async def _score(self, messages: list[Message]) -> tuple[Scored, dict[str, Any]]:
        if self.threshold is None:
            await self.setup()
        assert self.threshold is not None
        scored = await score_logprobs(self.scorer, last_user_text(messages), defer_log=True)
        info = {"nll": mean_nll(scored.logprobs), "threshold": self.threshold,
                **({"calibration": self.calibration} if self.calibration else {})}
        return scored, info

    def _reason(self, info: dict[str, Any]) -> str:
        return f"prompt NLL {info['nll']:.2f} > threshold {info['threshold']:.2f}"

    async def check_input(self, messages: list[Message]) -> CheckResult:
        scored, info = await self._score(messages)
        scored.log()
        if info["nll"] > info["threshold"]:
            return CheckResult(True, self._reason(info), self.config.refusal, {**info, "verdict": "blocked"})
        return CheckResult(False, info={**info, "verdict": "passed"})

    async def respond(self, messages: list[Message]) -> DefenseResult:
        scored, info = await self._score(messages)
        if info["nll"] > info["threshold"]:
            scored.log()
            return DefenseResult(self.config.refusal, blocked=True,
                                 info={**info, "verdict": "blocked", "reason": self._reason(info)})
        output = await self.model.generate(messages)
        scored.log()  # after the answer: the store counts calls after a sample's first as the extra cost
        return DefenseResult(output.text, info={**info, "verdict": "passed"})


def mean_nll(logprobs: list[float]) -> float:
    """Mean negative log-likelihood per token (0 for an empty text)."""
    return -mean(logprobs)
