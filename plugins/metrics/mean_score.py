"""The mean of a judge's scores (e.g. StrongREJECT's) with a t-based 95% interval.

The interval is Student's t: mean ± t(0.975, n − 1) · s / √n, with s the sample standard
deviation, clipped to the scores' range ([0, 1] by default, where every built-in score lies).
It assumes nothing about the scores' shape beyond a mean that is roughly normal at this n; with
all scores equal it collapses to the mean, and with one score it is the whole range.

No statistics library is a dependency here (scipy is not installed), so the t quantile is
computed from the exact t distribution function for integer degrees of freedom (Abramowitz &
Stegun 1964, *Handbook of Mathematical Functions*, 26.7.3 and 26.7.4), inverted by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from r2d_sdk import Judgment, JudgmentStatus, Metric, MetricValue, register


def t_central_probability(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with `df` (a positive whole number) degrees of freedom."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:  # A&S 26.7.3: (2/π)[θ + sin θ (cos θ + 2/3 cos³θ + ... )]
        term, series = math.cos(theta), 0.0
        for j in range(1, (df - 1) // 2 + 1):
            series += term
            term *= cos2 * (2 * j) / (2 * j + 1)
        return 2 / math.pi * (theta + math.sin(theta) * series)
    term, series = 1.0, 0.0  # A&S 26.7.4: sin θ (1 + 1/2 cos²θ + (1·3)/(2·4) cos⁴θ + ...)
    for j in range(1, df // 2 + 1):
        series += term
        term *= cos2 * (2 * j - 1) / (2 * j)
    return math.sin(theta) * series


def t_quantile_975(df: int) -> float:
    """t(0.975, df): the half-width multiplier of a two-sided 95% interval."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}")
    low, high = 0.0, 16.0  # t(0.975, 1) = 12.71 is the largest
    for _ in range(60):  # 16 / 2**60 is below float resolution near these values
        middle = (low + high) / 2
        if t_central_probability(middle, df) < 0.95:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def mean_interval(scores: Sequence[float], bounds: tuple[float, float] | None = (0.0, 1.0)
                  ) -> tuple[float, float | None, float | None]:
    """(mean, low, high): the t-based 95% interval, clipped to `bounds` (None: not clipped)."""
    n = len(scores)
    mean = math.fsum(scores) / n
    if n == 1:
        return (mean, *bounds) if bounds else (mean, None, None)
    sd = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / (n - 1))
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return mean, low, high


class MeanScoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bounds: tuple[float, float] | None = Field((0.0, 1.0), description="the scores' range, to which the "
                                                                       "interval is clipped; null: no clipping")

    @model_validator(mode="after")
    def _ordered(self) -> MeanScoreConfig:
        if self.bounds is not None and not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"bounds {list(self.bounds)} must be [low, high] with low < high")
        return self


@register("mean-score")
class MeanScore(Metric):
    """Mean of the judge's scores (StrongREJECT's, in [0, 1]) with a t-based 95% interval."""

    Config = MeanScoreConfig

    def compute(self, judgments: Sequence[Judgment]) -> MetricValue | None:
        scored = [j for j in judgments if j.status == JudgmentStatus.SCORED]
        scores = [j.score for j in scored if j.score is not None]
        if scored and not scores:
            return None  # this judge gives no score
        # Errors and unscorable verdicts stay out of n and are counted apart, never as a 0.
        extra = {"errors": sum(1 for j in judgments if j.status == JudgmentStatus.ERROR),
                 "unscorable": sum(1 for j in judgments if j.status == JudgmentStatus.UNSCORABLE),
                 "interval": "t"}
        if not scores:
            return MetricValue(None, 0, None, None, extra)
        mean, low, high = mean_interval(scores, self.config.bounds)
        return MetricValue(mean, len(scores), low, high, extra)
