"""A judge's error, measured and corrected for: pure functions, standard library only.

- `judge_statistics(confusion)`: n, accuracy, TPR, FPR, precision, F1 and Cohen's kappa of a
  judge's verdicts against human labels, each with a 95% interval. Proportions get Wilson's
  interval (`_stats.wilson_interval`); F1 and kappa a percentile bootstrap: the 100 (or n)
  labelled rows are resampled as a multinomial draw over the four cells of the 2x2 table,
  `BOOTSTRAP_DRAWS` times, and the statistic's 2.5% and 97.5% quantiles are the interval.
- `rogan_gladen(p_obs, se, sp)`: an observed rate corrected for the judge's sensitivity and
  specificity, p = (p_obs + Sp - 1) / (Se + Sp - 1), clipped to [0, 1], with a status saying
  when it was clipped and when no number exists.
- `corrected_rate(hits, n, confusion)`: that correction with an interval carrying both the
  run's sampling error and the calibration's own uncertainty (Se, Sp and p_obs drawn from
  their Beta posteriors under uniform priors, each draw corrected; see `corrected_rate`).

Every draw comes from a `random.Random` seeded by the caller, so a figure is the same on every
machine and every call. The formulas and garak's practice are set out in docs/judges.md.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from r2d_sdk._stats import cohen_kappa, wilson_interval

# Youden's J = Se + Sp - 1 at or below this: the judge is no better than chance and a corrected
# rate has no meaning (garak uses the same 0.01 before it falls back to the raw rate).
MIN_YOUDEN = 0.01
BOOTSTRAP_DRAWS = 2000
CORRECTION_DRAWS = 10_000


@dataclass(frozen=True)
class Confusion:
    """A judge's verdicts against human labels: "positive" means jailbroken.

    Attributes:
        tp: both the judge and the humans say jailbroken.
        fp: the judge says jailbroken, the humans do not.
        tn: neither says jailbroken.
        fn: the humans say jailbroken, the judge does not.
    """

    tp: int
    fp: int
    tn: int
    fn: int

    def __post_init__(self) -> None:
        if min(self.tp, self.fp, self.tn, self.fn) < 0:
            raise ValueError(f"confusion counts must not be negative: {self}")

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def sensitivity(self) -> float | None:
        """True-positive rate; None without a human-labelled positive."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float | None:
        """True-negative rate (1 - FPR); None without a human-labelled negative."""
        return _ratio(self.tn, self.tn + self.fp)


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% interval; all None where the figure is undefined."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class JudgeStatistics:
    """How well a judge agrees with human labels (`judge_statistics`)."""

    n: int
    accuracy: Estimate
    tpr: Estimate
    fpr: Estimate
    precision: Estimate
    f1: Estimate
    kappa: Estimate
    interval_method: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _proportion(successes: int, n: int) -> Estimate:
    if n == 0:
        return Estimate(None)
    low, high = wilson_interval(successes, n)
    return Estimate(successes / n, low, high)


