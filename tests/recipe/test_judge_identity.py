"""A judge's identity: the same instrument hashes the same under any label, another model or other
arguments make another judge, and where a model is served does not count."""

from __future__ import annotations

import pytest

from r2d_sdk import ConfigError
from r2d_sdk.recipe import judge_config_hash, judge_identity, parse_recipe

BASE = """
models:
  target: {model: mock/target}
  judge: {model: openai/gpt-4o-mini, api_key: sk-test-abcdefgh, api_base: "http://a:1/v1"}
datasets: [jbb-harmful]
"""


def _hash(judges: str, models: str = BASE, label: str = "j", extra: str = "") -> str:
    return judge_config_hash(parse_recipe(models + f"judges: {judges}\n" + extra).recipe, label)


def test_the_label_and_default_arguments_do_not_change_the_identity() -> None:
    plain = _hash("[{name: llm-judge, label: j}]")
    assert plain == _hash("[{name: llm-judge, label: other}]", label="other")
    assert plain == _hash("[{name: llm-judge, label: j, args: {model: judge, request: goal}}]")
    assert plain != _hash("[{name: llm-judge, label: j, args: {request: prompt}}]")
    assert plain != _hash("[{name: llm-judge, label: j, args: {min_words: 15}}]")


def test_the_judges_model_is_part_of_it() -> None:
    plain = _hash("[{name: llm-judge, label: j}]")
    other_model = BASE.replace("openai/gpt-4o-mini", "openai/gpt-4o")
    assert plain != _hash("[{name: llm-judge, label: j}]", other_model)
    # Its generation settings as the run merges them: the recipe's preset and the model's own.
    assert plain != _hash("[{name: llm-judge, label: j}]", extra="generation: {temperature: 0.7}\n")
    hotter = BASE.replace('api_base: "http://a:1/v1"}', 'api_base: "http://a:1/v1", generation: {top_p: 0.5}}')
    assert plain != _hash("[{name: llm-judge, label: j}]", hotter)
    # Where and as whom it is reached is not: another key, another server, more retries.
    moved = BASE.replace("sk-test-abcdefgh", "sk-test-zzzzzzzz").replace("http://a:1/v1", "http://b:2/v1")
    assert plain == _hash("[{name: llm-judge, label: j}]", moved.replace("judge: {", "judge: {max_retries: 9, "))


def test_the_identity_holds_no_secret_and_names_its_component() -> None:
    identity = judge_identity(parse_recipe(BASE + "judges: [{name: llm-judge, label: j}]\n").recipe, "j")
    assert identity.name == "llm-judge" and identity.label == "j" and len(identity.hash) == 64
    assert identity.config["models"]["judge"]["model"] == "openai/gpt-4o-mini"
    assert "sk-test" not in repr(identity.config) and "http://a:1" not in repr(identity.config)


def test_a_string_judge_reads_no_model_and_a_mock_script_is_its_model() -> None:
    identity = judge_identity(parse_recipe(BASE + "judges: [refusal-string]\n").recipe, "refusal-string")
    assert identity.config["models"] == {} and identity.config["args"]["min_words"] is None
    mock = BASE.replace("model: openai/gpt-4o-mini, api_key: sk-test-abcdefgh, api_base: \"http://a:1/v1\"",
                        "model: mock/judge, mock: {replies: [safe]}")
    assert _hash("[{name: llm-judge, label: j}]", mock) != _hash("[{name: llm-judge, label: j}]",
                                                                  mock.replace("[safe]", "[unsafe]"))


def test_an_unknown_label_names_the_judges() -> None:
    recipe = parse_recipe(BASE + "judges: [refusal-string]\n").recipe
    with pytest.raises(ConfigError, match="no judge labelled 'llm'") as raised:
        judge_identity(recipe, "llm")
    assert raised.value.fix is not None and "refusal-string" in raised.value.fix


def test_a_stored_recipe_gives_the_same_identity_again() -> None:
    text = BASE + "judges: [{name: llm-judge, label: j}]\n"
    first = parse_recipe(text).recipe
    again = parse_recipe(text, "run abc's recipe").recipe
    assert judge_identity(first, "j") == judge_identity(again, "j")
