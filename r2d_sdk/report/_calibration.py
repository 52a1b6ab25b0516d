"""Corrected ASR beside the raw one, for judges that have a calibration.

A judge's calibration (its measured true- and false-positive rates against human labels) lets
a report correct the ASR it reads off that judge. The calibration work adds a `calibrations`
table and the corrected-rate functions; until the database has that table this module returns
nothing, and the report's grid says "no calibration" beside each judge. This is the one place
the report asks for corrected rates, so wiring them in changes only `corrected_asr`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CALIBRATION_TABLE = "calibrations"


@dataclass(frozen=True)
class CorrectedRate:
    """An error-corrected ASR with its 95% interval."""

    value: float
    low: float
    high: float


def has_calibrations(store: Any) -> bool:
    """Whether the database holds judge calibrations at all."""
    from sqlalchemy import inspect

    return bool(inspect(store.engine).has_table(CALIBRATION_TABLE))


def corrected_asr(store: Any, run_id: str) -> dict[tuple[str, str, str | None, str, str, str], CorrectedRate]:
    """Corrected ASR per (model, dataset, item label, attack, defense, judge) of a run.

    Empty while the database has no `calibrations` table, or when none of the run's judges
    has a calibration.
    """
    if not has_calibrations(store):
        return {}
    # The calibrations table exists but this build does not know its corrected-rate functions yet.
    return {}
