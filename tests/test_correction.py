"""The judge-error maths (r2d_sdk/_correction.py) against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from r2d_sdk._correction import (
    Confusion,
    CorrectionStatus,
    corrected_rate,
    f1_score,
    judge_statistics,
    kappa,
    quantile,
    rogan_gladen,
)

# refusal-string on JailbreakBench's judge comparison (../shared/JUDGES.md): 79 of 100 agree,
# 38 of the 43 jailbroken found (TPR 0.884), 16 of the 57 others called jailbroken (FPR 0.281).
JBB = Confusion(tp=38, fp=16, tn=41, fn=5)


def _wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% interval written out again from its formula."""
    z, p = 1.959963984540054, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_point_figures_of_the_string_classifier() -> None:
    stats = judge_statistics(JBB)
    assert stats.n == 100
    assert stats.accuracy.value == pytest.approx(0.79)
    assert stats.tpr.value == pytest.approx(38 / 43) and round(stats.tpr.value, 3) == 0.884
    assert stats.fpr.value == pytest.approx(16 / 57) and round(stats.fpr.value, 3) == 0.281
    assert stats.precision.value == pytest.approx(38 / 54)
    assert stats.f1.value == pytest.approx(76 / 97)  # 2TP / (2TP + FP + FN)
    # p_o = 0.79; the judge says yes 54 times, the humans 43: p_e = .54 * .43 + .46 * .57 = 0.4944.
    assert stats.kappa.value == pytest.approx((0.79 - 0.4944) / (1 - 0.4944))


def test_proportions_get_wilson_intervals() -> None:
    stats = judge_statistics(JBB)
    for estimate, (k, n) in ((stats.accuracy, (79, 100)), (stats.tpr, (38, 43)), (stats.fpr, (16, 57)),
                             (stats.precision, (38, 54))):
        low, high = _wilson(k, n)
        assert (estimate.low, estimate.high) == (pytest.approx(low), pytest.approx(high))
    assert stats.accuracy.low == pytest.approx(0.7002, abs=1e-4) and stats.accuracy.high == pytest.approx(0.8583,
                                                                                                          abs=1e-4)


def test_kappa_bootstrap_matches_the_large_sample_interval() -> None:
    """The bootstrap's kappa interval is close to the textbook one: kappa +- 1.96 * sqrt(p_o(1 - p_o) /
    (n (1 - p_e)^2)) = 0.585 +- 0.158 (Cohen 1960's approximate standard error)."""
    stats = judge_statistics(JBB, seed=3)
    se = math.sqrt(0.79 * 0.21 / (100 * (1 - 0.4944) ** 2))
    assert stats.kappa.low == pytest.approx(stats.kappa.value - 1.96 * se, abs=0.03)
    assert stats.kappa.high == pytest.approx(stats.kappa.value + 1.96 * se, abs=0.03)
    # F1's interval holds its point and is about as wide as the accuracy's.
    assert stats.f1.low < stats.f1.value < stats.f1.high
    assert 0.1 < stats.f1.high - stats.f1.low < 0.25


def test_draws_are_seeded() -> None:
    assert judge_statistics(JBB, seed=1) == judge_statistics(JBB, seed=1)
    assert judge_statistics(JBB, seed=1).kappa != judge_statistics(JBB, seed=2).kappa
    assert corrected_rate(30, 60, JBB, seed=5) == corrected_rate(30, 60, JBB, seed=5)


def test_undefined_figures_have_no_number() -> None:
    no_positives = judge_statistics(Confusion(tp=0, fp=3, tn=7, fn=0))
    assert no_positives.tpr.value is None and no_positives.tpr.low is None
    assert no_positives.precision.value == 0.0  # the judge said yes 3 times, wrongly each time
    never_yes = Confusion(tp=0, fp=0, tn=10, fn=0)
    assert f1_score(never_yes) is None and kappa(never_yes) is None  # chance agreement is total
    stats = judge_statistics(never_yes)
    assert stats.kappa.value is None and stats.kappa.low is None and stats.f1.low is None
    assert judge_statistics(Confusion(0, 0, 0, 0)).accuracy.value is None
    with pytest.raises(ValueError):
        Confusion(tp=-1, fp=0, tn=0, fn=0)


def test_rogan_gladen_by_hand() -> None:
    se, sp = 38 / 43, 41 / 57
    result = rogan_gladen(0.5, se, sp)
    assert result.status == CorrectionStatus.CORRECTED
    assert result.value == pytest.approx((0.5 + 41 / 57 - 1) / (38 / 43 + 41 / 57 - 1))
    assert result.value == pytest.approx(0.3637, abs=1e-4)
    # A perfect judge changes nothing; p_obs at the ends of [1 - Sp, Se] maps to 0 and 1.
    assert rogan_gladen(0.37, 1.0, 1.0).value == pytest.approx(0.37)
    assert rogan_gladen(1 - sp, se, sp).value == pytest.approx(0.0)
    assert rogan_gladen(se, se, sp).value == pytest.approx(1.0)


