"""`random-search`: adaptive random search on a suffix (after Andriushchenko et al. 2024).

Each iteration changes a few contiguous characters of the suffix at random and keeps the change
if the log-probability that the reply opens with the target's first token ("Sure") rose. The
number of changed characters shrinks as the search goes on. The search stops early once that
token is the most likely first token. It needs a model that exposes next-token probabilities:
a local model (read directly), or an API model whose provider returns `top_logprobs`.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from r2d_plugins.attacks._white_box import model_lock

from r2d_sdk import Attack, AttackPrompt, Behavior, R2DError, Target, record_model_call, register, user

CHARSET = string.ascii_letters + string.digits + string.punctuation + " "


class RandomSearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="recipe name of the scoring model: local, or an API model returning logprobs")
    # Defaults are a CPU budget; the paper ran up to 10,000 iterations (JailbreakBench artifacts: n-iter 10000).
    iterations: int = Field(60, gt=0, le=1_000_000, description="random changes tried")
    n_chars_change: int = Field(4, gt=0, le=10_000, description="characters changed per iteration at the start")
    schedule: bool = Field(True, description="halve the characters changed as the search goes on")
    suffix_init: str = Field(" ".join("!" * 20), min_length=1, description="the suffix the search starts from")
    format: str = Field("{goal} {suffix}", description="how goal and suffix form the prompt")
    target_token: str | None = Field(None, description="default: the first token of the behavior's target")
    top_logprobs: int = Field(20, ge=1, le=20, description="API models: alternatives asked for")
    early_stop: bool = Field(True, description="stop once the target token is the most likely first token")

    @field_validator("format")
    @classmethod
    def _has_suffix(cls, value: str) -> str:
        if "{suffix}" not in value:
            raise ValueError("format needs a {suffix} slot")
        return value


def changes_at(iteration: int, start: int) -> int:
    """Characters to change at this iteration: halved after 10, 25, 50, 100, 500, 1000 iterations.

    The shape follows the schedule of Andriushchenko et al. (2024): large moves early, fine ones later.
    """
    halvings = sum(iteration > mark for mark in (10, 25, 50, 100, 500, 1000))
    return max(1, start >> halvings)


def mutate(suffix: str, n: int, rng: random.Random) -> str:
    """Replace `n` contiguous characters at a random place with random printable ones."""
    n = min(n, len(suffix))
    start = rng.randrange(len(suffix) - n + 1)
    return suffix[:start] + "".join(rng.choice(CHARSET) for _ in range(n)) + suffix[start + n:]


@register("random-search")
class RandomSearchAttack(Attack):
    """Adaptive random search on a suffix, maximising the log-probability of the target's first token."""

    Config = RandomSearchConfig

    def __init__(self, config: BaseModel | None = None, context: Any = None) -> None:
        super().__init__(config, context)
        self.scorer = self.context.model(self.config.model)

    def _prompt(self, goal: str, suffix: str) -> str:
        return self.config.format.replace("{goal}", goal).replace("{suffix}", suffix)

    async def prompts(self, behavior: Behavior, target: Target) -> list[AttackPrompt]:
        token = self.config.target_token or (behavior.target.split() or ["Sure"])[0].rstrip(",")
        rng = self.context.rng("random-search", behavior.id)
        started = time.perf_counter()
        score = self._local_scorer(behavior.goal, token) if self.scorer.is_local else self._api_scorer(behavior.goal, token)
        search = await self._search(score, rng)
        if self.scorer.is_local:  # direct forward passes: log them as one call so the cost is counted
            record_model_call(self.scorer, [user(self._prompt(behavior.goal, search["suffix"]))], None,
                              latency_ms=(time.perf_counter() - started) * 1000, finish_reason="score",
                              params={"attack": "random-search", "scoring_passes": search["queries"]})
        info = {"attack": "random-search", "attack_type": "white_box" if self.scorer.is_local else "black_box",
                "scoring_model": self.scorer.name, "target_token": token,
                "seconds": round(time.perf_counter() - started, 2), **search,
                "settings": self.config.model_dump(exclude={"model"})}
        return [AttackPrompt([user(self._prompt(behavior.goal, search["suffix"]))], info)]

    async def _search(self, score: Callable[[str], Awaitable[tuple[float, bool]]],
                      rng: random.Random) -> dict[str, Any]:
        cfg = self.config
        best = cfg.suffix_init
        best_lp, is_top = await score(best)
        trace, iterations = [round(best_lp, 4)], 0
        for iteration in range(cfg.iterations):
            if cfg.early_stop and is_top:
                break
            iterations += 1
            n = changes_at(iteration + 1, cfg.n_chars_change) if cfg.schedule else cfg.n_chars_change
            candidate = mutate(best, n, rng)
            lp, top = await score(candidate)
            if lp > best_lp:
                best, best_lp, is_top = candidate, lp, top
            trace.append(round(best_lp, 4))
        return {"suffix": best, "best_logprob": round(best_lp, 4), "target_is_argmax": is_top,
                "iterations_run": iterations, "queries": iterations + 1, "logprob_trace": trace,
                "early_stopped": bool(cfg.early_stop and is_top)}

    def _local_scorer(self, goal: str, token: str) -> Callable[[str], Awaitable[tuple[float, bool]]]:
        import torch

        local = self.scorer.local
        ids = local.tokenizer(token, add_special_tokens=False)["input_ids"]
        if not ids:
            raise R2DError(f"target token {token!r} is empty for this tokenizer", fix="set `target_token`")
        token_id = ids[0]

        def score(suffix: str) -> tuple[float, bool]:
            text = local.render([user(self._prompt(goal, suffix))])
            encoded = local.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(local.device)
            with model_lock(local), torch.inference_mode():
                logits = local.model(**encoded).logits[0, -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            return float(logprobs[token_id]), int(logprobs.argmax()) == token_id

        return lambda suffix: asyncio.to_thread(score, suffix)

    def _api_scorer(self, goal: str, token: str) -> Callable[[str], Awaitable[tuple[float, bool]]]:
        cfg = self.config

        async def score(suffix: str) -> tuple[float, bool]:
            output = await self.scorer.generate([user(self._prompt(goal, suffix))], max_tokens=1, temperature=0.0,
                                                top_logprobs=cfg.top_logprobs)
            if not output.top_logprobs:
                raise R2DError(f"model '{self.scorer.name}' returned no logprobs, which random-search needs",
                               fix="score with a local model, or a provider that returns top_logprobs "
                                   "(e.g. OpenAI chat models)")
            alternatives = output.top_logprobs[0]
            matching = [lp for t, lp in alternatives.items() if t.strip() == token.strip()]
            if not matching:  # below the listed alternatives: a little less likely than the least of them
                return min(alternatives.values()) - 1.0, False
            return max(matching), max(matching) >= max(alternatives.values())

        return score
