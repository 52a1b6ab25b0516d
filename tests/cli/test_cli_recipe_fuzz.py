"""Property: any recipe mutated from a shipped one is either valid or one clean `validate` error.

Mutations drop, duplicate and retype keys, put numbers out of range, swap in unicode text, nest
deeply, share values through YAML aliases (up to an alias bomb) and change the file's encoding.
Whatever comes out, `r2d-sdk validate` exits 0 or 2, prints at most one `error:` that names the
file and the field (or line), no traceback, writes nothing beside the recipe, and answers in
bounded time. Derandomized, so the suite sees the same examples on every run.
"""

from __future__ import annotations

import copy
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2d_sdk.cli import cli

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("R2D_TEST_DATA_DIR", REPO.parent / "shared" / "data"))  # as tests/conftest.py
RECIPES = {path.name: yaml.safe_load(path.read_text())
           for path in sorted((REPO / "recipes").glob("*.yaml"))}

# After "error: <file>", what a clean error goes on with: the schema's field list, the YAML line,
# the encoding, or the build's field path.
CLEAN_ERROR = re.compile(
    r" is not a valid recipe:\n  \S"
    r"| is not valid YAML"
    r"| is not UTF-8| is UTF-16"
    r"| must be a YAML mapping"
    r"|: (models|target|datasets|attacks|defenses|judges|metrics|generation|train|distill|database|serve|executor)\b")

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([0, -1, 10**12, 1e30, 2.5, "", " ", "\u202e\u0000", "日本語", "${R2D_FUZZ_UNSET}", "true"]),
)

EDGE_NUMBERS = [-1, 0, 1, 2, 2.0000001, 1.0000001, -0.0, 2**31 - 1, 2**31, 2**63, 10**30, 1e308, 131_073, 4097, 0.5]


def _paths(tree: Any, prefix: tuple[Any, ...] = (), seen: set[int] | None = None) -> list[tuple[Any, ...]]:
    """Every key path in a YAML tree (mapping keys and list indexes), each shared object walked once:
    after a "share" or "bomb" mutation the tree is a graph, and walking it as a tree never ends."""
    seen = set() if seen is None else seen
    if id(tree) in seen:
        return []
    seen.add(id(tree))
    found = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key), seen))
    return found


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


@st.composite
def mutated_tree(draw: st.DrawFn) -> Any:
    tree = copy.deepcopy(RECIPES[draw(st.sampled_from(sorted(RECIPES)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(tree, path), path[-1]
        how = draw(st.sampled_from(["drop", "retype", "retype", "edge", "copy", "nest", "share", "bomb"]))
        if how == "drop":
            del parent[key]
        elif how == "retype":
            parent[key] = draw(ODD_VALUES)
        elif how == "edge":  # a number just past a bound, or a string of any unicode
            value = parent[key]
            if isinstance(value, str):
                parent[key] = draw(st.text(min_size=0, max_size=40))
            else:
                parent[key] = draw(st.sampled_from(EDGE_NUMBERS))
        elif how == "copy":  # the value somewhere else too, or a list item twice
            other = _parent(tree, draw(st.sampled_from(paths)))
            if isinstance(other, dict):
                other[draw(st.sampled_from([str(key), "name", "label", "extra"]))] = copy.deepcopy(parent[key])
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
        elif how == "nest":
            value: Any = parent[key]
            for _ in range(draw(st.sampled_from([3, 40, 70, 300]))):
                value = [value]
            parent[key] = value
        elif how == "share":  # the same object twice: yaml.dump writes an anchor and an alias
            parent[key] = _parent(tree, draw(st.sampled_from(paths)))
        else:  # a billion laughs, as aliases
            laughs: Any = ["lol"] * 9
            for _ in range(draw(st.integers(2, 9))):
                laughs = [laughs] * 9
            parent[key] = laughs
    return tree


@st.composite
def recipe_bytes(draw: st.DrawFn) -> bytes:
    tree = draw(mutated_tree())
    try:
        text = yaml.dump(tree, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, ValueError):
        text = "name: [unclosed\n"
    lines = text.splitlines(keepends=True)
    if lines and draw(st.integers(0, 4)) == 0:  # a key line given twice
        line = draw(st.sampled_from(lines))
        lines.insert(lines.index(line) + 1, line)
    text = "".join(lines)
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["utf-8-sig", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 9)) == 0:
        data += draw(st.binary(max_size=16))
    return data


@pytest.fixture
def fuzz_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if SHARED_DATA.exists():  # without the data, dataset recipes are rejected: still clean errors
        monkeypatch.setenv("R2D_DATA_DIR", str(SHARED_DATA))
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    monkeypatch.setenv("R2D_CHECKPOINT", str(checkpoint))
    monkeypatch.delenv("R2D_FUZZ_UNSET", raising=False)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the example after `seconds`: a hang (an alias bomb expanded) fails instead of blocking.
    The deadline below only judges examples that finish."""

    def interrupt(signum: int, frame: Any) -> None:
        raise TimeoutError(f"validate ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@settings(max_examples=int(os.environ.get("R2D_FUZZ_EXAMPLES", 200)), deadline=5000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=recipe_bytes())
def test_a_mutated_recipe_is_valid_or_one_clean_error(data: bytes, fuzz_env: None, tmp_path: Path) -> None:
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as folder:
        path = Path(folder) / "recipe.yaml"
        path.write_bytes(data)
        with time_limit(10):
            result = runner.invoke(cli, ["validate", str(path)])
        left = sorted(os.listdir(folder))
    output = result.output
    assert result.exit_code in (0, 2), (result.exit_code, output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    assert left == ["recipe.yaml"], left  # nothing written: no database, no lock, no cache
    if result.exit_code == 0:
        assert output.startswith(f"{path}: valid."), output
    else:
        assert output.startswith(f"error: {path}"), output
        assert output.count("error:") == 1 and output.count("fix:") == 1, output
        assert CLEAN_ERROR.match(output, len(f"error: {path}")), output
