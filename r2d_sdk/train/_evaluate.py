"""Held-out checks during training: teacher-forced pivot accuracy, and pivots actually emitted.

A falling loss proved nothing in a probe on SmolLM2 (CPO fell while the model never emitted
a pivot), so both are tracked on trajectories kept out of training:

- teacher-forced: at each pivot position of the held-out reference, is the label the argmax
  over the three pivot logits (`pivot_acc`), and at each sequence's first pivot — the decisive
  "is this request safe" step — (`first_pivot_acc`);
- generated: greedy answers to held-out prompts; how often a pivot appears at all
  (`emit_rate`), whether the first and the last emitted pivot match the reference
  (`first_pivot_match`, `final_pivot_match`), and how often generation finished.

Where every held-out answer is a single token (a judge's yes/no), the held-out pass also says
how often the labelled answer scores above the other answers there (`answer_acc`), and per
answer how often it does when it is the label (`answer_recall`: for a judge, the true-positive
rate under "yes" and the true-negative rate under "no").
"""

from __future__ import annotations

from typing import Any

from r2d_sdk.train._collate import collate, render_prompt
from r2d_sdk.train._forward import forward
from r2d_sdk.train._losses import IGNORE_INDEX, r2d_loss
from r2d_sdk.train._sharding import heldout_batches
from r2d_sdk.trajectories import PIVOT_PATTERN


def evaluate_heldout(trainer: Any) -> dict[str, Any]:
    """Teacher-forced loss parts and pivot accuracy over the held-out set (all processes), and the
    one-token answers' agreement where every held-out answer is one token."""
    import torch

    accelerator, spec = trainer.accelerator, trainer.spec
    batches = heldout_batches(trainer.heldout_examples, spec.batch_size, accelerator.process_index,
                              accelerator.num_processes, lockstep=trainer.sharded)
    model = accelerator.unwrap_model(trainer.model)
    was_training = model.training
    model.eval()
    pivot_tensor = torch.tensor(trainer.pivots.pivots, device=accelerator.device)
    # Without reasoning there is no pivot to find row by row, so the LM head runs on the labelled
    # positions alone (the loss is the same; a judge's one answer token is a small part of its row).
    labelled_only = not spec.reasoning
    choices = answer_choices(trainer.heldout_examples)
    columns = torch.tensor(choices, dtype=torch.long, device=accelerator.device)
    # loss, ce, cpo, batches, pivots, right, first pivots, first right
    totals = torch.zeros(8, dtype=torch.float64, device=accelerator.device)
    answers = torch.zeros((len(choices), 2), dtype=torch.float64, device=accelerator.device)  # labelled, right
    with torch.no_grad(), accelerator.autocast():
        for chosen in batches:
            # A None (FSDP only) is a stand-in batch: run so this process joins every forward pass, not counted.
            batch = collate(chosen or trainer.heldout_examples[:1], trainer.tokenizer.pad_token_id)
            logits, targets = forward(model, batch, accelerator.device, labelled_only=labelled_only)
            if chosen is None:
                continue
            out = r2d_loss(logits, targets, trainer.pivots.pivots, spec.lambda_cpo, spec.cpo_reduction)
            first, first_right = (0, 0) if labelled_only else _first_pivot(logits, targets, pivot_tensor)
            totals += torch.tensor([out.loss.item(), out.ce.item(), float(out.cpo), 1, out.n_pivots,
                                    out.n_pivot_correct, first, first_right], dtype=torch.float64,
                                   device=accelerator.device)
            if choices:
                answers += _answer_counts(logits, targets, columns)
    if was_training:
        model.train()
    loss, ce, cpo, batches, pivots, right, first, first_right = accelerator.reduce(totals, "sum").cpu().tolist()
    if not batches:
        return {}
    metrics = {"loss": loss / batches, "ce": ce / batches, "cpo": cpo / batches,
               "pivot_acc": right / pivots if pivots else None,
               "first_pivot_acc": first_right / first if first else None, "n_heldout": len(trainer.heldout_examples)}
    if choices:
        counts = accelerator.reduce(answers, "sum").cpu().tolist()
        labelled = sum(n for n, _ in counts)
        metrics["answer_acc"] = sum(right for _, right in counts) / labelled if labelled else None
        metrics["answer_recall"] = {trainer.tokenizer.decode([choice]): right / n
                                    for choice, (n, right) in zip(choices, counts, strict=True) if n}
    return metrics


