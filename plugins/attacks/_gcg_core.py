"""Greedy Coordinate Gradient (GCG) suffix optimisation on a white-box causal LM.

The algorithm is Zou et al. 2023 ("Universal and Transferable Adversarial Attacks on Aligned
Language Models"): take the gradient of the target-string loss with respect to a one-hot
encoding of the suffix tokens, keep the top-k most promising replacements per position, try a
batch of single-token swaps, keep the best. Pure torch, no event loop: the attack runs it in a
worker thread.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SENTINEL = "\x00R2D_SUFFIX\x00"
_ALLOWED_CACHE: dict[tuple[int, bool], Any] = {}


@dataclass(frozen=True)
class GCGSettings:
    """Budget and search settings of one optimisation."""

    steps: int
    top_k: int
    batch_size: int
    suffix_length: int
    suffix_init: str = "!"
    eval_batch: int = 64
    check_every: int = 0  # 0: never test the greedy continuation, run every step
    allow_non_ascii: bool = False
    seed: int = 0


@dataclass
class GCGResult:
    """The best suffix found and how the loss went."""

    suffix_ids: list[int]
    suffix: str
    best_loss: float
    losses: list[float] = field(default_factory=list)
    steps_run: int = 0
    success: bool = False
    stopped: str = "steps"
    filtered: int = 0
    tokens: int = 0  # tokens run through the model (prefix once, then suffix + tail per row)


@dataclass
class PromptParts:
    """Token ids around the suffix: [before][suffix][after][target]."""

    before: list[int]
    after: list[int]
    target: list[int]
    before_text: str


def split_prompt(render: Callable[[str], str], tokenizer: Any, goal: str, target: str) -> PromptParts:
    """Render the chat prompt with a sentinel where the suffix goes and tokenize the pieces."""
    text = render(goal + SENTINEL)
    if text.count(SENTINEL) != 1:
        raise ValueError("the chat template dropped or repeated the user turn; cannot place the suffix")
    before_text, after_text = text.split(SENTINEL)
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    target_ids = encode(target)
    if not target_ids:
        raise ValueError("the target string is empty")
    return PromptParts(encode(before_text), encode(after_text), target_ids, before_text)


def allowed_token_ids(tokenizer: Any, allow_non_ascii: bool = False) -> Any:
    """Boolean mask over the vocabulary of tokens a suffix may use.

    Kept: printable-ASCII tokens (unless `allow_non_ascii`) that are not special or added
    tokens and that decode and re-encode to themselves, so the suffix survives a round trip
    through text.
    """
    import torch

    key = (id(tokenizer), allow_non_ascii)
    if key in _ALLOWED_CACHE:
        return _ALLOWED_CACHE[key]
    size = len(tokenizer)
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    texts = tokenizer.batch_decode([[i] for i in range(size)], clean_up_tokenization_spaces=False)
    reencoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    mask = torch.zeros(size, dtype=torch.bool)
    for token_id, (text, again) in enumerate(zip(texts, reencoded, strict=True)):
        if token_id in special or not text or again != [token_id]:
            continue
        if not allow_non_ascii and not (text.isascii() and text.isprintable()):
            continue
        mask[token_id] = True
    _ALLOWED_CACHE[key] = mask
    return mask


def initial_suffix(tokenizer: Any, settings: GCGSettings, allowed: Any) -> list[int]:
    """`suffix_length` copies of the init token (" !" by default, as in the paper)."""
    ids = tokenizer(" " + settings.suffix_init, add_special_tokens=False)["input_ids"]
    if len(ids) != 1 or not allowed[ids[0]]:
        ids = tokenizer(settings.suffix_init, add_special_tokens=False)["input_ids"]
    if len(ids) != 1 or not allowed[ids[0]]:
        raise ValueError(f"suffix_init {settings.suffix_init!r} is not a single allowed token for this tokenizer")
    return ids * settings.suffix_length


class _Objective:
    """Target-string cross-entropy for one prompt, with the fixed prefix cached once."""

    def __init__(self, model: Any, parts: PromptParts, pad_id: int) -> None:
        import torch

        self.model = model
        self.pad_id = pad_id
        self.parts = parts
        self.device = next(model.parameters()).device
        self.embed = model.get_input_embeddings()
        self.tail = torch.tensor(parts.after + parts.target, device=self.device)
        self.target = torch.tensor(parts.target, device=self.device)
        # Newer transformers call the KV cache `cache`, older ones `past_key_values`.
        self.cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        with torch.no_grad():
            out = model(torch.tensor([parts.before], device=self.device), use_cache=True)
        self.prefix_cache = getattr(out, "cache", None) or out.past_key_values

    def _cache(self, batch: int) -> Any:
        cache = copy.deepcopy(self.prefix_cache)
        if batch > 1:
            cache.batch_repeat_interleave(batch)
        return cache

    def _target_logits(self, **inputs: Any) -> Any:
        width = len(self.parts.target)
        inputs[self.cache_arg] = self._cache(inputs_len(inputs))
        out = self.model(**inputs, use_cache=True, logits_to_keep=width + 1)
        return out.logits[:, -width - 1:-1, :]  # the positions that predict the target tokens

    def gradient(self, suffix: list[int]) -> tuple[Any, float]:
        """Gradient of the loss w.r.t. the one-hot suffix (length × vocab), and the loss."""
        import torch

        weight = self.embed.weight
        one_hot = torch.zeros(len(suffix), weight.shape[0], device=self.device, dtype=weight.dtype)
        one_hot[torch.arange(len(suffix)), torch.tensor(suffix, device=self.device)] = 1.0
        one_hot.requires_grad_(True)
        with torch.enable_grad():
            embeds = torch.cat([one_hot @ weight, self.embed(self.tail)])[None]
            logits = self._target_logits(inputs_embeds=embeds)
            loss = torch.nn.functional.cross_entropy(logits[0].float(), self.target)
            (grad,) = torch.autograd.grad(loss, [one_hot])
        return grad, loss.item()

    def losses(self, candidates: Any, chunk: int) -> Any:
        """Loss of each candidate suffix (rows of token ids)."""
        import torch

        results = []
        with torch.no_grad():
            for start in range(0, candidates.shape[0], chunk):
                rows = candidates[start:start + chunk]
                ids = torch.cat([rows, self.tail.expand(rows.shape[0], -1)], dim=1)
                logits = self._target_logits(input_ids=ids).float()
                per_token = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), self.target.repeat(rows.shape[0]), reduction="none")
                results.append(per_token.view(rows.shape[0], -1).mean(dim=1))
        return torch.cat(results)

    def greedy_hits_target(self, suffix: list[int]) -> bool:
        """Does greedy decoding after prompt+suffix reproduce the target tokens?"""
        import torch

        ids = torch.tensor([self.parts.before + suffix + self.parts.after], device=self.device)
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=len(self.parts.target),
                                      do_sample=False, temperature=None, top_p=None, top_k=None,
                                      pad_token_id=self.pad_id)
        return out[0, ids.shape[1]:].tolist() == self.parts.target


def inputs_len(inputs: dict[str, Any]) -> int:
    value = inputs.get("input_ids", inputs.get("inputs_embeds"))
    return int(value.shape[0])


def sample_candidates(suffix: Any, top: Any, batch_size: int, generator: Any) -> Any:
    """`batch_size` copies of the suffix, each with one position swapped for a top-k token.

    Positions are spread evenly over the suffix, the replacement drawn at random from that
    position's top-k (as in the reference implementation).
    """
    import torch

    length = suffix.shape[0]
    positions = (torch.arange(batch_size, device=suffix.device) * length // batch_size) % length
    choice = torch.randint(0, top.shape[1], (batch_size,), generator=generator).to(suffix.device)
    candidates = suffix.repeat(batch_size, 1)
    candidates[torch.arange(batch_size), positions] = top[positions, choice]
    return candidates


def keep_round_trip(tokenizer: Any, before_text: str, before: list[int], candidates: Any) -> Any:
    """Rows whose text, appended to the prompt, tokenizes back to the same ids."""
    rows = candidates.tolist()
    texts = [before_text + s for s in tokenizer.batch_decode(rows, clean_up_tokenization_spaces=False)]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    keep = [i for i, (row, ids) in enumerate(zip(rows, encoded, strict=True)) if ids == before + row]
    return candidates[keep] if keep else candidates[:0]


def optimise(model: Any, tokenizer: Any, parts: PromptParts, settings: GCGSettings,
             on_step: Callable[[int, float], None] | None = None) -> GCGResult:
    """Run GCG and return the lowest-loss suffix seen."""
    import torch

    allowed = allowed_token_ids(tokenizer, settings.allow_non_ascii)
    objective = _Objective(model, parts, tokenizer.pad_token_id or tokenizer.eos_token_id or 0)
    generator = torch.Generator().manual_seed(settings.seed)
    suffix = torch.tensor(initial_suffix(tokenizer, settings, allowed), device=objective.device)
    # Embedding matrices are often padded past the tokenizer's vocabulary: those rows are never allowed.
    rows = objective.embed.weight.shape[0]
    disallowed = torch.ones(rows, dtype=torch.bool, device=objective.device)
    disallowed[: min(rows, allowed.shape[0])] = ~allowed[:rows].to(objective.device)
    best_ids, best_loss = suffix.tolist(), float("inf")
    result = GCGResult(best_ids, "", best_loss, tokens=len(parts.before))
    row = len(best_ids) + len(parts.after) + len(parts.target)
    if settings.check_every and objective.greedy_hits_target(best_ids):  # nothing to optimise
        best_loss = float(objective.losses(suffix[None], 1)[0])
        result.losses.append(best_loss)
        result.success, result.stopped = True, "success"
    for step in range(0 if result.success else settings.steps):
        grad, current = objective.gradient(suffix.tolist())
        result.tokens += row
        if step == 0:
            best_loss = current
            result.losses.append(current)
        grad = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        grad[:, disallowed] = float("inf")
        top = (-grad).topk(min(settings.top_k, int(allowed.sum())), dim=1).indices
        candidates = sample_candidates(suffix, top, settings.batch_size, generator)
        kept = keep_round_trip(tokenizer, parts.before_text, parts.before, candidates)
        result.filtered += candidates.shape[0] - kept.shape[0]
        result.steps_run = step + 1
        if kept.shape[0] == 0:
            result.losses.append(result.losses[-1])
            continue
        losses = objective.losses(kept, settings.eval_batch)
        result.tokens += row * kept.shape[0]
        index = int(losses.argmin())
        suffix, step_loss = kept[index], float(losses[index])
        result.losses.append(step_loss)
        if step_loss < best_loss:
            best_ids, best_loss = suffix.tolist(), step_loss
        if on_step is not None:
            on_step(step, step_loss)
        if settings.check_every and (step + 1) % settings.check_every == 0 and objective.greedy_hits_target(best_ids):
            result.success, result.stopped = True, "success"
            break
    result.suffix_ids, result.best_loss = best_ids, best_loss
    result.suffix = tokenizer.decode(best_ids, clean_up_tokenization_spaces=False)
    return result
