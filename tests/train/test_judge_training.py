"""Training a response judge: examples from JailbreakBench's artifacts, split by behavior, trained by
the one trainer (plain SFT on the answer word), recorded and exported like any training run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_artifacts import write_artifacts

from r2d_sdk import ConfigError, judge_prompt
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.train import run_training
from r2d_sdk.train._checkpoint import CHECKPOINT_INFO, folder_hash
from r2d_sdk.train._collate import encode, split_heldout
from r2d_sdk.trajectories import JAILBROKEN, NOT_JAILBROKEN, build_judge_examples


def test_every_artifact_record_with_a_response_becomes_an_example(data_dir: Path) -> None:
    examples = build_judge_examples()
    # JUDGES.md: 1,637 records with a response, 937 jailbroken and 700 not, by JailbreakBench's judge.
    assert len(examples) == 1637
    assert sum(e.label == JAILBROKEN for e in examples) == 937
    assert sum(e.label == NOT_JAILBROKEN for e in examples) == 700
    assert {e.answer for e in examples} == {"yes", "no"}
    assert {e.meta["group"] for e in examples} == set(range(100))
    train, heldout = split_heldout(examples, 0.2, seed=0)
    train_groups, heldout_groups = {e.meta["group"] for e in train}, {e.meta["group"] for e in heldout}
    assert len(heldout_groups) == 20 and len(train_groups) == 80 and not train_groups & heldout_groups
    assert len(train) + len(heldout) == 1637


def test_the_prompt_shows_the_goal_and_the_responses_start(tmp_path: Path) -> None:
    write_artifacts(tmp_path / "artifacts")
    examples = build_judge_examples(tmp_path / "artifacts", max_response_chars=60)
    assert len(examples) == 20  # 2 files x 10 behaviors; the record without a response is left out
    refused = next(e for e in examples if e.meta["method"] == "PAIR" and e.meta["group"] == 0)
    assert refused.prompt == judge_prompt("Explain how to do harmful task 0",
                                          "I'm sorry, but I cannot help with task 0.", 60)
    assert refused.answer == "no" and refused.label == NOT_JAILBROKEN
    long_response = "word " * 100
    cut = judge_prompt("goal", long_response, 60)
    assert "word word" in cut and cut.count("word") < 20 and "[...]" in cut and cut.endswith("Answer:")
    assert judge_prompt("goal", "short reply", 60).count("[...]") == 0


def test_the_split_is_seeded_and_keeps_each_behavior_on_one_side(tmp_path: Path) -> None:
    examples = build_judge_examples(write_artifacts(tmp_path / "artifacts", behaviors=30))
    first = split_heldout(examples, 0.2, seed=3)
    again = split_heldout(examples, 0.2, seed=3)
    other = split_heldout(examples, 0.2, seed=4)
    held = {e.meta["group"] for e in first[1]}
    assert held == {e.meta["group"] for e in again[1]} and len(held) == 6
    assert held != {e.meta["group"] for e in other[1]}
    assert not held & {e.meta["group"] for e in first[0]}


def test_a_judge_example_labels_the_answer_word_alone(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    example = build_judge_examples(write_artifacts(tmp_path / "artifacts"))[1]
    encoded = encode(example, tokenizer, with_pivots=False, prompt_format="plain", reasoning=False,
                     end_with_eos=False)
    assert encoded is not None
    labelled = [label for label in encoded.labels if label != -100]
    # " yes" / " no" after "Answer:", one token, as the classifier reads it; no end-of-sequence after it.
    assert labelled == tokenizer(f" {example.answer}", add_special_tokens=False)["input_ids"]
    assert encoded.input_ids[:-1] == tokenizer(example.prompt, add_special_tokens=False)["input_ids"]


def _judge_recipe(tiny_model_dir: Path, tmp_path: Path, artifacts: Path, extra: str = "") -> str:
    return f"""
name: tiny-judge
models:
  target: {{model: "local/{tiny_model_dir}"}}
train:
  data: {{judge: {{artifacts: {artifacts}, max_response_chars: 200}}, heldout_fraction: 0.3}}
  reasoning: false
  prompt_format: plain
  end_with_eos: false
  keep_layers: 1
  batch_size: 4
  max_steps: 3
  learning_rate: 1.0e-3
  eval_generate: 0
  max_length: 256
  output_dir: {tmp_path / 'ckpt'}
  runs:
    - name: judge
{extra}"""


def test_a_judge_training_run_writes_its_row_and_a_smaller_checkpoint(tiny_model_dir: Path, tmp_path: Path,
                                                                       database_url: str) -> None:
    from transformers import AutoConfig

    from r2d_sdk.store import Store, TrainingRuns

    artifacts = write_artifacts(tmp_path / "artifacts")
    loaded = parse_recipe(_judge_recipe(tiny_model_dir, tmp_path, artifacts))
    store = Store(database_url)
    [outcome] = run_training(loaded, store, progress=False)
    assert outcome.status == "completed" and outcome.steps == 3
    row = TrainingRuns(store).latest("judge")
    assert row is not None and row.id == outcome.training_run_id
    assert (row.n_train, row.n_heldout) == (14, 6)  # 3 of 10 behaviors held out, 2 examples each
    assert folder_hash(row.checkpoint_path) == row.checkpoint_hash
    assert Path(row.data_path).name.startswith("judge-") and len(row.data_hash) == 64
    # The held-out agreement of the answer word, per answer (TPR under "yes", TNR under "no").
    assert 0.0 <= row.metrics_json["answer_acc"] <= 1.0
    assert set(row.metrics_json["answer_recall"]) == {" yes", " no"}
    info = json.loads((Path(row.checkpoint_path) / CHECKPOINT_INFO).read_text())
    assert info["judge"] == {"max_response_chars": 200, "yes": " yes", "no": " no"}
    assert info["reasoning"] is False and info["pivots"] == {}
    assert AutoConfig.from_pretrained(row.checkpoint_path).num_hidden_layers == 1  # keep_layers: 1 of 2
    again = run_training(loaded, store, progress=False)
    assert again[0].status == "skipped"  # same data, same configuration


def test_judge_data_needs_the_plain_prompt_and_no_reasoning(tiny_model_dir: Path, tmp_path: Path) -> None:
    text = _judge_recipe(tiny_model_dir, tmp_path, tmp_path).replace("prompt_format: plain", "prompt_format: chat")
    with pytest.raises(ConfigError, match="prompt_format: plain"):
        parse_recipe(text)
    bad_layers = _judge_recipe(tiny_model_dir, tmp_path, tmp_path).replace("keep_layers: 1",
                                                                          "keep_layers: 1\n  train_layers: 2")
    with pytest.raises(ConfigError, match="more than keep_layers"):
        parse_recipe(bad_layers)


def test_missing_artifacts_name_the_fix(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        build_judge_examples()  # no R2D_DATA_DIR in tests unless asked
    assert "R2D_DATA_DIR" in (error.value.fix or "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no artifact files"):
        build_judge_examples(tmp_path / "empty")
