"""The training forward pass: logits only where a loss applies, targets shifted to match."""

from __future__ import annotations

from typing import Any

from r2d_sdk.train._losses import IGNORE_INDEX


def forward(model: Any, batch: dict[str, Any], device: Any, labelled_only: bool = False) -> tuple[Any, Any]:
    """Logits and their aligned targets for a right-padded batch.

    Positions before the earliest labelled token of the batch (the shared prompt prefix, e.g.
    a chat template's system turn) get no logits at all: the LM head, a fifth of a small
    model's compute, runs only where a loss can apply. With `labelled_only`, the head also
    skips each row's own prompt and padding: logits and targets come back flattened to the
    labelled positions, (n, vocab) and (n,).
    """
    import torch

    labels = batch["labels"]
    labelled = (labels != IGNORE_INDEX).any(dim=0).nonzero()
    start = max(0, int(labelled[0]) - 1) if len(labelled) else 0
    width = labels.shape[1]
    # Shift the targets, not the logits: slicing off the last position would copy every logit
    # (and its gradient); the last position gets no target instead.
    targets = labels[:, start + 1:]
    targets = torch.cat([targets, targets.new_full((targets.shape[0], 1), IGNORE_INDEX)], dim=1).to(device)
    head = getattr(model, "module", model).get_output_embeddings() if labelled_only else None
    keep = targets != IGNORE_INDEX
    # The head sees only the hidden states of labelled positions: a pre-hook picks those rows, so
    # the model's own forward (and any DDP or PEFT wrapper around it) runs unchanged.
    hook = head.register_forward_pre_hook(lambda _module, args: (args[0][keep], *args[1:])) if head else None
    try:
        # use_cache=False: a training forward has no next step, so no key/value cache is built for one.
        logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                       logits_to_keep=width - start, use_cache=False).logits
    finally:
        if hook is not None:
            hook.remove()
    return (logits, targets[keep]) if hook is not None else (logits, targets)
