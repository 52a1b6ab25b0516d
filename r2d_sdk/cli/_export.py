"""`r2d-sdk export-artifact`: a run's prompts as a JailbreakBench artifact, to replay with `artifact`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from r2d_sdk.cli._common import db_option, friendly_errors, open_store


@click.command("export-artifact")
@click.argument("run_id")
@click.option("--attack", required=True, help="The attack's label in the recipe.")
@click.option("--judge", required=True, help="The judge whose verdict sets `jailbroken`.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Where to write the JSON.")
@click.option("--model", default=None, help="Target model name (when the run has several).")
@click.option("--defense", default=None, help="Defense label (default: the only one, else `none`).")
@click.option("--dataset", default=None, help="Dataset label (when the run has several).")
@click.option("--method", default=None, help="The artifact's method name (default: the attack plugin's name).")
@click.option("--attack-type", type=click.Choice(["black_box", "white_box", "transfer", "manual"]), default=None,
              help="Default: what the attack reported, else black_box.")
@click.option("--successful-only", is_flag=True, help="Null the prompt of items the judge saw no jailbreak for.")
@db_option
@friendly_errors
def export_artifact_command(run_id: str, attack: str, judge: str, output: Path, model: str | None,
                            defense: str | None, dataset: str | None, method: str | None, attack_type: str | None,
                            successful_only: bool, db: str | None) -> None:
    """Write RUN_ID's prompts for one attack as a JailbreakBench artifact JSON.

    Replay it against any model or defense with the `artifact` attack
    (`{name: artifact, args: {path: FILE}}`).
    """
    from r2d_sdk.report import export_artifact

    artifact = export_artifact(open_store(db, must_exist=True), run_id, attack, judge, model=model, defense=defense,
                               dataset=dataset, method=method, attack_type=attack_type,
                               successful_only=successful_only)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(artifact, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    p = artifact["parameters"]
    click.echo(f"{output}: {len(artifact['jailbreaks'])} behaviors, {p['total_number_of_jailbreaks']} jailbroken "
               f"(ASR {p['attack_success_rate']:.2f}) by {judge}; replay with "
               f"`{{name: artifact, args: {{path: {output}}}}}`")
