"""Read a recipe file: YAML, `${ENV}` expansion, validation with file and field-path errors."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from r2d_sdk._errors import ConfigError
from r2d_sdk.recipe._schema import Recipe
from r2d_sdk.recipe._yaml import RecipeYAMLError, load_yaml

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LoadedRecipe:
    """A validated recipe with the text it came from (stored as written: secrets stay `${VAR}`)."""

    recipe: Recipe
    text: str
    path: Path | None

    @property
    def hash(self) -> str:
        """Hash of the recipe as written: resume refuses when it changed."""
        return hashlib.sha256(self.text.encode()).hexdigest()


def expand_env(value: Any, where: str, path: str = "") -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string; a missing variable is an error."""
    if isinstance(value, dict):
        return {k: expand_env(v, where, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: {path} uses ${{{name}}}, which is not set",
                          fix=f"export {name}=... before running, or write ${{{name}:-default}}")

    return _ENV_REFERENCE.sub(substitute, value)


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The field names the recipe schema allows where `loc` points (for 'unknown field' hints)."""
    annotation: Any = Recipe
    for part in loc[:-1]:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _step(annotation: Any, part: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    if origin in (Union, UnionType):  # e.g. `str | list[str]`: follow the member that has structure
        for member in args:
            found = _step(member, part)
            if found is not None:
                return found
    return None


SECRET_FIELDS = ("api_key", "database", "api_base")
MAX_SHOWN = 10  # problems listed in one error; the rest are counted


def _short(value: Any) -> str:
    # A fuzzed or generated value can be huge; the message needs only its start.
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _format_errors(error: ValidationError, where: str) -> str:
    lines = []
    problems = error.errors()
    for item in problems[:MAX_SHOWN]:
        loc = tuple(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping's key is wrong, not its value
            loc, message = loc[:-2], f"the key {loc[-2]!r} {message}"
        location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        if item["type"] == "extra_forbidden":
            allowed = _fields_at(tuple(item["loc"]))
            message = "unknown field" + (f"; expected one of: {', '.join(allowed)}" if allowed else "")
        elif item["type"] == "missing":
            message = "required field is missing"
        got = item.get("input")
        # Never echo what may hold a secret once `${VAR}` is expanded: a key, a URL with a password.
        secret = bool(item["loc"]) and item["loc"][-1] in SECRET_FIELDS
        hidden = secret or item["type"] in ("missing", "extra_forbidden") or isinstance(got, dict)
        shown = "" if hidden else f" (got {_short(got)})"
        # Cross-field checks have no location; their message starts with the field it is about.
        lines.append(f"  {location}: {message}{shown}" if location else f"  {message}")
    if len(problems) > MAX_SHOWN:
        lines.append(f"  ... and {len(problems) - MAX_SHOWN} more")
    return f"{where} is not a valid recipe:\n" + "\n".join(lines)


def parse_recipe(text: str, where: str = "<recipe>", path: Path | None = None) -> LoadedRecipe:
    """Validate recipe text. Raises ConfigError naming the file, field path and expectation."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        fix = error.fix if isinstance(error, RecipeYAMLError) else "fix the YAML syntax (indentation, quotes, colons)"
        raise ConfigError(f"{where} is not valid YAML{at}: {getattr(error, 'problem', None) or error}",
                          fix=fix) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a YAML mapping with models, datasets, judges, ...",
                          fix="see docs/recipes.md or recipes/jbb.yaml for the shape")
    data = expand_env(data, where)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, where),
                          fix="see docs/recipes.md for every field; `r2d-sdk validate` checks a recipe") from None
    return LoadedRecipe(recipe, text, path)


def load_recipe(path: str | Path) -> LoadedRecipe:
    """Read and validate a recipe file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"recipe file {path} does not exist", fix="check the path (recipes/ holds the shipped ones)") from None
    except IsADirectoryError:
        raise ConfigError(f"recipe {path} is a folder, not a file", fix="give the path of a .yaml file") from None
    except OSError as error:
        raise ConfigError(f"cannot read recipe {path}: {error.strerror}", fix="check the file's permissions") from None
    return parse_recipe(decode_recipe(data, str(path)), str(path), path)


def decode_recipe(data: bytes, where: str) -> str:
    """A recipe file's text: UTF-8 (a leading byte-order mark is dropped), nothing else.

    YAML also allows UTF-16 and UTF-32, but a recipe is stored and hashed as text, and one
    encoding everywhere keeps `--resume`'s hash check meaningful.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        kind = "UTF-16 or UTF-32 (it starts with a byte-order mark)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") \
            else f"not UTF-8: byte 0x{data[error.start]:02x} at line {line} cannot be decoded"
        raise ConfigError(f"{where} is {kind}", fix="save the recipe as UTF-8 text "
                                                     "(e.g. `iconv -f latin1 -t utf-8 old.yaml > new.yaml`)") from None
