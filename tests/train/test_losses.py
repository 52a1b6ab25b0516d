"""The R2D loss: hand-computed values, gradient direction, masking, RETHINK, empty batches."""

from __future__ import annotations

import math

import pytest
import torch

from r2d_sdk.train._losses import IGNORE_INDEX, r2d_loss

SAFE, UNSAFE, RETHINK = 2, 3, 4
PIVOTS = (SAFE, UNSAFE, RETHINK)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def ce_of(row: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in row)) - row[target]


def test_hand_computed_ce_and_cpo() -> None:
    rows = [[0.0, 1.0, 2.0, 0.5, 0.0],   # label SAFE:  z+ = 2.0, z- = 0.5
            [0.3, 0.0, 1.0, 1.5, 0.2],   # label UNSAFE: z+ = 1.5, z- = 1.0
            [1.0, 0.0, 0.0, 0.0, 0.0]]   # label 0 (ordinary token)
    logits = torch.tensor([rows])
    targets = torch.tensor([[SAFE, UNSAFE, 0]])
    out = r2d_loss(logits, targets, PIVOTS, lambda_cpo=1.0)
    expected_ce = (ce_of(rows[0], SAFE) + ce_of(rows[1], UNSAFE) + ce_of(rows[2], 0)) / 3
    # −log σ(m) = log(1 + e^{−m})
    expected_cpo = (softplus(-(2.0 - 0.5)) + softplus(-(1.5 - 1.0))) / 2
    assert out.ce.item() == pytest.approx(expected_ce, rel=1e-6)
    assert out.cpo.item() == pytest.approx(expected_cpo, rel=1e-6)
    assert out.loss.item() == pytest.approx(expected_ce + expected_cpo, rel=1e-6)
    assert (out.n_tokens, out.n_pivots, out.n_pivot_correct) == (3, 2, 2)

    half = r2d_loss(logits, targets, PIVOTS, lambda_cpo=0.5)
    assert half.loss.item() == pytest.approx(expected_ce + 0.5 * expected_cpo, rel=1e-6)
    none = r2d_loss(logits, targets, PIVOTS, lambda_cpo=0.0)
    assert none.loss.item() == pytest.approx(expected_ce, rel=1e-6)


def test_paper_reduction_means_safe_and_unsafe_separately() -> None:
    # Two SAFE positions and one UNSAFE: "mean" weighs each position, "paper" each kind.
    rows = [[0, 0, 1.0, 0, 0], [0, 0, 3.0, 0, 0], [0, 0, 0, 2.0, 0]]
    logits = torch.tensor([rows], dtype=torch.float)
    targets = torch.tensor([[SAFE, SAFE, UNSAFE]])
    a, b, c = softplus(-1.0), softplus(-3.0), softplus(-2.0)
    assert r2d_loss(logits, targets, PIVOTS).cpo.item() == pytest.approx((a + b + c) / 3, rel=1e-6)
    assert r2d_loss(logits, targets, PIVOTS, reduction="paper").cpo.item() == pytest.approx((a + b) / 2 + c, rel=1e-6)
    with pytest.raises(ValueError, match="expected one of"):
        r2d_loss(logits, targets, PIVOTS, reduction="sum")  # type: ignore[arg-type]


def test_gradient_raises_correct_pivot_and_lowers_its_opposite() -> None:
    logits = torch.zeros(1, 2, 5, requires_grad=True)
    targets = torch.tensor([[SAFE, UNSAFE]])
    r2d_loss(logits, targets, PIVOTS, lambda_cpo=1.0).cpo.backward()
    grad = logits.grad[0]
    # Gradient descent moves against the gradient: z[t+] goes up, z[t-] goes down, others untouched.
    assert grad[0, SAFE] < 0 and grad[0, UNSAFE] > 0
    assert grad[1, UNSAFE] < 0 and grad[1, SAFE] > 0
    assert torch.all(grad[:, [0, 1, RETHINK]] == 0)


def test_ignored_positions_change_nothing() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, requires_grad=True)
    targets = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, SAFE, 1], [IGNORE_INDEX, UNSAFE, 0, IGNORE_INDEX]])
    out = r2d_loss(logits, targets, PIVOTS)
    out.loss.backward()
    assert torch.all(logits.grad[0, :2] == 0) and torch.all(logits.grad[1, 3] == 0)
    assert out.n_tokens == 4 and out.n_pivots == 2
    # Changing a masked logit leaves the loss as it was.
    changed = logits.detach().clone()
    changed[0, 0] += 10.0
    assert r2d_loss(changed, targets, PIVOTS).loss.item() == pytest.approx(out.loss.item())


