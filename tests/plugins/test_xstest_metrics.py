"""XSTest shares: hand-counted values, Wilson intervals, and silence for judges without XSTest labels."""

from __future__ import annotations

import pytest

from r2d_sdk import Judgment, JudgmentStatus, create, wilson_interval

S = JudgmentStatus.SCORED


def xstest_judgments() -> list[Judgment]:
    labels = ["full_compliance"] * 6 + ["full_refusal"] * 3 + ["partial_refusal"]
    return [Judgment(S, label=label, refused=label != "full_compliance") for label in labels] + [
        Judgment.failed("timeout"), Judgment.unscorable("hmm", "no class")]


@pytest.mark.parametrize(("metric", "hits"), [("full-compliance", 6), ("full-refusal", 3), ("partial-refusal", 1)])
def test_shares_over_scored_judgments(metric: str, hits: int) -> None:
    value = create("metric", metric).compute(xstest_judgments())  # type: ignore[attr-defined]
    assert value.n == 10 and value.value == pytest.approx(hits / 10)  # errors are not in n
    assert (value.ci_low, value.ci_high) == pytest.approx(wilson_interval(hits, 10))
    assert value.extra == {"hits": hits, "errors": 1, "unscorable": 1}


def test_wilson_interval_by_hand() -> None:
    # 3 of 10, z = 1.96: centre (0.3 + 0.19208) / 1.38415 = 0.35551;
    # half 1.96 * sqrt(0.021 + 0.0096037) / 1.38415 = 0.24772 -> (0.1078, 0.6032)
    value = create("metric", "full-refusal").compute(xstest_judgments())  # type: ignore[attr-defined]
    assert value.ci_low == pytest.approx(0.1078, abs=1e-3) and value.ci_high == pytest.approx(0.6032, abs=1e-3)


def test_none_for_judges_without_xstest_labels() -> None:
    refusal_string = [Judgment(S, label="safe", jailbroken=False, refused=True)] * 4
    for metric in ("full-compliance", "full-refusal", "partial-refusal"):
        assert create("metric", metric).compute(refusal_string) is None  # type: ignore[attr-defined]


def test_a_group_with_no_verdict_reports_n_zero() -> None:
    value = create("metric", "full-refusal").compute([Judgment.failed("down")] * 2)  # type: ignore[attr-defined]
    assert value.n == 0 and value.value is None and value.extra["errors"] == 2
