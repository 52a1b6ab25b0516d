"""Read CSV / JSON / JSONL tables into lists of dicts, with errors that name the file, the row and the fix.

CSV goes through the standard library's reader, set up for the ways a hand-made file breaks:
`utf-8-sig` drops the byte-order mark spreadsheet programs write (else the first column is
named "\\ufeffgoal"), and `strict=True` makes an unterminated quote an error instead of a field
that swallows the rest of the file. pandas would do as well but is no dependency of the SDK.
Every table must hold at least one record: an empty one would run a grid of nothing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from r2d_sdk._errors import ConfigError


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a .csv, .json (a list, or a dict with one list) or .jsonl file.

    Raises:
        ConfigError: the file is empty, not UTF-8, malformed, or holds something other than
            records (objects); the message names the file and the line or record.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {".csv": _read_csv, ".jsonl": _read_jsonl, ".json": _read_json}
    if suffix not in readers:
        raise ConfigError(f"{path}: unsupported file type '{suffix}'", fix="use .csv, .json or .jsonl")
    try:
        rows = readers[suffix](path)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start})",
                          fix="convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}", fix="check the path and its permissions") from None
    if not rows:
        raise ConfigError(f"{path} holds no records", fix="add at least one row, or point the recipe at another file")
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, strict=True)
        started = 1  # the line the record being read starts on: where an open quote began
        try:
            header = next(reader, None)
            if header is None:
                return []
            _check_header(path, header)
            rows: list[dict[str, Any]] = []
            while True:
                started = reader.line_num + 1
                fields = next(reader, None)
                if fields is None:
                    break
                if not fields:
                    continue  # a blank line
                if len(fields) != len(header):
                    raise ConfigError(f"{path}:{reader.line_num}: row {len(rows) + 1} has {len(fields)} fields, "
                                      f"the header has {len(header)}", fix="quote fields that contain commas, and give every "
                                                               "row one value per column")
                rows.append(dict(zip(header, fields, strict=True)))
        except csv.Error as error:
            raise ConfigError(f"{path}:{started}: not valid CSV from this line on ({error})",
                              fix="close the quote that is left open (a \" inside a field is written \"\")") from None
    return rows


def _check_header(path: Path, header: list[str]) -> None:
    # An unnamed column is allowed: it is how pandas writes its index (JailbreakBench's behaviors.csv).
    names = [name.strip() for name in header if name.strip()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{path}: the header names {', '.join(repeated)} more than once",
                          fix="give every column its own name")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ConfigError(f"{path}:{number} is not valid JSON: {error.msg}",
                                      fix="each line of a .jsonl file must be one JSON object") from None
                rows.append(_record(record, f"{path}:{number}"))
    return rows


def _read_json(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON: {error.msg} (line {error.lineno})",
                          fix="fix the file or convert it to CSV/JSONL") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
    if not isinstance(data, list):
        raise ConfigError(f"{path} holds a JSON {_kind(data)}, not a list of records",
                          fix="give a JSON list of objects (or an object with one such list)")
    return [_record(record, f"{path}: record {number}") for number, record in enumerate(data)]


def _record(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} is a JSON {_kind(value)}, not an object",
                          fix="each record must be an object mapping column names to values")
    return value


def _kind(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