def test_rethink_gets_cross_entropy_only_unless_configured() -> None:
    row = [0.0, 0.0, 1.0, 0.5, 2.0]
    logits = torch.tensor([[row]], requires_grad=True)
    targets = torch.tensor([[RETHINK]])
    out = r2d_loss(logits, targets, PIVOTS)
    assert out.cpo.item() == 0.0 and out.ce.item() == pytest.approx(ce_of(row, RETHINK))
    assert (out.n_pivots, out.n_pivot_correct) == (1, 1)
    contrasted = r2d_loss(logits, targets, PIVOTS, rethink_negative=UNSAFE)
    assert contrasted.cpo.item() == pytest.approx(softplus(-(2.0 - 0.5)))


def test_batch_without_pivots_has_zero_cpo_and_no_nan() -> None:
    logits = torch.randn(1, 3, 5, requires_grad=True)
    targets = torch.tensor([[0, 1, IGNORE_INDEX]])
    for reduction in ("mean", "paper"):
        out = r2d_loss(logits, targets, PIVOTS, reduction=reduction)  # type: ignore[arg-type]
        assert out.cpo.item() == 0.0 and not torch.isnan(out.loss)
        assert out.pivot_accuracy is None
        out.loss.backward()
        assert not torch.isnan(logits.grad).any()
    empty = r2d_loss(logits.detach(), torch.full((1, 3), IGNORE_INDEX), PIVOTS)
    assert empty.loss.item() == 0.0 and empty.n_tokens == 0


def test_pivot_accuracy_uses_argmax_over_the_three_pivots() -> None:
    # The label is SAFE; token 0 has the highest logit overall, but among the pivots SAFE wins.
    rows = [[9.0, 0, 1.0, 0.5, 0.2], [0, 0, 1.0, 0.5, 3.0]]
    out = r2d_loss(torch.tensor([rows]), torch.tensor([[SAFE, UNSAFE]]), PIVOTS)
    assert (out.n_pivots, out.n_pivot_correct, out.pivot_accuracy) == (2, 1, 0.5)


def reference_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str, rethink_negative: int | None,
                   lambda_cpo: float) -> torch.Tensor:
    """The loss written with plain autograd ops, to check the fused backward against."""
    flat, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    ce = torch.nn.functional.cross_entropy(flat, flat_targets, ignore_index=IGNORE_INDEX)
    opposite = {SAFE: UNSAFE, UNSAFE: SAFE}
    if rethink_negative is not None:
        opposite[RETHINK] = rethink_negative
    terms = []
    for positive, negative in opposite.items():
        at = (flat_targets == positive).nonzero().flatten()
        terms.append(torch.nn.functional.softplus(-(flat[at, positive] - flat[at, negative])))
    if reduction == "paper":
        cpo = sum((t.mean() for t in terms if t.numel()), torch.zeros(()))
    else:
        cpo = torch.cat(terms).mean()
    return ce + lambda_cpo * cpo


@pytest.mark.parametrize(("reduction", "rethink_negative", "lambda_cpo"),
                         [("mean", None, 1.0), ("paper", None, 1.0), ("mean", UNSAFE, 0.7), ("paper", SAFE, 2.0),
                          ("mean", None, 0.0)])
def test_fused_backward_matches_autograd(reduction: str, rethink_negative: int | None, lambda_cpo: float) -> None:
    generator = torch.Generator().manual_seed(3)
    # More rows than one chunk of the fused loss, so the chunking is exercised too.
    logits = torch.randn(3, 70, 11, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 11, (3, 70), generator=generator)
    targets[targets == 7] = IGNORE_INDEX           # scattered ignored positions
    targets[2, 50:] = IGNORE_INDEX                 # and right padding
    mine, theirs = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    out = r2d_loss(mine, targets, PIVOTS, lambda_cpo, reduction, rethink_negative)  # type: ignore[arg-type]
    expected = reference_loss(theirs, targets, reduction, rethink_negative, lambda_cpo)
    (out.loss * 1.5).backward()
    (expected * 1.5).backward()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-9)
    assert mine.grad is not None and theirs.grad is not None
    assert torch.allclose(mine.grad, theirs.grad, atol=1e-12)
    assert int((targets != IGNORE_INDEX).sum()) == out.n_tokens
