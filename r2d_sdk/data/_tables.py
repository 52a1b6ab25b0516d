"""Read CSV / JSON / JSONL tables into lists of dicts, with errors that name the file."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from r2d_sdk._errors import ConfigError


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a .csv, .json (a list, or a dict with one list) or .jsonl file."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                return list(csv.DictReader(handle))
        if suffix == ".jsonl":
            rows = []
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as error:
                            raise ConfigError(f"{path}:{number} is not valid JSON: {error.msg}",
                                              fix="each line of a .jsonl file must be one JSON object") from None
            return rows
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                lists = [v for v in data.values() if isinstance(v, list)]
                if len(lists) == 1:
                    data = lists[0]
            if not isinstance(data, list):
                raise ConfigError(f"{path} holds no list of records", fix="give a JSON list of objects")
            return data
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON: {error.msg} (line {error.lineno})",
                          fix="fix the file or convert it to CSV/JSONL") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", fix="convert the file to UTF-8") from None
    raise ConfigError(f"{path}: unsupported file type '{suffix}'", fix="use .csv, .json or .jsonl")
