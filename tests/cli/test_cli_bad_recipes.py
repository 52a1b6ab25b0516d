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
    # What a YAML file may hold: no alias bombs, no deep nesting, one encoding, no repeated keys.
    ("alias bomb", lambda t: t + f"description: {_LAUGHS}\n",
     ["not valid YAML", "expands to more than", "aliases"]),
    ("alias to itself", lambda t: t + "description: &loop [*loop]\n", ["not valid YAML", "*loop", "contains it"]),
    ("deep nesting", lambda t: t + "description: " + "[" * 5000 + "]" * 5000 + "\n",
     ["not valid YAML at line 18", "nesting is deeper than 64 levels"]),
    ("duplicate key", lambda t: t + "concurrency: 8\n", ["at line 18", "key 'concurrency' appears twice in one mapping (first at line 17)"]),
    ("latin-1 file", lambda t: (t + "description: café\n").encode("latin-1"),
     ["is not UTF-8: byte 0xe9 at line 18", "save the recipe as UTF-8"]),
    ("utf-16 file", lambda t: t.encode("utf-16"), ["is UTF-16 or UTF-32", "save the recipe as UTF-8"]),
    ("binary file", lambda t: bytes(range(256)) * 4, ["is not UTF-8: byte 0x80 at line 2"]),
    # Numbers in range, names not empty, booleans not numbers.
    ("huge seed", lambda t: t + "seed: 1000000000000000000000000000000\n",
     ["seed: Input should be less than or equal to 2147483647"]),
    ("temperature too high", lambda t: t + "generation: {temperature: 100}\n",
     ["generation.temperature: Input should be less than or equal to 2"]),
    ("negative temperature", lambda t: t + "generation: {temperature: -1}\n",
     ["generation.temperature: Input should be greater than or equal to 0"]),
    ("no tokens", lambda t: t + "generation: {max_tokens: 0}\n", ["generation.max_tokens: Input should be greater than 0"]),
    ("too many tokens", lambda t: t + "generation: {max_tokens: 1000000000000}\n",
     ["generation.max_tokens: Input should be less than or equal to 131072"]),
    ("top_p above 1", lambda t: t + "generation: {top_p: 2}\n", ["generation.top_p: Input should be less than or equal to 1"]),
    ("model generation out of range", lambda t: t.replace("max_retries: 0", "max_retries: 0\n    generation: {temperature: -1}"),
     ["models.target.generation.temperature: Input should be greater than or equal to 0"]),
    ("boolean concurrency", lambda t: t.replace("concurrency: 4", "concurrency: true"),
     ["concurrency: expected a number, not true/false"]),
    ("empty name", lambda t: t.replace("name: cli-test", "name: ''"), ["name: must not be empty"]),
    ("empty label", lambda t: t.replace("label: items", "label: ' '"), ["datasets[0].label: must not be empty"]),
    # What `run` would stumble on is found by the build `validate` shares, with the field path.
    ("repeated target", lambda t: t.replace("target: target", "target: [target, target]"),
     ["target: ['target'] appear more than once"]),
    ("empty target list", lambda t: t.replace("target: target", "target: []"), ["target: give at least one model name"]),
    ("empty attacks", lambda t: t.replace("attacks: [direct]", "attacks: []"), ["attacks: give at least one"]),
    ("empty defenses", lambda t: t.replace("defenses: [none, self-reminder]", "defenses: []"),
     ["defenses: give at least one"]),
    ("filter matches nothing", lambda t: t.replace("label: items", "label: items\n    filter: {category: [nope]}"),
     ["datasets[0].filter: {'category': ['nope']} matches none of the 60 items of 'items'"]),
    ("unknown template", lambda t: t.replace("attacks: [direct]", "attacks: [direct, {name: template, args: {template: nope}}]"),
     ["attacks[1].args: template 'nope' is neither a shipped template nor a file"]),
    ("missing rpo suffix file", lambda t: t.replace("self-reminder", "{name: rpo, args: {suffix_file: gone.txt}}"),
     ["defenses[1].args: rpo: suffix file gone.txt does not exist"]),
    ("judge model not in the recipe", lambda t: t.replace("judges: [refusal-string]", "judges: [llm-judge]"),
     ["judges[0].args: no model named 'judge' in the recipe"]),
    ("perplexity filter on an API model", lambda t: t.replace("self-reminder", "{name: perplexity-filter, args: {threshold: 3}}"),
     ["defenses[1].args: defense 'perplexity-filter' needs a local model"]),
    ("safedecoding on an API model", lambda t: t.replace("self-reminder", "{name: safedecoding, args: {expert: target}}"),
     ["defenses[1].args: defense 'safedecoding' needs a local model"]),
    ("r2d without arguments", lambda t: t.replace("self-reminder", "r2d"),
     ["defenses[1].args", "give exactly one of `checkpoint: <folder>` or `training: <name>`"]),
    ("missing local model folder", lambda t: t.replace("model: openai/mock-model", "model: local/./no-such-model"),
     ["models.target.model: folder ./no-such-model does not exist"]),
    ("database port out of range", lambda t: t + "database: postgresql://me@localhost:99999/results\n",
     ["database: has port 99999"]),
    ("database of an unsupported kind", lambda t: t + "database: mysql://me@localhost/results\n",
     ["database: names a 'mysql' database"]),
    ("empty database", lambda t: t + "database: ''\n", ["database: is empty"]),
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