def answer_choices(examples: list[Any]) -> list[int]:
    """The answer tokens, when every example's answer is one token and 2 to 16 answers occur; else []."""
    answers = []
    for example in examples:
        labelled = [label for label in example.labels if label != IGNORE_INDEX]
        if len(labelled) != 1:
            return []
        answers.append(labelled[0])
    distinct = sorted(set(answers))
    return distinct if 2 <= len(distinct) <= 16 else []


def _answer_counts(logits: Any, targets: Any, columns: Any) -> Any:
    """Per answer: (times it is the label, times it then also scores highest among the answers)."""
    import torch

    flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    keep = flat_targets != IGNORE_INDEX
    flat_logits, flat_targets = flat_logits[keep], flat_targets[keep]
    predicted = columns[flat_logits[:, columns].argmax(dim=-1)]
    counts = torch.zeros((len(columns), 2), dtype=torch.float64, device=columns.device)
    for row, choice in enumerate(columns):
        mine = flat_targets == choice
        counts[row, 0] += mine.sum()
        counts[row, 1] += (mine & (predicted == choice)).sum()
    return counts


def _first_pivot(logits: Any, targets: Any, pivots: Any) -> tuple[int, int]:
    import torch

    found = right = 0
    is_pivot = torch.isin(targets, pivots) & (targets != IGNORE_INDEX)
    for row in range(targets.shape[0]):
        positions = torch.nonzero(is_pivot[row]).flatten()
        if len(positions):
            t = int(positions[0])
            predicted = pivots[logits[row, t, pivots].argmax()]
            found += 1
            right += int(predicted == targets[row, t])
    return found, right


def generate_heldout(trainer: Any) -> dict[str, Any]:
    """Greedy answers to up to `eval_generate` held-out prompts, alternating labels.

    On the main process; under FSDP on every process, with the same prompts: each decoding step
    gathers the sharded weights from all processes, so all must run every step (`synced_gpus`
    keeps them stepping together should their answers ever end at different lengths). Splitting
    the prompts between processes would be faster, at the price of gathering the answers back.
    """
    import torch

    spec, tokenizer = trainer.spec, trainer.tokenizer
    by_label: dict[str, list[Any]] = {}
    for trajectory in trainer.heldout_set:
        by_label.setdefault(trajectory.label, []).append(trajectory)
    chosen: list[Any] = []
    while len(chosen) < spec.eval_generate and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(chosen) < spec.eval_generate:
                chosen.append(by_label[label].pop(0))
    if not chosen:
        return {}
    model = trainer.accelerator.unwrap_model(trainer.model)
    was_training = model.training
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    prompts = [render_prompt(tokenizer, t.prompt, spec.prompt_format) for t in chosen]
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    tokenizer.padding_side = side
    device = trainer.accelerator.device
    with torch.no_grad(), trainer.accelerator.autocast():
        output = model.generate(input_ids=encoded["input_ids"].to(device),
                                attention_mask=encoded["attention_mask"].to(device), do_sample=False,
                                max_new_tokens=spec.eval_max_tokens, pad_token_id=tokenizer.pad_token_id,
                                **({"synced_gpus": True} if trainer.sharded else {}))
    if was_training:
        model.train()
    emitted = first_match = final_match = finished = 0
    samples = []
    for trajectory, row in zip(chosen, output[:, encoded["input_ids"].shape[1]:], strict=True):
        ids = row.tolist()
        done = tokenizer.eos_token_id in ids
        text = tokenizer.decode(ids[: ids.index(tokenizer.eos_token_id)] if done else ids, skip_special_tokens=False)
        finished += done
        samples.append({"label": trajectory.label, "prompt": trajectory.prompt[:200], "output": text[:600]})
        if not spec.reasoning:
            continue  # plain SFT: no pivots to look for
        found = PIVOT_PATTERN.findall(text)
        expected_first = trajectory.steps[0].pivot if trajectory.steps else trajectory.answer_pivot
        emitted += bool(found)
        first_match += bool(found) and found[0] == expected_first
        final_match += done and bool(found) and found[-1] == trajectory.answer_pivot
    n = len(chosen)
    pivots = {"emit_rate": emitted / n, "first_pivot_match": first_match / n, "final_pivot_match": final_match / n}
    return {**(pivots if spec.reasoning else {}), "finished_rate": finished / n, "n_generated": n, "samples": samples}
