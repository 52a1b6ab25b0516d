"""Pure parts of the report: the interval of a difference, Cohen's kappa, verdict codes, the Pareto front."""

from __future__ import annotations

import pytest

from r2d_sdk._stats import cohen_kappa, newcombe_interval
from r2d_sdk.report._figures import Rate, TradeoffPoint, mark_front
from r2d_sdk.report._queries import BASE, MAX_JUDGES
from r2d_sdk.report._verdicts import Verdict, decode, unpack


@pytest.mark.parametrize(("counts", "expected"), [
    # Newcombe (1998), Table II, method 10 (hybrid score), to his four decimals.
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
])
def test_newcombe_interval_matches_the_paper(counts: tuple[int, int, int, int], expected: tuple[float, float]) -> None:
    low, high = newcombe_interval(*counts)
    assert (round(low, 4), round(high, 4)) == expected


def test_newcombe_interval_of_an_empty_group_is_uninformative() -> None:
    assert newcombe_interval(0, 0, 3, 10) == (-1.0, 1.0)


def test_cohen_kappa() -> None:
    # 50 items: 20 both yes, 5 only the first, 10 only the second, 15 both no -> p_o 0.7, p_e 0.5.
    assert cohen_kappa(20, 5, 10, 15) == pytest.approx(0.4)
    assert cohen_kappa(7, 0, 0, 3) == pytest.approx(1.0)
    assert cohen_kappa(5, 0, 0, 0) is None  # both said yes to everything: chance agreement is perfect
    assert cohen_kappa(0, 0, 0, 0) is None


def _code(status: str, jailbroken: bool | None = None, refused: bool | None = None, label: int = 0) -> int:
    """The code `_queries.VERDICT_CODE` gives a judgment, written out by hand."""
    if status == "unscorable":
        return 1
    if status == "error":
        return 2
    answer = {False: 0, True: 1, None: 2}
    return 3 + answer[jailbroken] + 3 * answer[refused] + 9 * label


def test_every_code_decodes_to_its_verdict() -> None:
    assert decode(0) is None
    assert decode(_code("unscorable")) == Verdict("unscorable")
    assert decode(_code("error")) == Verdict("error")
    for jailbroken in (False, True, None):
        for refused in (False, True, None):
            for label, name in ((0, None), (1, "full_refusal"), (2, "other")):
                code = _code("scored", jailbroken, refused, label)
                assert code < BASE
                assert decode(code) == Verdict("scored", jailbroken, refused, name)


def test_a_signature_holds_one_digit_per_judge() -> None:
    codes = [_code("scored", True, False), 0, _code("error")] + [_code("unscorable")] * (MAX_JUDGES - 3)
    signature = sum(code * BASE ** i for i, code in enumerate(codes))
    assert signature < 2 ** 63
    assert unpack(signature, MAX_JUDGES) == tuple(decode(code) for code in codes)
    assert unpack(None, 2) == (None, None)


def _point(defense: str, asr: tuple[int, int], over: tuple[int, int], run: str = "r") -> TradeoffPoint:
    return TradeoffPoint(run, "m", defense, Rate(*asr), Rate(*over), "j", "k", "x")


def test_pareto_front_per_run() -> None:
    points = mark_front([
        _point("none", (8, 10), (0, 10)),      # lowest over-refusal
        _point("strict", (0, 10), (9, 10)),    # lowest ASR
        _point("middle", (3, 10), (2, 10)),    # beats neither on both: on the front
        _point("worse", (5, 10), (3, 10)),     # middle beats it on both
        _point("tie", (3, 10), (2, 10)),       # equal to middle: neither dominates the other
        _point("other-run", (9, 10), (9, 10), run="s"),  # alone in its run
        _point("unscored", (0, 0), (1, 10)),   # no ASR: never on a front
    ])
    assert {p.defense for p in points if p.on_front} == {"none", "strict", "middle", "tie", "other-run"}
