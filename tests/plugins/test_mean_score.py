"""mean-score: the mean of scored judgments' scores with a t-based 95% interval, checked against values
computed by hand; errors and unscorable verdicts counted apart."""

from __future__ import annotations

import math

import pytest

from r2d_sdk import ConfigError, Judgment, JudgmentStatus, create


def scored(score: float | None) -> Judgment:
    return Judgment(JudgmentStatus.SCORED, label="x", score=score)


def metric(**args: object):  # type: ignore[no-untyped-def]
    return create("metric", "mean-score", dict(args))


@pytest.mark.parametrize(("df", "table"), [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622),
                                           (29, 2.0452), (100, 1.9840), (1000, 1.9623)])
def test_the_t_quantile_matches_the_printed_table(df: int, table: float) -> None:
    from r2d_plugins.metrics.mean_score import t_quantile_975

    # t(0.975, df): NIST/SEMATECH e-Handbook of Statistical Methods, table 1.3.6.7.2 (df up to 100);
    # df 1000 as R's qt(0.975, 1000) gives it.
    assert round(t_quantile_975(df), 4) == table


def test_mean_and_interval_by_hand() -> None:
    judgments = [scored(0.25), scored(0.5), scored(0.5), scored(0.75), Judgment.failed("HTTP 500"),
                 Judgment.unscorable("garbage", "no answer to specific")]
    value = metric().compute(judgments)
    # mean 0.5; squared deviations 0.0625 + 0 + 0 + 0.0625 = 0.125, s = sqrt(0.125 / 3) = 0.2041241;
    # half-width t(0.975, 3) * s / sqrt(4) = 3.1824463 * 0.1020621 = 0.3248071.
    assert value.value == 0.5 and value.n == 4
    assert value.ci_low == pytest.approx(0.1751929, abs=1e-7) and value.ci_high == pytest.approx(0.8248071, abs=1e-7)
    assert value.extra == {"errors": 1, "unscorable": 1, "interval": "t"}  # neither counted as a score


def test_the_interval_is_clipped_to_the_scores_range_unless_told_not_to() -> None:
    judgments = [scored(0.0), scored(0.0), scored(1.0)]
    clipped = metric().compute(judgments)
    # mean 1/3; s = sqrt((1/9 + 1/9 + 4/9) / 2) = sqrt(1/3); half-width 4.3026527 * sqrt(1/3) / sqrt(3) = 1.4342176.
    assert clipped.value == pytest.approx(1 / 3) and (clipped.ci_low, clipped.ci_high) == (0.0, 1.0)
    free = metric(bounds=None).compute(judgments)
    assert free.ci_low == pytest.approx(1 / 3 - 1.4342176) and free.ci_high == pytest.approx(1 / 3 + 1.4342176)
    wide = metric(bounds=[0, 10]).compute([scored(2.0), scored(4.0)])
    # mean 3, s = sqrt(2), half-width 12.7062047 * sqrt(2) / sqrt(2) = 12.7062047: clipped at 0 and 10.
    assert (wide.value, wide.ci_low, wide.ci_high) == (3.0, 0.0, 10.0)


def test_degenerate_groups() -> None:
    one = metric().compute([scored(0.375)])
    assert (one.value, one.n, one.ci_low, one.ci_high) == (0.375, 1, 0.0, 1.0)  # one score: no spread known
    same = metric().compute([scored(0.5)] * 3)
    assert (same.value, same.ci_low, same.ci_high) == (0.5, 0.5, 0.5)
    only_failures = metric().compute([Judgment.failed("timeout"), Judgment.unscorable("?", "no answer")])
    assert only_failures is not None and only_failures.value is None and only_failures.n == 0
    assert only_failures.extra["errors"] == 1 and only_failures.extra["unscorable"] == 1
    # A judge that gives no score (llama-guard, refusal-string) has no mean score: no row at all.
    assert metric().compute([Judgment(JudgmentStatus.SCORED, label="safe", jailbroken=False)]) is None


def test_bounds_must_be_ordered() -> None:
    with pytest.raises(ConfigError, match=r"bounds \[1.0, 0.0\] must be \[low, high\]"):
        metric(bounds=[1, 0])
    assert math.isclose(metric(bounds=[-1, 1]).compute([scored(-1.0), scored(1.0)]).value, 0.0)
