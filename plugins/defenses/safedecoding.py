"""SafeDecoding: steer the first few tokens toward a safety expert, then decode as usual.

Xu et al. 2024, "SafeDecoding: Defending against Jailbreak Attacks via Safety-Aware Decoding".
For the first m = 2 tokens, the next token is chosen from p_base + α (p_expert − p_base), α = 3,
over the candidate set: the tokens in both models' top-k, with k grown from c = 5 until c tokens
are shared (probabilities floored at 1e-8, renormalised). The rest is ordinary decoding with the
base model. The expert is a PEFT adapter (loaded on a private copy of the base, so the target
is untouched) or a full local model with the same vocabulary. Local targets only.
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from r2d_plugins.defenses._common import require_local

from r2d_sdk import ConfigError, Context, Defense, DefenseResult, Message, record_model_call, register


class SafeDecodingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expert: str = Field(description="the safety expert: a PEFT adapter folder, a model folder, or a local "
                                    "recipe model's name")
    first_m: int = Field(2, ge=0, description="tokens decoded with the expert's steering")
    alpha: float = Field(3.0, ge=0.0, description="steering strength α")
    c: int = Field(5, gt=0, description="shared candidates wanted in both models' top-k")


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


def safe_decode(base: Any, expert: Any, tokenizer: Any, prompt: str, params: Any, first_m: int, alpha: float,
                c: int, eos_ids: set[int]) -> tuple[list[int], int, list[dict[str, Any]]]:
    """Decode (blocking): returns (new token ids, prompt tokens, the steered steps)."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(base.device)
    prompt_tokens = ids.shape[1]
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
            ids = torch.cat([ids, torch.tensor([[token]], device=ids.device)], dim=1)
            if token in eos_ids:
                return new, prompt_tokens, steps
        remaining = params.max_tokens - len(new)
        if remaining > 0:
            kwargs: dict[str, Any] = {"max_new_tokens": remaining, "pad_token_id": tokenizer.pad_token_id}
            if params.temperature > 0:
                kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if params.repetition_penalty is not None:
                kwargs["repetition_penalty"] = params.repetition_penalty
            output = base.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
            rest = output[0, ids.shape[1]:].tolist()
            ended = next((i for i, t in enumerate(rest) if t in eos_ids), None)
            new += rest if ended is None else rest[: ended + 1]
    return new, prompt_tokens, steps


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every token id that ends a generation: the tokenizer's EOS and the generation config's."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


@register("safedecoding")
class SafeDecoding(Defense):
    """Steer the first m tokens with a safety-expert adapter (α, c), then decode with the base model."""

    Config = SafeDecodingConfig
    config: SafeDecodingConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self.expert: Any = None

    def _load_expert(self) -> Any:
        spec = self.config.expert
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
        new, prompt_tokens, steps = await asyncio.to_thread(
            safe_decode, local.model, self.expert, local.tokenizer, local.render(messages), params,
            self.config.first_m, self.config.alpha, self.config.c, eos_ids(local.model, local.tokenizer))
        text = local.tokenizer.decode(new, skip_special_tokens=True).strip()
        latency = (time.perf_counter() - started) * 1000
        settings = {"first_m": self.config.first_m, "alpha": self.config.alpha, "c": self.config.c}
        record_model_call(self.model, list(messages), text, prompt_tokens=prompt_tokens, completion_tokens=len(new),
                          latency_ms=latency, finish_reason="safedecoding", params=params.model_dump(exclude_none=True))
        expert = SimpleNamespace(name=f"{self.model.name}:expert", model_id=f"safedecoding-expert:{self.config.expert}")
        record_model_call(expert, list(messages), None, prompt_tokens=sum(prompt_tokens + i for i in range(len(steps))),
                          completion_tokens=len(steps), finish_reason="expert-steps", params=settings)
        return DefenseResult(text, info={**settings, "steps": steps})
