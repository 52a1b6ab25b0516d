"""Write a report file: read every run, render, then write at once (nothing is written on an error)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r2d_sdk._errors import ConfigError
from r2d_sdk.report._bundle import require_charts
from r2d_sdk.report._compare import compare_runs
from r2d_sdk.report._run_data import collect

FORMATS = ("html", "md")


@dataclass
class Written:
    path: Path
    bytes: int
    image: Path | None
    runs: list[str]


def _atomic_write(path: Path, data: bytes) -> None:
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _output_path(output: Path | None, first_run: str, fmt: str) -> Path:
    path = output if output is not None else Path(f"r2d-report-{first_run}.{fmt}")
    if path.is_dir():
        raise ConfigError(f"{path} is a folder", fix=f"give a file name, e.g. -o {path / f'report.{fmt}'}")
    if not path.parent.exists():
        raise ConfigError(f"the folder {path.parent} does not exist", fix=f"create it first: mkdir -p {path.parent}")
    return path


def write_report(store: Any, run_ids: list[str], output: Path | None = None, fmt: str = "html",
                 max_samples: int = 1000) -> Written:
    """Write the report of one or more runs (ids or 'latest'); with two runs it includes their comparison.

    Raises:
        ConfigError: an unknown format, a run named twice, an output path that cannot be written.
        R2DError: an unknown run id.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown report format '{fmt}'", fix="use --format html or --format md")
    if not run_ids:
        raise ConfigError("no run to report on", fix="name a run id, or `latest`")
    require_charts()
    runs = [store.get_run(run_id).id for run_id in run_ids]
    if len(set(runs)) != len(runs):
        raise ConfigError(f"a run is named twice ({', '.join(run_ids)})", fix="name each run once")
    path = _output_path(output, runs[0], fmt)
    reports = [collect(store, run_id, max_samples=max_samples) for run_id in runs]
    comparison = compare_runs(store, runs[0], runs[1]) if len(runs) == 2 else None
    image = None
    if fmt == "html":
        from r2d_sdk.report._html import render_html

        data = render_html(reports, comparison).encode("utf-8")
    else:
        from r2d_sdk.report._markdown import render_markdown, tradeoff_image

        image = path.with_name(f"{path.stem}-tradeoff.png")
        partial = image.with_name(f".{image.name}.partial")
        if tradeoff_image(reports, partial):
            os.replace(partial, image)
        else:
            image = None
        data = render_markdown(reports, image.name if image else None, comparison).encode("utf-8")
    _atomic_write(path, data)
    return Written(path, len(data), image, runs)
