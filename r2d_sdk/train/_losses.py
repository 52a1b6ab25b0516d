"""R2D's training loss as a pure function: cross-entropy on the response + λ · CPO.

Contrastive Pivot Optimization (Zhu et al., EMNLP 2025, Eq. 4): at each position whose label
is a pivot, CPO = −log σ(z[t⁺] − z[t⁻]), with z the logits, t⁺ the correct pivot and t⁻ its
opposite (SAFE ↔ UNSAFE). Raw logits stand in for log-probabilities: the softmax normaliser
is the same for both and cancels in the difference.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

IGNORE_INDEX = -100
REDUCTIONS = ("mean", "paper")
Reduction = Literal["mean", "paper"]


@dataclass
class LossOutput:
    """The loss to back-propagate and its parts, for logging.

    Attributes:
        loss: ce + lambda_cpo * cpo (a tensor with gradient).
        ce: mean token cross-entropy over labelled positions (tensor).
        cpo: the contrastive pivot term (tensor; 0 when the batch has no contrasted pivot).
        n_tokens: labelled positions.
        n_pivots: positions whose label is any of the three pivots.
        n_pivot_correct: of those, how many have the label as argmax over the three pivot logits.
    """

    loss: Any
    ce: Any
    cpo: Any
    n_tokens: int
    n_pivots: int
    n_pivot_correct: int

    @property
    def pivot_accuracy(self) -> float | None:
        return self.n_pivot_correct / self.n_pivots if self.n_pivots else None


def r2d_loss(logits: Any, targets: Any, pivots: tuple[int, int, int], lambda_cpo: float = 1.0,
             reduction: Reduction = "mean", rethink_negative: int | None = None) -> LossOutput:
    """Cross-entropy over response tokens plus λ times Contrastive Pivot Optimization.

    Args:
        logits: (batch, seq, vocab) scores; `logits[b, t]` predicts `targets[b, t]` (already shifted).
        targets: (batch, seq) token ids, `IGNORE_INDEX` (-100) where no loss applies (prompt, padding).
        pivots: the (SAFE, UNSAFE, RETHINK) token ids.
        lambda_cpo: weight of the CPO term (0 gives the "w/o CPO" ablation).
        reduction: `mean` averages CPO over every contrasted pivot position in the batch; `paper`
            reproduces the public R2D code: one mean over SAFE positions plus one mean over
            UNSAFE positions, computed per micro-batch.
        rethink_negative: the pivot id contrasted at RETHINK positions; None (default, as the
            paper) gives RETHINK positions cross-entropy only.

    Returns:
        A `LossOutput`; a batch without pivots gets cpo = 0 (no NaN).
    """
    import torch

    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown CPO reduction {reduction!r}, expected one of {list(REDUCTIONS)}")
    safe, unsafe, rethink = pivots
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_targets = targets.reshape(-1).to(flat_logits.device)
    labelled = (flat_targets != IGNORE_INDEX).nonzero().flatten()

    # CPO and pivot accuracy read three columns at the few pivot positions only.
    pivot_ids = torch.tensor(pivots, device=flat_targets.device)
    positions = torch.isin(flat_targets, pivot_ids).nonzero().flatten()
    pivot_targets = flat_targets[positions]
    with torch.no_grad():
        pivot_logits = flat_logits[positions[:, None], pivot_ids[None, :]]  # SAFE, UNSAFE, RETHINK columns
        predicted = pivot_ids[pivot_logits.argmax(dim=-1)] if len(pivot_targets) else pivot_targets
        n_correct = int((predicted == pivot_targets).sum())

    opposite = {safe: unsafe, unsafe: safe}
    if rethink_negative is not None:
        opposite[rethink] = rethink_negative
    # Each contrasted position's weight in the CPO sum: 1/n over all of them (`mean`), or 1/n_kind
    # within its kind (`paper`: the SAFE mean plus the UNSAFE mean, [+ the RETHINK mean]).
    rows, negatives, weights = [], [], []
    total = sum(int((pivot_targets == positive).sum()) for positive in opposite)
    for positive, negative in opposite.items():
        kind = positions[pivot_targets == positive]
        if kind.numel():
            rows.append(kind)
            negatives.append(torch.full_like(kind, negative))
            weights.append(torch.full((kind.numel(),), 1.0 / (kind.numel() if reduction == "paper" else total),
                                      dtype=torch.float64, device=kind.device))
    empty = positions[:0]
    contrast = (torch.cat(rows) if rows else empty, torch.cat(negatives) if rows else empty,
                torch.cat(weights) if rows else torch.zeros(0, dtype=torch.float64, device=flat_logits.device))
    ce, cpo = _cross_entropy_and_cpo().apply(flat_logits, flat_targets, labelled, *contrast)
    loss = ce + lambda_cpo * cpo if lambda_cpo else ce
    return LossOutput(loss, ce, cpo, labelled.numel(), len(pivot_targets), n_correct)


# Rows of logits handled at once by the fused loss: big enough for torch's fast kernels, small
# enough that no temporary the size of all the logits is ever made (16 rows was 5x slower here).
CHUNK_ROWS = 256


@functools.cache  # built on first use, so importing this module does not import torch
def _cross_entropy_and_cpo() -> Any:
    import torch
    import torch.nn.functional as F

    class CrossEntropyAndCpo(torch.autograd.Function):
        """Mean token cross-entropy and the weighted CPO sum, with one hand-written backward.

        Why not torch's own ops: `cross_entropy` keeps a (tokens x vocab) log-softmax for its
        backward, and the CPO gather's backward makes a second dense (tokens x vocab) buffer,
        mostly zeros, that is then added to the first gradient. Here the forward keeps nothing
        but the logits it was given, the backward recomputes the softmax slice by slice into the
        one gradient buffer, and the few CPO entries are added in place. Same values and
        gradients (a test compares it with the plain autograd version). Measured with
        bench/bench_cpo_overhead.py: a CE + CPO training step takes 0.84x to 1.04x the time of a
        step with torch's cross-entropy alone, depending on the run.
        """

        @staticmethod
        def forward(ctx: Any, logits: Any, targets: Any, labelled: Any, rows: Any, negatives: Any,
                    weights: Any) -> Any:
            dtype = torch.promote_types(logits.dtype, torch.float32)  # bf16 logits: float32 arithmetic
            # Every row, in contiguous slices (views, no gathers): the few unlabelled rows cost less
            # than gathering the labelled ones, and ignore_index keeps them out of the sum.
            n_tokens = labelled.numel()
            summed = logits.new_zeros((), dtype=dtype)
            for begin in range(0, logits.shape[0], CHUNK_ROWS):  # torch's fused kernel, one slice at a time
                summed += F.cross_entropy(logits[begin:begin + CHUNK_ROWS].to(dtype), targets[begin:begin + CHUNK_ROWS],
                                          ignore_index=IGNORE_INDEX, reduction="sum")
            ce = summed / n_tokens if n_tokens else summed
            margins = logits[rows, targets[rows]].to(dtype) - logits[rows, negatives].to(dtype)
            cpo = (weights.to(dtype) * F.softplus(-margins)).sum()
            ctx.save_for_backward(logits, targets, labelled, rows, negatives, weights, margins)
            return ce, cpo

        @staticmethod
        def backward(ctx: Any, grad_ce: Any, grad_cpo: Any) -> Any:
            logits, targets, labelled, rows, negatives, weights, margins = ctx.saved_tensors
            n_tokens = labelled.numel()
            if not n_tokens or grad_ce is None:
                grad = torch.zeros_like(logits)
            else:
                # softmax · (∂loss/∂ce / n) on labelled rows, 0 elsewhere, written straight into the gradient.
                dtype = torch.promote_types(logits.dtype, torch.float32)
                row_scale = torch.zeros(logits.shape[0], dtype=dtype, device=logits.device)
                row_scale[labelled] = grad_ce.to(dtype) / n_tokens
                grad = torch.empty_like(logits)
                for begin in range(0, logits.shape[0], CHUNK_ROWS):
                    end = begin + CHUNK_ROWS
                    grad[begin:end] = torch.softmax(logits[begin:end].to(dtype), dim=-1).mul_(row_scale[begin:end, None])
                grad.index_put_((labelled, targets[labelled]), -row_scale[labelled].to(grad.dtype), accumulate=True)
            if rows.numel() and grad_cpo is not None:
                # d/dm of w·softplus(−m) is −w·σ(−m): pushes z⁺ up and z⁻ down.
                pull = (grad_cpo.to(margins.dtype) * weights.to(margins.dtype) * torch.sigmoid(-margins)).to(grad.dtype)
                grad.index_put_((rows, targets[rows]), -pull, accumulate=True)
                grad.index_put_((rows, negatives), pull, accumulate=True)
            return grad, None, None, None, None, None

    return CrossEntropyAndCpo
