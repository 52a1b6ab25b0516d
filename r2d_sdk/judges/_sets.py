"""Calibration sets: human-labelled (request, response, jailbroken?) rows a judge is measured on.

The built-in set is JailbreakBench's judge comparison, read from the installed `jailbreakbench`
package by path (never imported): 100 rows of goal, attack prompt, target response, three
human labels and their majority (`human_majority`, 1 = jailbroken). Any CSV, JSON or JSONL file
works the same way once its columns are named (`ColumnMapping`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from r2d_sdk._errors import ConfigError
from r2d_sdk.data import DataSource, read_table, resolve_data_file

# Label values read as jailbroken / not jailbroken (compared trimmed and lower-cased).
JAILBROKEN_VALUES = ("1", "1.0", "true", "yes", "unsafe", "jailbroken")
SAFE_VALUES = ("0", "0.0", "false", "no", "safe", "not jailbroken", "not_jailbroken")


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a file hold what, and which label values mean jailbroken.

    Attributes:
        request: what the judge is told was asked (a behavior's goal).
        response: the answer to judge.
        label: the human label.
        prompt: the attack prompt as sent, when the file has it (judges asked for the prompt
            rather than the goal see it); None: the request.
        jailbroken_values: label values meaning jailbroken.
        safe_values: label values meaning not jailbroken.
    """

    request: str = "request"
    response: str = "response"
    label: str = "label"
    prompt: str | None = None
    jailbroken_values: tuple[str, ...] = JAILBROKEN_VALUES
    safe_values: tuple[str, ...] = SAFE_VALUES


@dataclass(frozen=True)
class BuiltinSet:
    source: DataSource
    columns: ColumnMapping
    description: str


BUILTIN_SETS: dict[str, BuiltinSet] = {
    "jbb-judge-comparison": BuiltinSet(
        DataSource("jbb-judge-comparison",
                   package=("jailbreakbench", "jailbreakbench/data/classifier_comparison.csv")),
        ColumnMapping(request="goal", response="target_response", label="human_majority", prompt="prompt"),
        "JailbreakBench's judge comparison (jailbreakbench 0.1.3, MIT): 100 responses, majority of three human "
        "labels, 43 jailbroken",
    ),
}
DEFAULT_SET = "jbb-judge-comparison"


@dataclass(frozen=True)
class LabelledRow:
    """One row of a calibration set; `index` is its position in the file (from 0)."""

    index: int
    request: str
    prompt: str
    response: str
    jailbroken: bool


@dataclass(frozen=True)
class CalibrationSet:
    """The rows a judge is calibrated on, where they came from, and a hash of their content."""

    name: str
    path: Path
    columns: ColumnMapping
    rows: list[LabelledRow] = field(default_factory=list)

    @property
    def hash(self) -> str:
        """sha256 of what the judges see and are scored against: request, prompt, response, label."""
        content = [[r.request, r.prompt, r.response, r.jailbroken] for r in self.rows]
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()

    @property
    def jailbroken(self) -> int:
        return sum(1 for r in self.rows if r.jailbroken)


def load_calibration_set(name_or_file: str | Path | None = None, request: str | None = None,
                         response: str | None = None, label: str | None = None, prompt: str | None = None,
                         jailbroken_values: tuple[str, ...] | None = None,
                         safe_values: tuple[str, ...] | None = None) -> CalibrationSet:
    """A built-in set by name (default `jbb-judge-comparison`) or a CSV/JSON/JSONL file.

    Columns given replace the built-in set's (`request="prompt"` shows judges the attack
    prompt as the request); a file's columns default to `request`, `response` and `label`.

    Raises:
        ConfigError: the file is missing or malformed, a named column is absent, or a label
            value is neither jailbroken nor safe (naming the row and the fix).
    """
    chosen = str(name_or_file) if name_or_file is not None else DEFAULT_SET
    if chosen in BUILTIN_SETS:
        builtin = BUILTIN_SETS[chosen]
        path, base, name = resolve_data_file(builtin.source), builtin.columns, chosen
    else:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ConfigError(f"calibration set '{chosen}' is neither a built-in set ({', '.join(BUILTIN_SETS)}) "
                              "nor a file", fix="give a built-in set's name or the path of a CSV, JSON or JSONL "
                                                "file with request, response and label columns")
        base, name = ColumnMapping(), str(path)
    overrides: dict[str, Any] = {k: v for k, v in (("request", request), ("response", response), ("label", label),
                                   ("prompt", prompt), ("jailbroken_values", jailbroken_values),
                                   ("safe_values", safe_values)) if v is not None}
    columns = replace(base, **overrides)
    return CalibrationSet(name, path, columns, _rows(path, columns))


def _rows(path: Path, columns: ColumnMapping) -> list[LabelledRow]:
    records = read_table(path)
    needed = [c for c in (columns.request, columns.response, columns.label, columns.prompt) if c is not None]
    missing = [c for c in needed if c not in records[0]]
    if missing:
        flags = {columns.request: "--request-column", columns.response: "--response-column",
                 columns.label: "--label-column", columns.prompt: "--prompt-column"}
        raise ConfigError(f"{path} has no column {', '.join(repr(c) for c in missing)} (its columns: "
                          f"{', '.join(repr(c) for c in records[0])})",
                          fix="name the columns with " + ", ".join(f"{flags[c]} NAME" for c in missing))
    jailbroken = {v.strip().lower() for v in columns.jailbroken_values}
    safe = {v.strip().lower() for v in columns.safe_values}
    clash = sorted(jailbroken & safe)
    if clash:
        raise ConfigError(f"label values {clash} are listed as both jailbroken and safe",
                          fix="give each value to --jailbroken-value or --safe-value, not both")
    rows = []
    for index, record in enumerate(records):
        where = f"{path}: record {index + 1}"
        for column in needed:
            if column not in record or record[column] is None:
                raise ConfigError(f"{where} has no value in column '{column}'",
                                  fix="give every row a request, a response and a label")
        request_text = _text(record[columns.request], where, columns.request)
        rows.append(LabelledRow(
            index=index, request=request_text,
            prompt=_text(record[columns.prompt], where, columns.prompt) if columns.prompt else request_text,
            response=_text(record[columns.response], where, columns.response),
            jailbroken=_label(record[columns.label], where, columns.label, jailbroken, safe)))
    return rows


def _text(value: Any, where: str, column: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: column '{column}' holds {type(value).__name__} {value!r}, not text",
                          fix=f"make '{column}' a text column")
    return value


def _label(value: Any, where: str, column: str, jailbroken: set[str], safe: set[str]) -> bool:
    """True for jailbroken, False for safe; JSON booleans and 0/1 numbers read as such."""
    text = str(value).strip().lower()
    if isinstance(value, bool):
        text = "true" if value else "false"
    if text in jailbroken:
        return True
    if text in safe:
        return False
    raise ConfigError(f"{where}: label column '{column}' holds {value!r}, which is neither jailbroken "
                      f"({', '.join(sorted(jailbroken))}) nor safe ({', '.join(sorted(safe))})",
                      fix="map the file's values with --jailbroken-value VALUE and --safe-value VALUE "
                          "(each may be repeated), or fix the row")
