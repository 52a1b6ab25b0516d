"""`plugins list/info` (a broken third-party plugin is shown, not fatal), `run`, `runs list`, `runs show`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner
from rich.console import Console

from r2d_sdk.cli import cli
from r2d_sdk.report import metrics_table


def _broken_plugin(site: Path) -> None:
    """A dist-info with an entry point in the r2d_sdk.plugins group whose module fails to import."""
    info = site / "broken_r2d_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-r2d-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[r2d_sdk.plugins]\nbroken = broken_r2d_plugin\n")
    (site / "broken_r2d_plugin.py").write_text(
        "raise ImportError('broken_r2d_plugin needs frobnicate [extra], which is not installed')\n")


def test_plugins_list_shows_a_broken_plugin_instead_of_crashing(tmp_path: Path, r2d_sdk_exe: str,
                                                                 subprocess_env: dict[str, str]) -> None:
    _broken_plugin(tmp_path / "site")
    env = {**subprocess_env, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run([r2d_sdk_exe, "plugins", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "failed to load plugin broken (broken_r2d_plugin)" in result.stdout
    assert "ImportError: broken_r2d_plugin needs frobnicate [extra], which is not installed" in result.stdout
    assert "refusal-string" in result.stdout and "self-reminder" in result.stdout  # the built-ins still load
    assert "Traceback" not in result.stdout + result.stderr


def test_plugins_info() -> None:
    result = CliRunner().invoke(cli, ["plugins", "info", "refusal-string"])
    assert result.exit_code == 0, result.output
    assert "refusal-string" in result.output and "prefixes" in result.output and "min_words" in result.output
    unknown = CliRunner().invoke(cli, ["plugins", "info", "no-such-plugin"])
    assert unknown.exit_code == 2 and "no plugin named 'no-such-plugin'" in unknown.output
    assert "plugins list" in unknown.output


def test_run_then_runs_list_and_show(write_recipe: Callable[..., Path], tmp_path: Path) -> None:
    attacks = "[direct, {name: artifact, label: gone, args: {path: no/such.json, if_missing: skip}}]"
    recipe = write_recipe(items=3, attacks=attacks)
    ran = CliRunner().invoke(cli, ["run", str(recipe), "--db", "r.db", "--quiet"])
    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    run_id = lines[0].split()[1].rstrip(":")
    assert f"run {run_id}: completed" in lines[0]
    # The metrics table: up to the next table (defense costs, when defenses are compared) or the counts.
    end = next(i for i, line in enumerate(lines) if line.startswith("samples:") or "defense cost" in line)
    table = lines[:end]
    assert all(len(line) <= 80 for line in table), "\n".join(table)
    assert "…" not in "\n".join(table)  # nothing truncated
    # One dataset, label, model and judge: said once in the title, not repeated as columns.
    assert "dataset items, label harmful, model target, judge refusal-string" in ran.output
    header = next(line for line in table if "attack" in line)
    assert header.split() == ["attack", "defense", "metric", "value", "95%", "CI", "n", "scored"]
    assert "samples: 6 ok" in ran.output and "skipped attack gone:" in ran.output
    assert f"asr_by_cell WHERE run_id = '{run_id}'" in ran.output

    listed = CliRunner().invoke(cli, ["runs", "list", "--db", "r.db"])
    assert listed.exit_code == 0 and run_id in listed.output and "completed" in listed.output
    shown = CliRunner().invoke(cli, ["runs", "show", "latest", "--db", "r.db"])
    assert shown.exit_code == 0, shown.output
    assert f"run {run_id}" in shown.output and "samples: 6 ok" in shown.output and "git " in shown.output
    assert "self-reminder" in shown.output and "refusal-rate" in shown.output
    missing = CliRunner().invoke(cli, ["runs", "show", "nope", "--db", "r.db"])
    assert missing.exit_code == 1 and "no run 'nope'" in missing.output


def test_summary_shows_varying_columns_and_not_scored_counts() -> None:
    def row(model: str, value: float | None, n: int, errors: int) -> SimpleNamespace:
        return SimpleNamespace(dataset="jbb-harmful", item_label="harmful", model=model, attack="direct",
                               defense="self-reminder", judge="refusal-string", metric="asr", value=value,
                               ci_low=None if value is None else 0.5, ci_high=None if value is None else 0.9, n=n,
                               extra_json={"errors": errors, "unscorable": 1})

    console = Console(width=80, record=True)
    console.print(metrics_table([row("smollm2", 0.75, 8, 0), row("broken-api", None, 0, 9)], "run x"))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "attack" in line)
    assert header.split() == ["model", "attack", "defense", "metric", "value", "95%", "CI", "n", "scored"]
    assert "dataset jbb-harmful, label harmful, judge refusal-string" in text
    broken = next(line for line in text.splitlines() if "broken-api" in line)
    assert broken.split()[-4:] == ["-", "-", "0", "10"]  # no value, and 9 errors + 1 unscorable not scored
    assert all(len(line) <= 80 for line in text.splitlines())
