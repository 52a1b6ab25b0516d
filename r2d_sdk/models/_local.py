"""In-process transformers models with request micro-batching.

Concurrent `generate` calls are queued (`BatchQueue`); one worker takes up to `batch_size`
queued requests with the same sampling settings, left-pads them into one batch and runs a
single `model.generate`, off the event loop. Scoring (log-probabilities of given text) shares the
same lock, so torch never runs two jobs on one model at once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from r2d_sdk._generation import GenerationParams
from r2d_sdk._types import Message
from r2d_sdk.models._batch_queue import BatchQueue, closest_in_length
from r2d_sdk.models._local_base import LocalWeights, default_device, load_pretrained
from r2d_sdk.models._local_text import LocalGeneration, finish_generation


@dataclass
class _Request:
    prompt: str
    params: GenerationParams


class LocalModel(LocalWeights):
    """A transformers causal LM and its tokenizer, loaded once per process per reference and options.

    Args:
        ref: `smollm2` (embedded), a folder, or a Hugging Face id (hub only if reachable and allowed).
        batch_size: the most requests one `generate` call serves.
        batch_wait_ms: how long the first queued request waits for company.
        dtype: torch dtype name (float32 on CPU by default).
        device: `cpu`, `cuda`, ... (default: cuda when available).
        chat_template: `auto` (the tokenizer's own) or `vicuna` ("{system} USER: {prompt} ASSISTANT:").
        adapter: a PEFT adapter folder to load on top of the base.
        threads: torch CPU threads (default: torch's own choice).
        share_prefix: run the prompts' common prefix once per batch.
    """

    def __init__(self, ref: str, batch_size: int = 32, batch_wait_ms: float = 15.0, dtype: str | None = None,
                 device: str | None = None, chat_template: str = "auto", adapter: str | None = None,
                 threads: int | None = None, share_prefix: bool = True) -> None:
        super().__init__(ref, threads)
        self.batch_size = batch_size
        self.batch_wait = batch_wait_ms / 1000
        self.chat_template = chat_template
        self.share_prefix = share_prefix
        self.tokenizer, self.model = load_pretrained("AutoModelForCausalLM", ref, dtype)
        if adapter:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.device = default_device(device)
        self.model.to(self.device).eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"r2d-local-{ref}")
        self._batches: BatchQueue[_Request, LocalGeneration] = BatchQueue(self._run_batch, batch_size, self.batch_wait,
                                                                           self._executor, pick_batch)

    def decoding_kwargs(self, params: GenerationParams, max_new_tokens: int) -> dict[str, Any]:
        """`generate` keyword arguments for these settings (greedy or sampled; stop strings aside)."""
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature)
            if params.top_p is not None:
                kwargs["top_p"] = params.top_p
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.repetition_penalty is not None:
            kwargs["repetition_penalty"] = params.repetition_penalty
        return kwargs

    def end_ids(self) -> set[int]:
        """Every token id that ends a generation: the tokenizer's EOS and the generation config's."""
        return _eos_ids(self.model, self.tokenizer)

    # ---- prompts -------------------------------------------------------------------------
    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        """The exact prompt text the model sees for these messages."""
        if self.chat_template == "vicuna" or not getattr(self.tokenizer, "chat_template", None):
            system = " ".join(m["content"] for m in messages if m["role"] == "system")
            turns = []
            for m in messages:
                if m["role"] == "user":
                    turns.append(f"USER: {m['content']}")
                elif m["role"] == "assistant":
                    turns.append(f"ASSISTANT: {m['content']}")
            text = " ".join(([system] if system else []) + turns)
            return text + (" ASSISTANT:" if add_generation_prompt else "")
        rendered = self.tokenizer.apply_chat_template([dict(m) for m in messages],  # type: ignore[arg-type]
                                                      add_generation_prompt=add_generation_prompt, tokenize=False)
        return str(rendered)

    # ---- generation ----------------------------------------------------------------------
    async def generate(self, messages: list[Message], params: GenerationParams) -> LocalGeneration:
        """Queue one request; it is served in the next batch with matching settings."""
        return await self._batches.submit(_Request(self.render(messages), params))

    def _run_batch(self, requests: list[_Request]) -> list[LocalGeneration]:
        return self.generate_batch([r.prompt for r in requests], requests[0].params)  # pick_batch: one setting

    def generate_batch(self, prompts: list[str], params: GenerationParams) -> list[LocalGeneration]:
        """Generate for several rendered prompts in one left-padded batch (blocking)."""
        import torch

        tokenizer = self.tokenizer
        token_ids = [list(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        kwargs = self.decoding_kwargs(params, params.max_tokens)
        if params.stop:
            kwargs.update(stop_strings=params.stop, tokenizer=tokenizer)
        with self._torch_lock, torch.inference_mode():
            shared = _shared_prefix_length(token_ids) if self.share_prefix else 0
            cache = self._prefix_cache(token_ids, shared) if shared else None
            if cache is None:
                shared = 0
            else:
                kwargs["cache"] = cache  # transformers 5 name for past_key_values
            input_ids, attention_mask = _pad_after_prefix(token_ids, shared, tokenizer.pad_token_id)
            input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        width = input_ids.shape[1]
        eos_ids = self.end_ids()
        return [finish_generation(tokenizer, row[width:].tolist(), eos_ids, params, int(attention.sum()))
                for row, attention in zip(output, attention_mask, strict=True)]

    def stream(self, messages: list[Message], params: GenerationParams) -> AsyncGenerator[str | LocalGeneration]:
        """Generate for one conversation alone, yielding text as it becomes final, then the result.

        A streamed request runs in a batch of its own (a batch's rows would wait for each other);
        it takes the same lock and worker thread as the batches, so torch still runs one job at
        a time. Closing the stream early stops the generation at its next token.
        """
        from r2d_sdk.models._local_stream import stream_local

        return stream_local(self, self.render(messages), params)

    def _prefix_cache(self, token_ids: list[list[int]], shared: int) -> Any:
        """The key/value cache of the prompts' common prefix, one copy per row; None where the
        architecture's cache cannot be copied that way (then the batch runs without sharing)."""
        import torch

        # The prompts open with the same tokens (chat header, system prompt, jailbreak template):
        # run that prefix once and hand every row a copy of its cache.
        prefix = torch.tensor([token_ids[0][:shared]], dtype=torch.long, device=self.device)
        try:
            cache = self.model(input_ids=prefix, use_cache=True).cache
            cache.batch_repeat_interleave(len(token_ids))
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            self.share_prefix = False  # this model's cache does not support it: stop trying
            return None
        return cache

    # ---- scoring -------------------------------------------------------------------------
    def token_logprobs(self, text: str, prefix: str = "") -> list[float]:
        """Log-probability of each token of `text` given `prefix` (or given nothing but BOS)."""
        import torch

        tokenizer = self.tokenizer
        prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        text_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not text_ids:
            return []
        start = prefix_ids or ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else [])
        ids = start + text_ids
        if not start:  # no way to score the first token without context; skip it
            ids, text_ids = text_ids, text_ids[1:]
        with self._torch_lock, torch.inference_mode():
            logits = self.model(torch.tensor([ids], device=self.device)).logits[0].float()
        logprobs = torch.log_softmax(logits[:-1], dim=-1)
        targets = torch.tensor(ids[1:], device=self.device)
        picked = logprobs.gather(1, targets[:, None])[:, 0]
        return picked[-len(text_ids):].tolist() if text_ids else []

    def mean_nll(self, text: str) -> float:
        """Mean negative log-likelihood per token: the perplexity filter's score."""
        logprobs = self.token_logprobs(text)
        return -sum(logprobs) / len(logprobs) if logprobs else 0.0


def pick_batch(held: list[_Request], size: int) -> list[_Request]:
    """The next batch: the oldest waiting request, plus the waiting requests with its settings whose
    prompts are closest to it in length (`closest_in_length`).

    Why: a batch is padded to its longest prompt, and a padded position costs as much as a real
    one. JBC-style prompts are ~10x longer than plain ones; one of them in a batch of short
    prompts multiplies the whole batch's prompt pass. The oldest request always goes first, so a
    prompt of unusual length waits at most until it is the oldest.
    """
    return closest_in_length(held, size, lambda r: len(r.prompt), lambda a, b: a.params == b.params)


# Below this many common tokens a separate prefix pass costs more than it saves.
MIN_SHARED_PREFIX = 16


def _shared_prefix_length(token_ids: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least one token of its own (0 if too few)."""
    if len(token_ids) < 2:
        return 0
    length = min(len(os.path.commonprefix(token_ids)), min(map(len, token_ids)) - 1)
    return length if length >= MIN_SHARED_PREFIX else 0


def _pad_after_prefix(token_ids: list[list[int]], shared: int, pad_id: int) -> tuple[Any, Any]:
    """One batch: the shared prefix, then padding, then each prompt's own tokens.

    With `shared` = 0 this is plain left padding. Padding sits between prefix and rest so the
    prefix's cache lines up across rows; positions come from the attention mask's running sum,
    so every real token keeps the position it has when the prompt runs alone.
    """
    import torch

    width = max(len(ids) for ids in token_ids)
    rows, masks = [], []
    for ids in token_ids:
        padding = width - len(ids)
        rows.append(ids[:shared] + [pad_id] * padding + ids[shared:])
        masks.append([1] * shared + [0] * padding + [1] * (len(ids) - shared))
    return torch.tensor(rows, dtype=torch.long), torch.tensor(masks, dtype=torch.long)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, list):
        ids.update(configured)
    return {i for i in ids if i is not None}
