"""Recipe loading: YAML, `${ENV}` expansion, shorthands, and errors that name the file, path and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from r2d_sdk import ConfigError
from r2d_sdk.recipe import load_recipe, parse_recipe

BASE = """
models:
  target: {model: openai/mock}
dataset: jbb-harmful
judges: [refusal-string]
"""


def _error(text: str, where: str = "r.yaml") -> str:
    with pytest.raises(ConfigError) as raised:
        parse_recipe(text, where)
    assert raised.value.exit_code == 2 and raised.value.fix
    return raised.value.message


def test_defaults_and_shorthands() -> None:
    recipe = parse_recipe(BASE).recipe
    assert [d.name for d in recipe.datasets] == ["jbb-harmful"]  # `dataset:` is a one-item `datasets:`
    assert [(a.name, a.key) for a in recipe.attacks] == [("direct", "direct")]
    assert [d.name for d in recipe.defenses] == ["none"] and [m.name for m in recipe.metrics] == ["asr"]
    assert recipe.targets == ["target"] and recipe.concurrency == 32 and recipe.database is None
    params = recipe.generation.params()
    assert (params.temperature, params.max_tokens) == (0.0, 150)  # JailbreakBench's protocol
    labelled = parse_recipe(BASE + "attacks: [direct, {name: template, label: t2, args: {template: x}}]\n").recipe
    assert [a.key for a in labelled.attacks] == ["direct", "t2"] and labelled.attacks[1].args == {"template": "x"}


def test_generation_preset_and_overrides() -> None:
    recipe = parse_recipe(BASE + "generation: {preset: xstest, max_tokens: 64}\n").recipe
    params = recipe.generation.params()
    assert (params.max_tokens, params.repetition_penalty) == (64, 1.2)
    assert "unknown preset 'nope'" in _error(BASE + "generation: {preset: nope}\n")


def test_env_expansion_keeps_the_text_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2D_TEST_KEY", "sk-secret")
    monkeypatch.delenv("R2D_TEST_ABSENT", raising=False)
    text = BASE.replace("{model: openai/mock}", "{model: openai/mock, api_key: '${R2D_TEST_KEY}'}") + \
        "database: ${R2D_TEST_ABSENT:-fallback.db}\n"
    loaded = parse_recipe(text)
    assert loaded.recipe.models["target"].api_key == "sk-secret"
    assert loaded.recipe.database == "fallback.db"
    assert "sk-secret" not in loaded.text and "${R2D_TEST_KEY}" in loaded.text
    assert loaded.hash == parse_recipe(text).hash and len(loaded.hash) == 64
    message = _error(BASE + "attacks: [{name: template, args: {text: '${R2D_TEST_ABSENT}'}}]\n")
    assert message == "r.yaml: attacks[0].args.text uses ${R2D_TEST_ABSENT}, which is not set"


@pytest.mark.parametrize(("extra", "expected"), [
    ("colour: red\n", "colour: unknown field; expected one of: name, description, models, target"),
    ("generation: {temprature: 1}\n", "generation.temprature: unknown field; expected one of: preset, temperature"),
    ("datasets: [{name: x, lmit: 3}]\n", None),  # both dataset and datasets
    ("concurrency: 0\n", "concurrency: Input should be greater than 0 (got 0)"),
    ("seed: abc\n", "seed: Input should be a valid integer, unable to parse string as an integer (got 'abc')"),
    ("target: judge\n", "target: 'judge' is not one of the models under `models:` ['target']"),
    ("defenses: [none, none]\n", "defenses: ['none'] appear more than once; give each a distinct `label`"),
])
def test_field_errors_name_the_path_and_expectation(extra: str, expected: str | None) -> None:
    message = _error(BASE + extra)
    assert message.startswith("r.yaml is not a valid recipe:\n")
    if expected is None:
        assert "dataset, datasets: give one of the two, not both" in message
    else:
        assert f"\n  {expected}" in message, message


def test_nested_unknown_field_in_a_list_item() -> None:
    text = BASE.replace("dataset: jbb-harmful", "datasets: [{name: jbb-harmful, lmit: 3}]")
    message = _error(text)
    assert "datasets[0].lmit: unknown field; expected one of: name, label, args, limit, filter" in message
    models = BASE.replace("{model: openai/mock}", "{model: openai/mock, retries: 2}")
    assert "models.target.retries: unknown field; expected one of: model, api_base, api_key" in _error(models)


def test_missing_required_fields() -> None:
    message = _error("models: {target: {model: x}}\ndataset: jbb-harmful\n")
    assert "  judges: required field is missing" in message
    assert "  models: required field is missing" in _error("dataset: jbb-harmful\njudges: [refusal-string]\n")


def test_yaml_errors() -> None:
    message = _error("models: {target: {model: x}\n")
    assert message.startswith("r.yaml is not valid YAML at line 2")
    assert "must be a YAML mapping" in _error("- just\n- a list\n")
    assert "must be a YAML mapping" in _error("")


def test_files(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(BASE)
    loaded = load_recipe(path)
    assert loaded.path == path and loaded.text == BASE
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "missing.yaml")
