"""Corrected ASR beside the raw one, for judges that have a calibration.

A judge's calibration (its measured true- and false-positive rates against human labels,
`r2d-sdk judges calibrate`) lets a run correct the ASR it reads off that judge. The run writes
the corrected figure beside the raw one in `metrics` (`corrected`, `corrected_low`,
`corrected_high`, `calibration_id`, `correction_note`; `r2d-sdk judges correct RUN` writes them
again from a newer calibration), and this module reads them there: it computes nothing. This is
the one place the report asks for corrected rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r2d_sdk.report._queries import named_query

CALIBRATION_TABLE = "calibrations"


@dataclass(frozen=True)
class CorrectedRate:
    """An error-corrected ASR with its 95% interval and the calibration it came from."""

    value: float
    low: float
    high: float
    calibration_id: int | None = None
    note: str = ""


def has_calibrations(store: Any) -> bool:
    """Whether the database holds any judge calibration."""
    from sqlalchemy import inspect

    if not inspect(store.engine).has_table(CALIBRATION_TABLE):
        return False
    return bool(named_query(store, "calibration_count")[0]["n"])


def asr_metric_labels(recipe_yaml: str) -> list[str]:
    """The labels of a stored recipe's `asr` metrics (the recipe's default metrics are [asr])."""
    import yaml

    try:
        data = yaml.safe_load(recipe_yaml) or {}
        entries = data.get("metrics", ["asr"]) if isinstance(data, dict) else []
    except yaml.YAMLError:
        return []
    labels = []
    for entry in entries or []:
        spec = {"name": entry} if isinstance(entry, str) else entry
        if isinstance(spec, dict) and str(spec.get("name", "")).split("/")[-1] == "asr":
            labels.append(str(spec.get("label") or spec["name"]))
    return labels


def corrected_asr(store: Any, run_id: str) -> dict[tuple[str, str, str | None, str, str, str], CorrectedRate]:
    """Corrected ASR per (model, dataset, item label, attack, defense, judge) of a run.

    Empty when none of the run's judges had a calibration when its metrics were computed
    (or last corrected), and for rows whose correction has no number (a chance-level judge).
    """
    labels = asr_metric_labels(store.get_run(run_id).recipe_yaml)
    if not labels:
        return {}
    rows = named_query(store, "corrected_rates", run_id=run_id, metrics=labels)
    return {(r["model"], r["dataset"], r["item_label"], r["attack"], r["defense"], r["judge"]):
            CorrectedRate(r["corrected"], r["corrected_low"], r["corrected_high"], r["calibration_id"],
                          r["correction_note"] or "")
            for r in rows}