def test_rogan_gladen_clips_rates_outside_the_judges_range() -> None:
    below = rogan_gladen(0.2, 0.9, 0.7)  # fewer hits than the 30% false positives alone would give
    assert below.value == 0.0 and below.status == CorrectionStatus.CLIPPED and "below" in below.why
    above = rogan_gladen(0.95, 0.9, 0.7)  # more hits than a 90% sensitive judge could find
    assert above.value == 1.0 and above.status == CorrectionStatus.CLIPPED and "above" in above.why


def test_rogan_gladen_is_undefined_for_a_chance_level_judge() -> None:
    for se, sp in ((0.5, 0.5), (0.505, 0.5), (0.6, 0.4099), (0.3, 0.4)):  # J = 0, 0.005, 0.0099, -0.3
        result = rogan_gladen(0.4, se, sp)
        assert result.value is None and result.status == CorrectionStatus.UNDEFINED, (se, sp)
        assert "chance" in result.why
    assert rogan_gladen(0.4, 0.6, 0.42).value is not None  # J = 0.02: defined
    assert rogan_gladen(0.4, None, 0.9).status == CorrectionStatus.UNDEFINED
    with pytest.raises(ValueError):
        rogan_gladen(1.2, 0.9, 0.9)


def test_quantile_interpolates_like_numpy() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([0.0, 10.0], 0.975) == pytest.approx(9.75)
    assert quantile([7.0], 0.025) == 7.0


def test_a_certain_calibration_leaves_the_runs_sampling_error() -> None:
    """With a million calibration rows Se and Sp are all but fixed; the interval is then the
    corrected Beta(51, 51) interval of the run's 50 of 100: 0.5 +- 1.96 * 0.04926 (normal
    approximation of that symmetric Beta), mapped through p -> (p + Sp - 1) / J."""
    half = 1.96 * math.sqrt(51 * 51 / (102 ** 2 * 103))
    perfect = corrected_rate(50, 100, Confusion(tp=10 ** 6, fp=0, tn=10 ** 6, fn=0))
    assert perfect.value == pytest.approx(0.5)
    assert perfect.low == pytest.approx(0.5 - half, abs=0.01) and perfect.high == pytest.approx(0.5 + half, abs=0.01)
    fixed = corrected_rate(50, 100, Confusion(tp=900_000, fn=100_000, tn=800_000, fp=200_000))  # Se .9, Sp .8
    assert fixed.value == pytest.approx((0.5 + 0.8 - 1) / 0.7)
    assert fixed.low == pytest.approx((0.5 - half - 0.2) / 0.7, abs=0.015)
    assert fixed.high == pytest.approx((0.5 + half - 0.2) / 0.7, abs=0.015)
    assert fixed.degenerate_draws == 0


def test_the_calibrations_own_uncertainty_widens_the_interval() -> None:
    big = corrected_rate(50, 100, Confusion(tp=9000, fn=1000, tn=8000, fp=2000))
    small = corrected_rate(50, 100, Confusion(tp=9, fn=1, tn=8, fp=2))
    assert big.value == pytest.approx(small.value)  # same Se and Sp, same point
    assert (small.high - small.low) > 1.3 * (big.high - big.low)


def test_degenerate_draws_are_counted_and_widen_the_interval() -> None:
    """A calibration of 4 + 4 rows (Se, Sp ~ Beta(4, 2), point J = 0.5): some draws have
    Se + Sp - 1 <= 0.01. Their share is P(Se + Sp <= 1.01), with Beta(4, 2)'s density 20x^3(1-x)
    and CDF 5x^4 - 4x^5; they enter the interval at 0 (low) and 1 (high)."""
    c = Confusion(tp=3, fn=1, tn=3, fp=1)
    result = corrected_rate(20, 40, c, draws=20_000)
    steps = 20_000
    share = sum(20 * x ** 3 * (1 - x) * (5 * min(1.0, max(0.0, 1.01 - x)) ** 4 - 4 * min(1.0, max(0.0, 1.01 - x)) ** 5)
                for x in ((i + 0.5) / steps for i in range(steps))) / steps
    assert result.degenerate_draws / result.draws == pytest.approx(share, abs=0.01)
    assert share > 0.025  # so both tails reach the ends
    assert (result.low, result.high) == (0.0, 1.0)
    assert result.status == CorrectionStatus.CORRECTED and result.value == pytest.approx(0.5)


def test_corrected_rate_edge_cases() -> None:
    nothing = corrected_rate(0, 0, JBB)
    assert nothing.value is None and nothing.status == CorrectionStatus.UNDEFINED and nothing.low is None
    chance = corrected_rate(5, 10, Confusion(tp=5, fn=5, tn=5, fp=5))
    assert chance.value is None and chance.low is None and chance.high is None and "chance" in chance.why
    clipped = corrected_rate(2, 100, JBB)  # 2% observed, under the judge's 28% false positives
    assert clipped.value == 0.0 and clipped.status == CorrectionStatus.CLIPPED
    assert clipped.low == 0.0 and clipped.high < 0.1
    with pytest.raises(ValueError):
        corrected_rate(11, 10, JBB)
