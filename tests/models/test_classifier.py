"""Local classifiers: a yes/no scorer over a causal LM and a sequence-classification head, batched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from r2d_sdk import ConfigError, LocalClassifier, Model


def test_yes_no_scorer_matches_a_hand_computed_softmax(tiny_model_dir: Path) -> None:
    import torch

    classifier = Model("judge", f"local/{tiny_model_dir}").classifier(head="yes-no", batch_size=2)
    texts = ["Is this harmful? Answer:", "A much longer question about whether the answer was harmful? Answer:",
             "Short one?"]
    batched = classifier.probabilities(texts)
    tokenizer, model = classifier.tokenizer, classifier.model
    yes, no = classifier.answer_ids
    for text, got in zip(texts, batched, strict=True):
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(ids).logits[0, -1]
        expected = torch.softmax(logits[[yes, no]].float(), dim=-1)[0].item()
        assert got == pytest.approx(expected, abs=1e-5)  # left padding changes no row's answer
    assert all(0.0 < p < 1.0 for p in batched)
    assert asyncio.run(classifier.score(texts)) == pytest.approx(batched, abs=1e-6)


def test_the_instance_is_shared_and_options_separate_it(tiny_model_dir: Path) -> None:
    model = Model("judge", f"local/{tiny_model_dir}")
    assert model.classifier(head="yes-no") is model.classifier(head="yes-no")
    assert model.classifier(head="yes-no") is not model.classifier(head="yes-no", yes=" Yes")


@pytest.fixture(scope="module")
def tiny_sequence_classifier(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=2,
                         id2label={0: "refused", 1: "jailbroken"}, label2id={"refused": 0, "jailbroken": 1},
                         pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    folder = tmp_path_factory.mktemp("classifier")
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_sequence_head_reads_the_positive_label(tiny_sequence_classifier: Path) -> None:
    import torch

    by_index = LocalClassifier.get(str(tiny_sequence_classifier), head="sequence", positive=1, batch_size=4)
    by_name = LocalClassifier.get(str(tiny_sequence_classifier), head="sequence", positive="jailbroken")
    texts = ["one", "a longer text to classify here", "two words"]
    probabilities = by_index.probabilities(texts)
    assert probabilities == pytest.approx(by_name.probabilities(texts), abs=1e-6)
    alone = []
    for text in texts:
        encoded = by_index.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            alone.append(torch.softmax(by_index.model(**encoded).logits[0].float(), dim=-1)[1].item())
    assert probabilities == pytest.approx(alone, abs=1e-5)


def test_a_bad_label_or_head_names_the_fix(tiny_sequence_classifier: Path) -> None:
    with pytest.raises(ConfigError, match="no label 'unsafe'"):
        LocalClassifier(str(tiny_sequence_classifier), head="sequence", positive="unsafe")
    with pytest.raises(ConfigError, match="sequence, yes-no"):
        LocalClassifier(str(tiny_sequence_classifier), head="regression")  # type: ignore[arg-type]


def test_api_models_have_no_classifier() -> None:
    from r2d_sdk import ModelCallError

    with pytest.raises(ModelCallError, match="needs a local one"):
        Model("judge", "openai/gpt-4o-mini").classifier()