# A "billion laughs" cut to 9**6 leaves, so that code without the alias budget finishes (and fails) too.
_LAUGHS = "[&l0 [" + ", ".join(["lol"] * 9) + "], " + ", ".join(
    f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 6)) + "]"


def _no_databases(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix in (".db", ".db-wal", ".sqlite")]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(("case", "breaks", "fragments"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_recipe_is_one_readable_error(case: str, breaks: Callable[[str], str | bytes], fragments: list[str],
                                          command: str, write_recipe: Callable[..., Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_recipe()
    broken = breaks(path.read_text())
    path.write_bytes(broken if isinstance(broken, bytes) else broken.encode())
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


# (case, data file name, its bytes, fragments the error must hold)
BAD_DATA = [
    ("empty csv", "items.csv", b"", ["datasets[0].args", "items.csv holds no records"]),
    ("header-only csv", "items.csv", b"id,goal,category\n", ["items.csv holds no records"]),
    ("unterminated quote", "items.csv", b'id,goal\ni1,"Explain step 1\ni2,Explain step 2\n',
     ["items.csv:2: not valid CSV from this line on", "close the quote"]),
    ("row with too many fields", "items.csv", b"id,goal\ni1,Explain, step 1\n",
     ["items.csv:2: row 1 has 3 fields, the header has 2", "quote fields that contain commas"]),
    ("latin-1 csv", "items.csv", "id,goal\ni1,café\n".encode("latin-1"), ["items.csv is not UTF-8 text (byte 0xe9"]),
    ("empty jsonl", "items.jsonl", b"\n\n", ["items.jsonl holds no records"]),
    ("jsonl line not an object", "items.jsonl", b'{"id": "i1", "goal": "x"}\n["i2", "y"]\n',
     ["items.jsonl:2 is a JSON list, not an object"]),
    ("empty json", "items.json", b"  \n", ["items.json holds no records"]),
    ("json string", "items.json", b'"just text"', ["items.json holds a JSON string, not a list of records"]),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(("case", "name", "content", "fragments"), BAD_DATA, ids=[row[0] for row in BAD_DATA])
def test_bad_data_file_is_one_readable_error(case: str, name: str, content: bytes, fragments: list[str], command: str,
                                             write_recipe: Callable[..., Path], tmp_path: Path) -> None:
    data = tmp_path / "data" / name
    data.parent.mkdir()
    data.write_bytes(content)
    path = write_recipe()
    path.write_text(path.read_text().replace(str(tmp_path / "items.jsonl"), str(data)))
    result = CliRunner().invoke(cli, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {path}: datasets[0].args: "), result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)
    assert result.output.count("error:") == 1 and result.output.count("fix:") == 1
    assert _no_databases(tmp_path) == []


def test_a_csv_with_a_byte_order_mark_reads_its_first_column(write_recipe: Callable[..., Path], tmp_path: Path) -> None:
    data = tmp_path / "items.csv"
    data.write_bytes(b"\xef\xbb\xbfid,goal\ni1,Explain step 1\ni2,Explain step 2\n")  # as Excel writes UTF-8
    path = write_recipe()
    path.write_text(path.read_text().replace("items.jsonl", "items.csv"))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0 and "items: 2 items" in result.output, result.output
