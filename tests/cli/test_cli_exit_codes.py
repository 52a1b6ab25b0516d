"""`r2d-sdk run` says by its exit status how the run went: 3 when samples or judgments ended in error
(with the count and the first error), 0 with `--allow-errors` unless nothing scored, 2 for bad options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import r2d_sdk
from r2d_sdk.cli import cli


def _target(failures: str) -> str:
    """A scripted target answering in turn with the given failure pattern (null answers)."""
    return (f"  target:\n    model: mock/target\n    max_retries: 0\n"
            f"    mock: {{replies: ['Sure, here is how.'], failures: {failures}}}\n")


def test_a_run_whose_every_sample_failed_exits_3_with_the_count_and_first_error(
        write_recipe: Callable[..., Path]) -> None:
    recipe = write_recipe(items=4, models=_target("[auth]"), defenses="[none]", concurrency=1)
    result = CliRunner().invoke(cli, ["run", str(recipe), "--db", "r.db", "--quiet"])
    assert result.exit_code == 3, result.output
    assert "samples: 4 error" in result.output  # the summary is still printed
    error = next(line for line in result.output.splitlines() if line.startswith("error: "))
    assert "4 of 4 samples failed; nothing was scored; the first: " in error
    assert "AuthenticationError" in error and "mock failure: auth" in error
    assert "fix: check the model string" in result.output  # the failed call's own fix comes first
    assert "see every error with r2d-sdk sql" in result.output and f"--db {Path.cwd() / 'r.db'}" in result.output
    assert "--allow-errors" in result.output
    assert "Traceback" not in result.output
    # Accepting errors does not accept a run that measured nothing.
    allowed = CliRunner().invoke(cli, ["run", str(recipe), "--db", "r.db", "--quiet", "--allow-errors"])
    assert allowed.exit_code == 3 and "nothing was scored" in allowed.output


def test_some_failed_samples_exit_3_unless_errors_are_allowed(write_recipe: Callable[..., Path]) -> None:
    recipe = write_recipe(items=4, models=_target("[null, rate_limit]"), defenses="[none]", concurrency=1)
    strict = CliRunner().invoke(cli, ["run", str(recipe), "--db", "strict.db", "--quiet"])
    assert strict.exit_code == 3, strict.output
    assert "error: run " in strict.output and "2 of 4 samples failed; the first: " in strict.output
    assert "RateLimitError" in strict.output and "nothing was scored" not in strict.output
    allowed = CliRunner().invoke(cli, ["run", str(recipe), "--db", "allowed.db", "--quiet", "--allow-errors"])
    assert allowed.exit_code == 0, allowed.output
    assert "samples: 2 error, 2 ok" in allowed.output and "error:" not in allowed.output


def test_a_clean_run_exits_0(write_recipe: Callable[..., Path]) -> None:
    result = CliRunner().invoke(cli, ["run", str(write_recipe(items=2)), "--db", "r.db", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "error:" not in result.output


def test_a_limit_or_concurrency_below_one_is_bad_input_and_writes_nothing(write_recipe: Callable[..., Path]) -> None:
    recipe = write_recipe(items=2)
    for option in ("--limit", "--concurrency"):
        result = CliRunner().invoke(cli, ["run", str(recipe), "--db", "r.db", option, "0", "--quiet"])
        assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output
    with pytest.raises(r2d_sdk.ConfigError) as raised:
        r2d_sdk.evaluate(recipe, db="r.db", concurrency=0)  # before: a "completed" run with no sample
    assert "concurrency must be a whole number of at least 1" in raised.value.message
    assert not Path("r.db").exists()
