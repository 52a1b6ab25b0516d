"""The pivot tokens and `<think>`/`</think>`: added to the tokenizer, embedded, looked up by string.

The public R2D code finds pivot ids by their position at the end of the vocabulary, which
breaks on tokenizers that already carry `<think>`. Here every id is looked up by its string,
and a token is added only where the tokenizer lacks it.

New rows start from the mean embedding of a word that means the same thing (" safe" for
`[SAFE]`, ...), not from the default resizing: a probe on SmolLM2-135M found that with
mean-of-all-rows initialisation the model learned the wording around the pivots but never
emitted the pivots themselves (see docs/r2d.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r2d_sdk._errors import R2DError
from r2d_sdk.trajectories import RETHINK, SAFE, THINK_CLOSE, THINK_OPEN, UNSAFE

ADDED_TOKENS = (SAFE, UNSAFE, RETHINK, THINK_OPEN, THINK_CLOSE)
# The word each new row starts from (leading space: the mid-sentence form of the word).
INIT_WORDS = {SAFE: " safe", UNSAFE: " unsafe", RETHINK: " rethink", THINK_OPEN: " think",
              THINK_CLOSE: " conclusion"}


@dataclass(frozen=True)
class PivotIds:
    """Token ids of the three pivots and the think tags in one tokenizer."""

    safe: int
    unsafe: int
    rethink: int
    think_open: int
    think_close: int

    @property
    def pivots(self) -> tuple[int, int, int]:
        """(SAFE, UNSAFE, RETHINK) ids, in that order."""
        return (self.safe, self.unsafe, self.rethink)

    def by_string(self) -> dict[str, int]:
        return {SAFE: self.safe, UNSAFE: self.unsafe, RETHINK: self.rethink, THINK_OPEN: self.think_open,
                THINK_CLOSE: self.think_close}


# Training without reasoning (plain SFT) adds no tokens: ids that no token has, so the loss and
# the held-out checks find no pivot position and CPO contributes nothing.
NO_PIVOTS = PivotIds(-1, -1, -1, -1, -1)


def token_id(tokenizer: Any, token: str) -> int:
    """The id of `token` as one vocabulary entry; an error if the tokenizer splits it."""
    vocab = tokenizer.get_vocab()
    if token not in vocab:
        raise R2DError(f"the tokenizer has no token {token!r}",
                       fix="load a checkpoint trained by `r2d-sdk train` (it adds the pivot tokens), "
                           "or call add_pivot_tokens(model, tokenizer) first")
    return int(vocab[token])


def pivot_ids(tokenizer: Any) -> PivotIds:
    """Look every pivot and think tag up by its string."""
    return PivotIds(*(token_id(tokenizer, token) for token in ADDED_TOKENS))


def add_pivot_tokens(model: Any, tokenizer: Any, init_words: dict[str, str] | None = None) -> list[str]:
    """Add the missing pivot/think tokens, resize the embeddings and initialise the new rows.

    Each new row of the input embedding (and of the LM head, when it is not tied) becomes the
    mean of the rows of its word's tokens. Tokens the tokenizer already has are left alone.

    Args:
        model: a transformers causal LM (not yet wrapped by PEFT).
        tokenizer: its tokenizer; changed in place.
        init_words: token -> word whose embedding starts the new row (default `INIT_WORDS`).

    Returns:
        The tokens that were added (empty when the tokenizer had them all).
    """
    import torch

    words = {**INIT_WORDS, **(init_words or {})}
    vocab = tokenizer.get_vocab()
    missing = [token for token in ADDED_TOKENS if token not in vocab]
    if not missing:
        return []
    # Word pieces are taken before the tokenizer changes, so they never contain a new token.
    pieces = {token: tokenizer(words[token], add_special_tokens=False)["input_ids"] for token in missing}
    tokenizer.add_tokens(missing, special_tokens=False)  # ordinary tokens: decoded, never stripped
    old_rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > old_rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    input_weight = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    output_weight: Any = output.weight if output is not None else None
    tied = output_weight is None or output_weight.data_ptr() == input_weight.data_ptr()
    with torch.no_grad():
        for token in missing:
            row = token_id(tokenizer, token)
            ids = torch.tensor(pieces[token], dtype=torch.long)
            input_weight[row] = input_weight[ids].mean(dim=0)
            if not tied:
                output_weight[row] = output_weight[ids].mean(dim=0)
                bias = getattr(output, "bias", None)
                if bias is not None:
                    bias[row] = bias[ids].mean()
    return missing
