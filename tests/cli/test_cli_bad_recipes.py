"""A bad recipe: one readable error naming the file, field path and expectation; exit 2; nothing written."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from r2d_sdk.cli import cli

# (case, how to break the good recipe, fragments the error must hold)
BAD = [
    ("unknown field", lambda t: t + "concurrancy: 3\n", ["concurrancy: unknown field", "expected one of", "concurrency"]),
    ("unknown nested field", lambda t: t.replace("max_retries: 0", "max_retrys: 0"),
     ["models.target.max_retrys: unknown field", "max_retries"]),
    ("wrong type", lambda t: t.replace("concurrency: 4", "concurrency: lots"),
     ["concurrency:", "valid integer", "'lots'"]),
    ("missing required", lambda t: t.replace("judges: [refusal-string]\n", ""), ["judges: required field is missing"]),
    ("bad yaml", lambda t: t + "attacks: [direct\n", ["not valid YAML", "line"]),
    ("unknown plugin", lambda t: t.replace("attacks: [direct]", "attacks: [direct, nope-attack]"),
     ["attacks[1].name", "unknown attack 'nope-attack'", "plugins list"]),
    ("bad plugin args", lambda t: t.replace("defenses: [none, self-reminder]",
                                            "defenses: [{name: self-reminder, args: {strength: 3}}]"),
     ["defenses[0].args", "self-reminder", "strength", "plugins info self-reminder"]),
    ("missing env", lambda t: t + "database: ${R2D_TEST_UNSET_VARIABLE}\n",
     ["database uses ${R2D_TEST_UNSET_VARIABLE}", "export R2D_TEST_UNSET_VARIABLE"]),
    ("missing data file", lambda t: t.replace("items.jsonl", "gone.jsonl"), ["gone.jsonl does not exist"]),
    ("deployments of a local model", lambda t: t.replace("    max_retries: 0\n", "    max_retries: 0\n"
                                                          "    deployments: [{model: local/smollm2}]\n"),
     ["models.target", "local/smollm2 runs in this process", "hosted_vllm"]),
    ("routing without deployments", lambda t: t.replace("    max_retries: 0\n", "    max_retries: 0\n"
                                                         "    routing: {strategy: least-busy}\n"),
     ["models.target", "routing: applies to a model with `deployments:`"]),
    ("unknown routing strategy", lambda t: t.replace("    max_retries: 0\n", "    max_retries: 0\n"
                                                      "    deployments: [{api_base: 'http://a:1/v1'}]\n"
                                                      "    routing: {strategy: round-robin}\n"),
     ["models.target.routing.strategy", "round-robin", "least-busy"]),
    ("two deployments of one name", lambda t: t.replace("    max_retries: 0\n", "    max_retries: 0\n"
                                                         "    deployments: [{api_base: 'http://a:1/v1'}, "
                                                         "{api_base: 'http://a:1/v1'}]\n"),
     ["models.target", "name more than one deployment", "distinct `name`"]),
]


def _no_databases(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix in (".db", ".db-wal", ".sqlite")]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(("case", "breaks", "fragments"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_recipe_is_one_readable_error(case: str, breaks: Callable[[str], str], fragments: list[str],
                                          command: str, write_recipe: Callable[..., Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_recipe()
    path.write_text(breaks(path.read_text()))
    monkeypatch.delenv("R2D_TEST_UNSET_VARIABLE", raising=False)
    result = CliRunner().invoke(cli, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {path}"), result.output  # names the file first
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)
    assert result.output.count("error:") == 1 and result.output.count("fix:") == 1
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert _no_databases(tmp_path) == []  # not even an empty database file


def test_nothing_is_written_to_an_existing_database(write_recipe: Callable[..., Path], tmp_path: Path) -> None:
    good = write_recipe(items=1)
    assert CliRunner().invoke(cli, ["run", str(good), "--db", "r.db", "--quiet"]).exit_code == 0
    bad = write_recipe(attacks="[nope-attack]", name="bad.yaml")
    assert CliRunner().invoke(cli, ["run", str(bad), "--db", "r.db"]).exit_code == 2
    listing = CliRunner().invoke(cli, ["sql", "SELECT COUNT(*) AS n FROM runs", "--db", "r.db", "--format", "csv"])
    assert listing.output.split() == ["n", "1"]


def test_missing_recipe_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "nowhere.yaml"])
    assert result.exit_code == 2 and "nowhere.yaml does not exist" in result.output


def test_exit_codes_in_a_real_process(write_recipe: Callable[..., Path], r2d_sdk_exe: str, tmp_path: Path,
                                      subprocess_env: dict[str, str]) -> None:
    good = write_recipe(items=3)
    valid = subprocess.run([r2d_sdk_exe, "validate", str(good)], capture_output=True, text=True, env=subprocess_env,
                           timeout=60)
    assert valid.returncode == 0 and "valid" in valid.stdout and "items: 3 items" in valid.stdout, valid.stderr
    bad = write_recipe(name="bad.yaml", extra="seed: [1, 2]\n")
    failed = subprocess.run([r2d_sdk_exe, "run", str(bad)], capture_output=True, text=True, env=subprocess_env,
                            timeout=60)
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"error: {bad} is not a valid recipe") and "seed:" in failed.stderr
    assert "Traceback" not in failed.stderr and failed.stdout == ""
    assert _no_databases(tmp_path) == []


def test_train_limit_needs_run_and_a_bad_grid_fails_before_training(write_recipe: Callable[..., Path],
                                                                      tmp_path: Path) -> None:
    path = write_recipe()
    result = CliRunner().invoke(cli, ["train", str(path), "--limit", "1"])
    assert result.exit_code == 2 and "--limit applies to the evaluation: add --run" in result.output
    # With --run the evaluation grid is checked first: a broken grid costs no training.
    bad = write_recipe(attacks="[nope-attack]", name="bad.yaml")
    result = CliRunner().invoke(cli, ["train", str(bad), "--run", "--limit", "1"])
    assert result.exit_code == 2 and "unknown attack 'nope-attack'" in result.output, result.output
    assert _no_databases(tmp_path) == []
