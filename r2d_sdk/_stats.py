"""Confidence intervals as pure functions."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default).

    Returns (0, 1) for n == 0 so a missing group never looks certain.
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} must lie in [0, n={n}]")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(successes_1: int, n_1: int, successes_2: int, n_2: int,
                      z: float = Z95) -> tuple[float, float]:
    """Interval for the difference of two independent proportions p1 - p2 (95% by default).

    Newcombe's hybrid score interval (method 10 of Newcombe 1998, *Statistics in Medicine*
    17:873-890), built from each proportion's Wilson interval: it stays inside [-1, 1] and
    behaves at 0% and 100%, where the textbook Wald interval collapses to a point.
    Returns (-1, 1) when either group is empty.
    """
    if n_1 <= 0 or n_2 <= 0:
        return (-1.0, 1.0)
    p_1, p_2 = successes_1 / n_1, successes_2 / n_2
    low_1, high_1 = wilson_interval(successes_1, n_1, z)
    low_2, high_2 = wilson_interval(successes_2, n_2, z)
    difference = p_1 - p_2
    low = difference - math.sqrt((p_1 - low_1) ** 2 + (high_2 - p_2) ** 2)
    high = difference + math.sqrt((high_1 - p_1) ** 2 + (p_2 - low_2) ** 2)
    return (max(-1.0, low), min(1.0, high))


def cohen_kappa(both_yes: int, only_first: int, only_second: int, both_no: int) -> float | None:
    """Cohen's kappa of two raters' yes/no verdicts on the same items, from their 2x2 table.

    None when chance agreement is already perfect (both raters gave one and the same answer
    to everything), where kappa is undefined.
    """
    n = both_yes + only_first + only_second + both_no
    if n == 0:
        return None
    observed = (both_yes + both_no) / n
    first_yes, second_yes = (both_yes + only_first) / n, (both_yes + only_second) / n
    chance = first_yes * second_yes + (1 - first_yes) * (1 - second_yes)
    if chance >= 1:
        return None
    return (observed - chance) / (1 - chance)