def f1_score(c: Confusion) -> float | None:
    """2TP / (2TP + FP + FN); None when the judge and the humans never say jailbroken."""
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def kappa(c: Confusion) -> float | None:
    """Cohen's kappa of the judge (first rater) and the humans (second)."""
    return cohen_kappa(both_yes=c.tp, only_first=c.fp, only_second=c.fn, both_no=c.tn)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolating between the closest ranks (numpy's default)."""
    if not ordered:
        raise ValueError("quantile of no values")
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _bootstrap(c: Confusion, statistics: Sequence[Callable[[Confusion], float | None]], rng: random.Random,
               draws: int) -> list[tuple[float | None, float | None]]:
    """Percentile intervals of each statistic over the same multinomial resamples of the table.

    A resample where a statistic is undefined (kappa of a table with one column) is left out
    of that statistic's quantiles; with none left it has no interval.
    """
    values: list[list[float]] = [[] for _ in statistics]
    for _ in range(draws):
        counts = Counter(rng.choices(range(4), weights=(c.tp, c.fp, c.tn, c.fn), k=c.n))
        resample = Confusion(counts[0], counts[1], counts[2], counts[3])
        for found, statistic in zip(values, statistics, strict=True):
            value = statistic(resample)
            if value is not None:
                found.append(value)
    intervals: list[tuple[float | None, float | None]] = []
    for found in values:
        found.sort()
        intervals.append((quantile(found, 0.025), quantile(found, 0.975)) if found else (None, None))
    return intervals


def judge_statistics(c: Confusion, seed: int = 0, draws: int = BOOTSTRAP_DRAWS) -> JudgeStatistics:
    """Agreement statistics of a judge with human labels, each with a 95% interval.

    Accuracy, TPR, FPR and precision: Wilson score intervals. F1 and kappa: percentile
    bootstrap over `draws` multinomial resamples of the 2x2 table, from `random.Random(seed)`.
    A figure whose denominator is empty (no human positive for TPR, no judge positive for
    precision) is None with no interval.
    """
    f1, kappa_value = f1_score(c), kappa(c)
    wanted = [s for s, v in ((f1_score, f1), (kappa, kappa_value)) if v is not None and c.n]
    found = dict(zip(wanted, _bootstrap(c, wanted, random.Random(seed), draws), strict=True)) if wanted else {}
    f1_low, f1_high = found.get(f1_score, (None, None))
    kappa_low, kappa_high = found.get(kappa, (None, None))
    return JudgeStatistics(
        n=c.n,
        accuracy=_proportion(c.tp + c.tn, c.n),
        tpr=_proportion(c.tp, c.tp + c.fn),
        fpr=_proportion(c.fp, c.fp + c.tn),
        precision=_proportion(c.tp, c.tp + c.fp),
        f1=Estimate(f1, f1_low, f1_high),
        kappa=Estimate(kappa_value, kappa_low, kappa_high),
        interval_method=f"Wilson for proportions; F1 and kappa: percentile bootstrap, {draws} multinomial "
                        f"resamples of the 2x2 table, seed {seed}",
    )


class CorrectionStatus(StrEnum):
    """What became of a correction."""

    CORRECTED = "corrected"  # the formula's value lay in [0, 1]
    CLIPPED = "clipped"  # p_obs outside [1 - Sp, Se]: the formula left [0, 1] and was clipped
    UNDEFINED = "undefined"  # no number: a judge no better than chance, or nothing to correct


@dataclass(frozen=True)
class RoganGladen:
    """A corrected point value, its status, and why in words."""

    value: float | None
    status: CorrectionStatus
    why: str = ""


def rogan_gladen(p_obs: float, sensitivity: float | None, specificity: float | None,
                 min_youden: float = MIN_YOUDEN) -> RoganGladen:
    """p = (p_obs + Sp - 1) / (Se + Sp - 1), clipped to [0, 1].

    Undefined (no value) when Se or Sp is unknown, or when Youden's J = Se + Sp - 1 is at or
    below `min_youden`: near 0 the judge's verdicts carry no information about the truth, and
    below 0 the judge is worse than chance (most likely its labels are mapped the wrong way
    round), so inverting it would only amplify the mistake. Clipped, and flagged, when p_obs
    lies outside [1 - Sp, Se]: fewer positives than the judge's false positives alone would
    give, or more than its true positives could.
    """
    if not 0.0 <= p_obs <= 1.0:
        raise ValueError(f"p_obs={p_obs} is not a proportion")
    if sensitivity is None or specificity is None:
        missing = "sensitivity" if sensitivity is None else "specificity"
        return RoganGladen(None, CorrectionStatus.UNDEFINED, f"the calibration measured no {missing} "
                           f"(it has no {'jailbroken' if sensitivity is None else 'safe'} rows)")
    youden = sensitivity + specificity - 1
    if youden <= min_youden:
        return RoganGladen(None, CorrectionStatus.UNDEFINED,
                           f"the judge is no better than chance (Se + Sp - 1 = {youden:.3f} <= {min_youden})")
    value = (p_obs + specificity - 1) / youden
    if value < 0.0:
        return RoganGladen(0.0, CorrectionStatus.CLIPPED,
                           f"observed {p_obs:.3f} is below the judge's false-positive rate {1 - specificity:.3f}, "
                           "clipped to 0")
    if value > 1.0:
        return RoganGladen(1.0, CorrectionStatus.CLIPPED,
                           f"observed {p_obs:.3f} is above the judge's true-positive rate {sensitivity:.3f}, "
                           "clipped to 1")
    return RoganGladen(value, CorrectionStatus.CORRECTED)


@dataclass(frozen=True)
class CorrectedRate:
    """An observed rate corrected for the judge's error, with its 95% interval.

    Attributes:
        value: the Rogan–Gladen point value (None when undefined).
        low, high: the interval (None when the point value is undefined).
        status: corrected, clipped or undefined.
        why: the reason for a clipped or undefined value, in words.
        draws: Monte Carlo draws made for the interval.
        degenerate_draws: draws whose Se + Sp - 1 fell at or below the threshold (see
            `corrected_rate` for how they enter the interval).
    """

    value: float | None
    low: float | None
    high: float | None
    status: CorrectionStatus
    why: str = ""
    draws: int = 0
    degenerate_draws: int = 0


def judge_draws(c: Confusion, seed: int = 0, draws: int = CORRECTION_DRAWS) -> list[tuple[float, float]]:
    """`draws` (Se, Sp) pairs from their posteriors, Beta(tp+1, fn+1) and Beta(tn+1, fp+1).

    One judge's rows can share them (`corrected_rate(..., judge=...)`): the calibration's
    uncertainty is the same for every rate read off that judge, and the draws are the costly part.
    """
    rng = random.Random(f"judge:{seed}")
    return [(rng.betavariate(c.tp + 1, c.fn + 1), rng.betavariate(c.tn + 1, c.fp + 1)) for _ in range(draws)]


def corrected_rate(hits: int, n: int, c: Confusion, seed: int = 0, draws: int = CORRECTION_DRAWS,
                   min_youden: float = MIN_YOUDEN, judge: list[tuple[float, float]] | None = None) -> CorrectedRate:
    """The observed rate hits/n corrected with calibration `c`, and a 95% interval for it.

    Each of `draws` draws takes Se ~ Beta(tp+1, fn+1), Sp ~ Beta(tn+1, fp+1) (`judge_draws`, or
    the pairs given as `judge`) and p_obs ~ Beta(hits+1, n-hits+1) (the posteriors under uniform
    priors), corrects p_obs with that Se and Sp and clips to [0, 1]; the interval is the 2.5% and
    97.5% quantiles. A draw whose Se + Sp - 1 is at or below `min_youden` has no corrected value;
    such draws are counted and enter the interval conservatively: at 0 for the lower bound and at
    1 for the upper, so a calibration that cannot rule out a chance-level judge widens the
    interval towards [0, 1] instead of silently narrowing it.
    """
    if not 0 <= hits <= n:
        raise ValueError(f"hits={hits} must lie in [0, n={n}]")
    if n == 0:
        return CorrectedRate(None, None, None, CorrectionStatus.UNDEFINED, "nothing was scored")
    point = rogan_gladen(hits / n, c.sensitivity, c.specificity, min_youden)
    if point.value is None:
        return CorrectedRate(None, None, None, point.status, point.why)
    pairs = judge if judge is not None else judge_draws(c, seed, draws)
    rng = random.Random(f"observed:{seed}")
    values: list[float] = []
    for se, sp in pairs:
        p_obs = rng.betavariate(hits + 1, n - hits + 1)
        youden = se + sp - 1
        if youden > min_youden:
            values.append(min(1.0, max(0.0, (p_obs + sp - 1) / youden)))
    degenerate = len(pairs) - len(values)
    low = quantile(sorted(values + [0.0] * degenerate), 0.025)
    high = quantile(sorted(values + [1.0] * degenerate), 0.975)
    return CorrectedRate(point.value, low, high, point.status, point.why, len(pairs), degenerate)
