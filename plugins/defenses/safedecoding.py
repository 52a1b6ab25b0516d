"""SafeDecoding: steer the first few tokens toward a safety expert, then decode as usual.

Xu et al. 2024, "SafeDecoding: Defending against Jailbreak Attacks via Safety-Aware Decoding".
For the first m = 2 tokens, the next token is chosen from p_base + α (p_expert − p_base), α = 3,
over the candidate set: the tokens in both models' top-k, with k grown from c = 5 until c tokens
are shared (probabilities floored at 1e-8, renormalised). The rest is ordinary decoding with the
base model. The expert is a PEFT adapter (loaded on a private copy of the base, so the target
is untouched), a full local model with the same vocabulary, or a training run of the results
database (`training:`; train one with `reasoning: false`, as recipes/defenses.yaml does: the
paper's expert is the target LoRA-tuned on its refusals to harmful queries). Local targets only.
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from r2d_plugins.defenses._common import require_local

from r2d_sdk import (
    ConfigError,
    Context,
    Defense,
    DefenseResult,
    Message,
    Model,
    record_model_call,
    register,
    resolve_for_run,
)


class SafeDecodingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expert: str | None = Field(None, description="the safety expert: a PEFT adapter folder, a model folder, or a "
                                                 "local recipe model's name")
    training: str | None = Field(None, description="or the name of a training run (`r2d-sdk train`, reasoning: "
                                                   "false): its latest completed checkpoint in the results database")
    database: str | None = Field(None, description="results database holding `training` when the run has none")
    first_m: int = Field(2, ge=0, le=131_072, description="tokens decoded with the expert's steering")
    alpha: float = Field(3.0, ge=0.0, le=1000.0, description="steering strength α")
    c: int = Field(5, gt=0, le=1_000_000, description="shared candidates wanted in both models' top-k")

    @model_validator(mode="after")
    def _one_expert(self) -> SafeDecodingConfig:
        if (self.expert is None) == (self.training is None):
            raise ValueError("give exactly one of `expert` (adapter folder, model folder or recipe model) or "
                             "`training` (a training run's name)")
        return self


def candidates(logp_base: Any, logp_expert: Any, c: int) -> list[int]:
    """Token ids in both models' top-k, k grown from c until at least c are shared."""
    order_base, order_expert = logp_base.argsort(descending=True).tolist(), logp_expert.argsort(descending=True).tolist()
    k = c
    while True:
        shared = set(order_base[:k]) & set(order_expert[:k])
        if len(shared) >= c or k >= len(order_base):
            return sorted(shared, key=lambda t: -float(logp_base[t]))
        k += 1


def steer(logp_base: Any, logp_expert: Any, alpha: float, c: int) -> tuple[list[int], Any]:
    """The candidate ids and their steered, renormalised probabilities."""
    import torch

    tokens = candidates(logp_base, logp_expert, c)
    p_base, p_expert = logp_base[tokens].exp(), logp_expert[tokens].exp()
    mixed = (p_base + alpha * (p_expert - p_base)).clamp(min=1e-8)
    return tokens, torch.softmax(mixed.log(), dim=0)


def steer_prefix(base: Any, expert: Any, tokenizer: Any, prompt: str, params: Any, first_m: int, alpha: float,
                 c: int, eos_ids: set[int]) -> tuple[list[int], list[int], list[dict[str, Any]]]:
    """The steered first tokens (blocking): (prompt ids, up to `first_m` new ids, the steered steps).

    Stops early at an end-of-sequence token; the caller decodes the rest with the base model.
    """
    import torch

    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids], device=base.device)
    new: list[int] = []
    steps: list[dict[str, Any]] = []
    generator = torch.Generator().manual_seed(params.seed or 0)
    with torch.inference_mode():
        for _ in range(min(first_m, params.max_tokens)):
            logp_base = torch.log_softmax(base(ids).logits[0, -1].float(), dim=-1).cpu()
            logp_expert = torch.log_softmax(expert(ids.to(expert.device)).logits[0, -1].float(), dim=-1).cpu()
            tokens, probs = steer(logp_base, logp_expert, alpha, c)
            pick = int(probs.argmax()) if params.temperature == 0 else int(torch.multinomial(probs, 1, generator=generator))
            token = tokens[pick]
            steps.append({"token": tokenizer.decode([token]), "candidates": len(tokens),
                          "p_base": float(logp_base[token].exp()), "p_expert": float(logp_expert[token].exp()),
                          "p_steered": float(probs[pick]), "base_top": tokenizer.decode([int(logp_base.argmax())])})
            new.append(token)
            if token in eos_ids:
                break
            ids = torch.cat([ids, torch.tensor([[token]], device=ids.device)], dim=1)
    return list(prompt_ids), new, steps


