"""R2D's training loss as a pure function: cross-entropy on the response + λ · CPO.

Contrastive Pivot Optimization (Zhu et al., EMNLP 2025, Eq. 4): at each position whose label
is a pivot, CPO = −log σ(z[t⁺] − z[t⁻]), with z the logits, t⁺ the correct pivot and t⁻ its
opposite (SAFE ↔ UNSAFE). Raw logits stand in for log-probabilities: the softmax normaliser
is the same for both and cancels in the difference.
"""

from __future__ import annotations

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
    import torch.nn.functional as F

    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown CPO reduction {reduction!r}, expected one of {list(REDUCTIONS)}")
    safe, unsafe, rethink = pivots
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_targets = targets.reshape(-1)
    n_tokens = int((flat_targets != IGNORE_INDEX).sum())
    # torch's own masked cross-entropy: no copy of the (tokens x vocab) logits is made.
    ce = F.cross_entropy(flat_logits.float() if flat_logits.dtype != torch.float32 else flat_logits, flat_targets,
                         ignore_index=IGNORE_INDEX) if n_tokens else flat_logits.sum() * 0.0

    # CPO and pivot accuracy read three columns at the few pivot positions only.
    pivot_ids = torch.tensor(pivots, device=flat_targets.device)
    positions = torch.isin(flat_targets, pivot_ids).nonzero().flatten()
    # One gather of (n, 3) values: indexing rows first would copy n full vocabulary rows, forward and back.
    pivot_logits = flat_logits[positions[:, None], pivot_ids[None, :]].float()  # SAFE, UNSAFE, RETHINK columns
    pivot_targets = flat_targets[positions]
    with torch.no_grad():
        predicted = pivot_ids[pivot_logits.argmax(dim=-1)] if len(pivot_targets) else pivot_targets
        n_correct = int((predicted == pivot_targets).sum())

    column = {safe: 0, unsafe: 1, rethink: 2}
    opposite = {safe: unsafe, unsafe: safe}
    if rethink_negative is not None:
        opposite[rethink] = rethink_negative
    terms = []  # one tensor of −log σ(z⁺ − z⁻) per positive pivot kind
    for positive, negative in opposite.items():
        rows = pivot_targets == positive
        margin = pivot_logits[rows, column[positive]] - pivot_logits[rows, column[negative]]
        terms.append(-F.logsigmoid(margin))
    if reduction == "paper":
        parts = [t.mean() for t in terms[:2] if t.numel()]  # SAFE mean + UNSAFE mean
        parts += [t.mean() for t in terms[2:] if t.numel()]
        cpo = torch.stack(parts).sum() if parts else ce * 0.0
    else:
        joined = torch.cat(terms)
        cpo = joined.mean() if joined.numel() else ce * 0.0
    loss = ce + lambda_cpo * cpo if lambda_cpo else ce
    return LossOutput(loss, ce, cpo, n_tokens, len(pivot_targets), n_correct)
