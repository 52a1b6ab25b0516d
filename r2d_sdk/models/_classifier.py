"""In-process classifiers: a sequence-classification head, or a causal LM read as a yes/no scorer.

Both give one probability per text from a single forward pass per batch, no generation: what a
judge backed by a fine-tuned classifier needs. They share the local models' loading, instance
cache and torch lock (`LocalWeights`), and their micro-batching (`BatchQueue`): concurrent
`probability(text)` calls, one per judged sample, are gathered into one forward pass per batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from r2d_sdk._errors import ConfigError
from r2d_sdk.models._batch_queue import BatchQueue, closest_in_length
from r2d_sdk.models._local_base import LocalWeights, default_device, load_pretrained

Head = Literal["sequence", "yes-no"]


class LocalClassifier(LocalWeights):
    """P(positive) for texts, in batches.

    Args:
        ref: a folder, `smollm2`, or a hub id (as for local models).
        head: `sequence` (AutoModelForSequenceClassification: softmax over its labels, the
            `positive` label's share) or `yes-no` (a causal LM: at the last position,
            P(yes) / (P(yes) + P(no)) over the first tokens of `yes` and `no`).
        positive: sequence head: the positive label's index or name (default 1).
        yes / no: yes-no head: the two answer words (a leading space is part of the word).
        batch_size: texts per forward pass.
        max_length: longer texts are cut from the left (the end is where the answer is).
        batch_wait_ms: how long the first queued `probability` call waits for company.
        dtype, device, threads: as for local models.
    """

    def __init__(self, ref: str, head: Head = "sequence", positive: int | str = 1, yes: str = "yes",
                 no: str = "no", batch_size: int = 16, max_length: int = 1024, batch_wait_ms: float = 15.0,
                 dtype: str | None = None, device: str | None = None, threads: int | None = None) -> None:
        super().__init__(ref, threads)
        if head not in ("sequence", "yes-no"):
            raise ConfigError(f"classifier head '{head}' is not one of: sequence, yes-no",
                              fix="use head: sequence (a classification head) or head: yes-no (a causal LM)")
        self.head = head
        self.batch_size = batch_size
        self.max_length = max_length
        auto = "AutoModelForSequenceClassification" if head == "sequence" else "AutoModelForCausalLM"
        self.tokenizer, self.model = load_pretrained(auto, ref, dtype, purpose="local classifiers")
        self.device = default_device(device)
        self.model.to(self.device).eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # Left padding puts every row's last real token at the last position, where both heads read.
        self.tokenizer.padding_side = "left"
        self.tokenizer.truncation_side = "left"
        if getattr(self.model.config, "pad_token_id", None) is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        if head == "sequence":
            self.positive = self._label_index(positive)
        else:
            self.answer_ids = (self._first_token(yes), self._first_token(no))
        self.forward_passes = 0  # batches run so far (what the micro-batching saves is counted in tests)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"r2d-classifier-{ref}")
        # Texts of similar length share a batch: each is padded to the longest.
        self._batches: BatchQueue[str, float] = BatchQueue(self.probabilities, batch_size, batch_wait_ms / 1000,
                                                           self._executor,
                                                           lambda held, size: closest_in_length(held, size, len))

    def _label_index(self, positive: int | str) -> int:
        labels = getattr(self.model.config, "id2label", None) or {}
        if isinstance(positive, int):
            if not 0 <= positive < max(len(labels), 1):
                raise ConfigError(f"classifier '{self.ref}' has {len(labels)} labels; index {positive} is out of "
                                  "range", fix="set `positive` to a label index or name the model has")
            return positive
        by_name = {str(name).lower(): int(index) for index, name in labels.items()}
        if positive.lower() not in by_name:
            raise ConfigError(f"classifier '{self.ref}' has no label '{positive}' (it has: "
                              f"{', '.join(map(str, labels.values()))})", fix="set `positive` to one of those")
        return by_name[positive.lower()]

    def _first_token(self, word: str) -> int:
        ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ConfigError(f"'{word}' tokenizes to nothing", fix="choose another answer word")
        return int(ids[0])

    def probabilities(self, texts: list[str]) -> list[float]:
        """P(positive) per text (blocking; one forward pass per `batch_size` texts, under the lock)."""
        out: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(self._batch(texts[start:start + self.batch_size]))
        return out

    def _batch(self, texts: list[str]) -> list[float]:
        import torch

        encoded: Any = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                      max_length=self.max_length, add_special_tokens=self.head == "sequence")
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        with self._torch_lock, torch.inference_mode():
            self.forward_passes += 1
            if self.head == "sequence":
                logits = self.model(**encoded).logits.float()
                return torch.softmax(logits, dim=-1)[:, self.positive].tolist()
            logits = self.model(**encoded, logits_to_keep=1).logits[:, -1].float()
            pair = logits[:, list(self.answer_ids)]
            return torch.softmax(pair, dim=-1)[:, 0].tolist()

    async def score(self, texts: list[str]) -> list[float]:
        """`probabilities` off the event loop."""
        return await self.run_exclusive(self.probabilities, texts)

    async def probability(self, text: str) -> float:
        """P(positive) of one text, batched with the other calls waiting at the same time."""
        return await self._batches.submit(text)

    def tokens(self, text: str) -> int:
        """How many tokens the classifier reads of a text (for the call log)."""
        return min(len(self.tokenizer(text, add_special_tokens=False)["input_ids"]), self.max_length)
