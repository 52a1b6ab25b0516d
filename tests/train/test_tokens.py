"""Pivot tokens: added only where missing, found by string, new rows started from their word."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from r2d_sdk import R2DError
from r2d_sdk.train._tokens import ADDED_TOKENS, add_pivot_tokens, pivot_ids, token_id
from r2d_sdk.trajectories import PIVOTS, SAFE, THINK_CLOSE, THINK_OPEN, UNSAFE


def test_adds_tokens_initialises_rows_from_their_words(tiny_model_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    before = model.get_input_embeddings().weight.detach().clone()
    with pytest.raises(R2DError, match="no token"):
        pivot_ids(tokenizer)
    added = add_pivot_tokens(model, tokenizer, init_words={UNSAFE: " not safe"})
    assert added == list(ADDED_TOKENS)
    weight = model.get_input_embeddings().weight
    assert weight.shape[0] == len(tokenizer) == before.shape[0] + 5
    ids = pivot_ids(tokenizer)
    assert ids.by_string() == {t: tokenizer.get_vocab()[t] for t in ADDED_TOKENS}
    safe_word = tokenizer(" safe", add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(weight[ids.safe], before[safe_word].mean(0))
    not_safe = tokenizer(" not safe", add_special_tokens=False)["input_ids"]
    assert len(not_safe) == 2
    torch.testing.assert_close(weight[ids.unsafe], before[not_safe].mean(0))
    torch.testing.assert_close(weight[: before.shape[0]], before)  # old rows untouched
    assert model.get_output_embeddings().weight.data_ptr() == weight.data_ptr()  # still tied

    # Ordinary added tokens: one id each, decoded back exactly, never stripped as special.
    text = f"{THINK_OPEN}\nStep one. {SAFE}\n\nStep two. {UNSAFE} {THINK_CLOSE}\n\nAnswer. {SAFE}"
    encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert encoded.count(ids.safe) == 2 and encoded.count(ids.think_open) == 1
    assert tokenizer.decode(encoded, skip_special_tokens=True) == text
    assert add_pivot_tokens(model, tokenizer) == []  # a second call changes nothing


def test_only_missing_tokens_are_added_and_ids_follow_the_strings(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.add_tokens([THINK_OPEN, THINK_CLOSE])  # like a reasoning model's tokenizer
    think = token_id(tokenizer, THINK_OPEN)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    head_before = model.get_output_embeddings().weight.detach().clone()
    assert add_pivot_tokens(model, tokenizer) == list(PIVOTS)
    ids = pivot_ids(tokenizer)
    assert ids.think_open == think  # untouched, still found by its string
    # Untied LM head: its new rows start from the word's rows of the head itself.
    rethink_word = tokenizer(" rethink", add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(model.get_output_embeddings().weight[ids.rethink], head_before[rethink_word].mean(0))