def safe_decode(local: Any, expert: Any, prompt: str, params: Any, first_m: int, alpha: float, c: int
                ) -> tuple[list[int], list[int], list[dict[str, Any]], int]:
    """Steered first tokens, then plain greedy or sampled decoding by the base (blocking).

    Returns (prompt ids, new ids without the end token, the steered steps, tokens generated).
    """
    import torch

    base, ends = local.model, local.end_ids()
    prompt_ids, new, steps = steer_prefix(base, expert, local.tokenizer, prompt, params, first_m, alpha, c, ends)
    if new and new[-1] in ends:
        return prompt_ids, new[:-1], steps, len(new)
    remaining = params.max_tokens - len(new)
    if remaining <= 0:
        return prompt_ids, new, steps, len(new)
    ids = torch.tensor([prompt_ids + new], device=base.device)
    with torch.inference_mode():
        rest = base.generate(ids, attention_mask=torch.ones_like(ids),
                             **local.decoding_kwargs(params, remaining))[0, ids.shape[1]:].tolist()
    ended = next((i for i, t in enumerate(rest) if t in ends), None)
    generated = len(new) + (len(rest) if ended is None else ended + 1)
    return prompt_ids, new + (rest if ended is None else rest[:ended]), steps, generated


@register("safedecoding")
class SafeDecoding(Defense):
    """Steer the first m tokens with a safety-expert adapter (α, c), then decode with the base model."""

    Config = SafeDecodingConfig
    config: SafeDecodingConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self.expert: Any = None
        self.expert_info: dict[str, Any] = {}

    def bind(self, model: Model) -> SafeDecoding:
        """Attach the target; what can be checked without loading weights is checked here, at build time."""
        require_local(model, self.name, "decoding (SafeDecoding drives the target's tokens itself)")
        spec = self.config.expert  # None: a training run, looked up in the results database a run opens
        if spec is not None and spec in self.context.models:
            require_local(self.context.models[spec], self.name, "the safety expert")
        elif spec is not None and not any((Path(spec).expanduser() / name).is_file()
                                          for name in ("adapter_config.json", "config.json")):
            raise ConfigError(f"safedecoding: expert '{spec}' is neither a recipe model nor a folder with "
                              "adapter_config.json or config.json",
                              fix="point `expert` at a PEFT adapter folder, a model folder or a local recipe model")
        super().bind(model)
        return self

    def _expert_folder(self) -> str:
        """The expert's spec; a training run's name becomes its checkpoint folder (and is linked)."""
        if self.config.training is None:
            return str(self.config.expert)
        ref = resolve_for_run(self.context, training=self.config.training, database=self.config.database)
        # `training_run_id` is the key the defense_training_runs view reads: one join from an ASR to the expert.
        self.expert_info = {"training": ref.name, "training_run_id": ref.training_run_id,
                            "expert_checkpoint": ref.path, "expert_checkpoint_hash": ref.checkpoint_hash}
        return ref.path

    def _load_expert(self) -> Any:
        spec = self._expert_folder()
        base = self.model.local
        expert: Any
        if spec in self.context.models:
            require_local(self.context.models[spec], self.name, "the safety expert")
            expert = self.context.models[spec].local.model
        else:
            folder = Path(spec).expanduser()
            if (folder / "adapter_config.json").is_file():
                from peft import PeftModel

                # A private copy: PEFT injects its layers in place, and the target must stay as it is.
                expert = PeftModel.from_pretrained(copy.deepcopy(base.model), str(folder))
            elif (folder / "config.json").is_file():
                from transformers import AutoModelForCausalLM

                expert = AutoModelForCausalLM.from_pretrained(str(folder)).to(base.device)
            else:
                raise ConfigError(f"safedecoding: expert '{spec}' is neither a recipe model nor a folder with "
                                  "adapter_config.json or config.json", fix="point `expert` at a PEFT adapter folder "
                                                                            "or a model folder")
        if expert.get_output_embeddings().weight.shape[0] != base.model.get_output_embeddings().weight.shape[0]:
            raise ConfigError("safedecoding: the expert's vocabulary differs from the target's",
                              fix="train the expert from the target model (same tokenizer)")
        return expert.eval()

    async def setup(self) -> None:
        require_local(self.model, self.name, "decoding (SafeDecoding drives the target's tokens itself)")
        if self.expert is None:
            self.expert = await asyncio.to_thread(self._load_expert)

    async def respond(self, messages: list[Message]) -> DefenseResult:
        if self.expert is None:
            await self.setup()
        local, params = self.model.local, self.model.defaults
        started = time.perf_counter()
        # In a worker thread, holding the target's lock: taking turns with the target's batches,
        # not running beside them (two torch thread teams on a small CPU slow each other down).
        prompt_ids, new, steps, completion_tokens = await local.run_exclusive(
            safe_decode, local, self.expert, local.render(messages), params, self.config.first_m,
            self.config.alpha, self.config.c)
        prompt_tokens = len(prompt_ids)
        text = local.tokenizer.decode(new, skip_special_tokens=True).strip()
        latency = (time.perf_counter() - started) * 1000
        settings = {"first_m": self.config.first_m, "alpha": self.config.alpha, "c": self.config.c}
        record_model_call(self.model, list(messages), text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          latency_ms=latency, finish_reason="safedecoding", params=params.model_dump(exclude_none=True))
        expert_id = self.config.expert or f"training:{self.config.training}"
        # The expert is a model of its own in the call log, though it only scores the first m tokens.
        expert = Model(f"{self.model.name}:expert", f"safedecoding-expert:{expert_id}")
        record_model_call(expert, list(messages), None, prompt_tokens=sum(prompt_tokens + i for i in range(len(steps))),
                          completion_tokens=len(steps), finish_reason="expert-steps", params=settings)
        return DefenseResult(text, info={**settings, **self.expert_info, "steps": steps})
