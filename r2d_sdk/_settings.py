"""Settings from the environment (prefix R2D_). Read when used, so tests can monkeypatch."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE_FILE = "r2d-results.db"


def data_dir() -> Path | None:
    """`R2D_DATA_DIR`: a folder laid out like the benchmark data snapshot (jbb-behaviors/, xstest/, ...)."""
    value = os.environ.get("R2D_DATA_DIR")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """`R2D_CACHE_DIR`: converted model weights and other derived files (default ~/.cache/r2d-sdk)."""
    value = os.environ.get("R2D_CACHE_DIR")
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "r2d-sdk"
    return path


def database_url(cli_value: str | None = None, recipe_value: str | None = None) -> str:
    """Where results go: --db, then R2D_DATABASE_URL, then the recipe, then ./r2d-results.db.

    A bare path is taken as a SQLite file.
    """
    value = cli_value or os.environ.get("R2D_DATABASE_URL") or recipe_value or DEFAULT_DATABASE_FILE
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    return value


def hub_allowed() -> bool:
    """False when the user switched the Hugging Face hub off (HF_HUB_OFFLINE=1)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("1", "true", "yes")
