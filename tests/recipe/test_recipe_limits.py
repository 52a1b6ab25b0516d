"""What a recipe may hold (docs/recipes.md): aliases within a budget, bounded nesting, one value per
key, UTF-8, numbers in range, names that are not blank."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from r2d_sdk import ConfigError, GenerationParams
from r2d_sdk.recipe import load_recipe, parse_recipe

BASE = """
models:
  target: {model: openai/mock}
dataset: jbb-harmful
judges: [refusal-string]
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_recipe(text, "r.yaml")
    assert raised.value.exit_code == 2 and raised.value.fix
    return raised.value.message


def billion_laughs(levels: int) -> str:
    lines = ["lol0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"lol{k}: &l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_the_billion_laughs_is_refused_at_once() -> None:
    # In a child process with a timeout: code that expands aliases would run for hours, not fail.
    script = textwrap.dedent(f"""
        import time
        from r2d_sdk import ConfigError
        from r2d_sdk.recipe import parse_recipe
        started = time.perf_counter()
        try:
            parse_recipe({billion_laughs(10)!r} + {BASE!r}, "bomb.yaml")
        except ConfigError as error:
            print(round(time.perf_counter() - started, 3), error.message)
        """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    seconds, message = child.stdout.split(" ", 1)
    assert float(seconds) < 0.5, child.stdout
    assert message.startswith("bomb.yaml is not valid YAML at line 5") and "expands to more than 50000" in message


def test_a_few_aliases_and_merge_keys_still_work() -> None:
    text = """
generation: &gen {max_tokens: 64}
models:
  target: {model: openai/mock, generation: *gen}
datasets:
  - &jbb {name: jbb-harmful, limit: 3}
  - {<<: *jbb, label: second, limit: 5}
judges: [refusal-string]
"""
    recipe = parse_recipe(text).recipe
    assert [(d.key, d.limit) for d in recipe.datasets] == [("jbb-harmful", 3), ("second", 5)]
    assert recipe.models["target"].generation == {"max_tokens": 64}


def test_a_recursive_alias_is_refused() -> None:
    message = _error(BASE + "description: &me [a, *me]\n")
    assert "alias *me refers to the collection that contains it" in message


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_nesting_is_bounded(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    started = time.perf_counter()
    message = _error(BASE + "description: " + opening * 5000 + closing * 5000 + "\n")
    assert "nesting is deeper than 64 levels" in message and time.perf_counter() - started < 2


def test_duplicate_keys_are_refused_at_any_depth() -> None:
    nested = BASE.replace("{model: openai/mock}", "{model: openai/mock, max_retries: 1, max_retries: 2}")
    message = _error(nested)
    assert message == "r.yaml is not valid YAML at line 3, column 48: key 'max_retries' appears twice in one " \
                      "mapping (first at line 3)"


@pytest.mark.parametrize(("content", "expected"), [
    ("description: café\n".encode("latin-1"), "is not UTF-8: byte 0xe9 at line 1"),
    ("description: x\n".encode("utf-16"), "is UTF-16 or UTF-32"),
])
def test_a_recipe_file_is_utf8(content: bytes, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as raised:
        load_recipe(path)
    assert raised.value.message.startswith(f"{path} {expected}"), raised.value.message


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_recipe(path).recipe.datasets[0].name == "jbb-harmful"


@pytest.mark.parametrize(("extra", "expected"), [
    ("train: {data: {offline: {}}, batch_size: true}\n", "train.runs[0].batch_size: expected a number, not true/false"),
    ("train: {data: {offline: {}}, max_steps: 100000000000}\n", "train.runs[0].max_steps: Input should be less than"),
    ("train: {data: {offline: {}}, name: ''}\n", "train.runs[0].name: must not be empty"),
    ("distill: {seed: -1}\n", "distill.seed: Input should be greater than or equal to 0"),
    ("generation: {temperature: .nan}\n", "generation.temperature: Input should be a finite number"),
    ("generation: {stop: ['']}\n", "generation.stop[0]: String should have at least 1 character"),
    ("models: {target: {model: openai/mock, batch_size: 100000}}\n", "models.target.batch_size: Input should be less"),
    ("models: {target: {model: ''}}\n", "models.target.model: must not be empty"),
    ("models: {'': {model: x}}\n", "models: the key '' must not be empty"),
    ("datasets: [{name: jbb-harmful, filter: {label: []}}]\n", "datasets[0].filter: label: an empty list keeps no item"),
    ("attacks: [{name: direct, datasets: []}]\n", "attacks[0].datasets: List should have at least 1 item"),
    ("attacks: [{name: \"dir\\u0000ect\"}]\n", "attacks[0].name: must not contain control characters"),
    ("database: 'postgresql://me@host:notaport/db'\n", "database: is not a database URL"),
    ("database: 'postgresql+nodriver://me@host/db'\n", "database: names the unknown driver"),
])
def test_fields_are_bounded(extra: str, expected: str) -> None:
    text = BASE if not extra.startswith(("models:", "datasets:")) else BASE.replace(
        "models:\n  target: {model: openai/mock}\n" if extra.startswith("models:") else "dataset: jbb-harmful\n", "")
    message = _error(text + extra)
    assert f"\n  {expected}" in message, message


def test_secrets_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2D_TEST_DB", "mysql://me:hunter2@host/db")
    message = _error(BASE + "database: ${R2D_TEST_DB}\n")
    assert "database: names a 'mysql' database" in message and "hunter2" not in message


def test_good_database_values_parse_without_connecting() -> None:
    for value in ("results.db", "sqlite:///results.db", "postgresql://me@nowhere.invalid:5433/db", "postgres://h/db"):
        assert parse_recipe(BASE + f"database: '{value}'\n").recipe.database == value


def test_generation_overrides_are_validated_when_merged() -> None:
    params = GenerationParams()
    assert params.merged(max_tokens=10).max_tokens == 10 and params.merged() is params
    for bad in ({"temperature": -0.5}, {"max_tokens": 0}, {"top_p": 1.5}, {"colour": "red"}):
        with pytest.raises(ValueError):
            params.merged(**bad)
