"""Trajectories to token ids: prompt (labels masked) + output text + EOS, and padded batches.

The prompt is rendered the way the model will see it at inference: `chat` uses the base
model's chat template (what the `local/` provider renders, so training and evaluation agree);
`vicuna` is the paper's "USER: {prompt} ASSISTANT:" form (load the checkpoint with
`chat_template: vicuna`); `plain` is the prompt text as it is (a judge prompt, which ends where
its answer word begins). The public R2D code trained base models on instruction + output with
no template at all; an instruct model such as SmolLM2 answers through its template, so that is
the default here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from r2d_sdk.train._losses import IGNORE_INDEX
from r2d_sdk.trajectories import Trajectory

PromptFormat = Literal["chat", "vicuna", "plain"]


@dataclass
class Example:
    """One tokenised training sequence."""

    input_ids: list[int]
    labels: list[int]
    label: str  # the trajectory's ground truth: harmful / benign


def render_prompt(tokenizer: Any, prompt: str, prompt_format: PromptFormat = "chat") -> str:
    """The text before the model's answer, exactly as inference renders it."""
    if prompt_format == "plain":
        return prompt
    if prompt_format == "vicuna" or not getattr(tokenizer, "chat_template", None):
        return f"USER: {prompt} ASSISTANT:"
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                         tokenize=False)


def encode(trajectory: Trajectory, tokenizer: Any, with_pivots: bool = True, prompt_format: PromptFormat = "chat",
           max_length: int = 1024, reasoning: bool = True, end_with_eos: bool = True) -> Example | None:
    """Tokenise one trajectory; None when its prompt alone does not fit in `max_length`.

    Prompt and response are tokenised separately (as at inference, where the prompt is
    encoded and the response generated), then joined; an over-long response is cut at the end.
    Without `end_with_eos` the answer is labelled alone (a label word to be scored, not ended).
    """
    prompt_text = render_prompt(tokenizer, trajectory.prompt, prompt_format)
    response_text = trajectory.output_text(with_pivots, reasoning)
    if prompt_format in ("vicuna", "plain"):  # the answer follows "ASSISTANT:" / "Answer:" after a space
        response_text = " " + response_text
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response_text, add_special_tokens=False)["input_ids"]
    if end_with_eos:
        response_ids = response_ids + [tokenizer.eos_token_id]
    if len(prompt_ids) >= max_length:
        return None
    response_ids = response_ids[: max_length - len(prompt_ids)]
    return Example(prompt_ids + response_ids, [IGNORE_INDEX] * len(prompt_ids) + response_ids, trajectory.label)


def split_heldout(trajectories: Sequence[Trajectory], fraction: float, seed: int
                  ) -> tuple[list[Trajectory], list[Trajectory]]:
    """A reproducible held-out split, stratified by label so both classes are in it.

    Trajectories that carry `meta["group"]` (judge examples: the behavior) are split by group
    instead: that share of the groups, seeded, is held out whole, so no group is on both sides.
    """
    if trajectories and all("group" in t.meta for t in trajectories):
        return split_by_group(trajectories, fraction, seed)
    rng = random.Random(seed)
    train: list[Trajectory] = []
    heldout: list[Trajectory] = []
    for label in sorted({t.label for t in trajectories}):
        group = [t for t in trajectories if t.label == label]
        rng.shuffle(group)
        cut = round(len(group) * fraction) if fraction > 0 else 0
        if fraction > 0 and len(group) > 1:
            cut = max(1, cut)
        heldout += group[:cut]
        train += group[cut:]
    rng.shuffle(train)
    return train, heldout


def split_by_group(trajectories: Sequence[Trajectory], fraction: float, seed: int
                   ) -> tuple[list[Trajectory], list[Trajectory]]:
    """Hold out `fraction` of the distinct `meta["group"]` values (a seeded draw) with all their trajectories."""
    groups = sorted({t.meta["group"] for t in trajectories}, key=str)
    random.Random(seed).shuffle(groups)
    held = set(groups[:round(len(groups) * fraction)])
    train = [t for t in trajectories if t.meta["group"] not in held]
    heldout = [t for t in trajectories if t.meta["group"] in held]
    random.Random(seed).shuffle(train)
    return train, heldout


def epoch_batches(n_examples: int, batch_size: int, epoch: int, seed: int, shuffle: bool = True) -> list[list[int]]:
    """The example indices of each batch in one epoch; the order depends only on (seed, epoch).

    A resumed run recomputes the same order and skips the batches it already did.
    """
    order = list(range(n_examples))
    if shuffle:
        random.Random(f"{seed}:{epoch}").shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n_examples, batch_size)]


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch: input_ids, attention_mask, labels (-100 on padding)."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
