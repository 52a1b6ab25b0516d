"""Judge calibrations in the results database: written with their rows, found again by judge
identity, and the corrected figures they give written beside a run's metrics."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from r2d_sdk._errors import R2DError
from r2d_sdk._redact import redact
from r2d_sdk._version import __version__
from r2d_sdk.store._schema import Calibration, CalibrationItem, MetricRow
from r2d_sdk.store._store import Store

# What `write_corrections` may set on a metric row.
CORRECTION_FIELDS = ("corrected", "corrected_low", "corrected_high", "correction_status", "calibration_id",
                     "correction_note")


@dataclass
class CalibrationItemRecord:
    """One labelled row as the judge saw it."""

    item_index: int
    request: str
    response: str
    human_label: bool
    status: str
    verdict: bool | None = None
    raw: str | None = None
    error: str | None = None


@dataclass
class CalibrationRecord:
    """Everything one calibration of one judge produced, written in one transaction."""

    judge: str
    judge_label: str
    judge_config_hash: str
    judge_config: dict[str, Any]
    set_name: str
    set_hash: str
    tp: int
    fp: int
    tn: int
    fn: int
    errors: int
    unscorable: int
    stats: dict[str, Any]
    recipe_path: str | None = None
    items: list[CalibrationItemRecord] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn + self.errors + self.unscorable


class Calibrations:
    """The calibration rows of one results database (`Calibrations(store)`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def write(self, record: CalibrationRecord) -> int:
        """Store a calibration and all its rows; returns its id."""
        with self.engine.begin() as connection:
            calibration_id = connection.execute(insert(Calibration).returning(Calibration.id), [{
                "judge": record.judge, "judge_label": record.judge_label,
                "judge_config_hash": record.judge_config_hash, "judge_config_json": record.judge_config,
                "set_name": record.set_name, "set_hash": record.set_hash, "n": record.n, "tp": record.tp,
                "fp": record.fp, "tn": record.tn, "fn": record.fn, "errors": record.errors,
                "unscorable": record.unscorable, "stats_json": record.stats, "recipe_path": record.recipe_path,
                "sdk_version": __version__, "created_at": datetime.now(UTC),
            }]).scalar_one()
            if record.items:
                connection.execute(insert(CalibrationItem), [{
                    "calibration_id": calibration_id, "item_index": item.item_index, "request": item.request,
                    "response": item.response, "human_label": item.human_label, "status": item.status,
                    "verdict": item.verdict, "raw": item.raw, "error": redact(item.error),
                } for item in record.items])
        return int(calibration_id)

    def latest(self, judge_config_hash: str, *, set_name: str | None = None,
               set_hash: str | None = None) -> Calibration | None:
        """The newest calibration of this judge identity (on one set, when named), or None."""
        query = select(Calibration).where(Calibration.judge_config_hash == judge_config_hash)
        if set_name is not None:
            query = query.where(Calibration.set_name == set_name)
        if set_hash is not None:
            query = query.where(Calibration.set_hash == set_hash)
        return self._one(query.order_by(Calibration.created_at.desc(), Calibration.id.desc()).limit(1))

    def get(self, calibration_id: int) -> Calibration:
        row = self._one(select(Calibration).where(Calibration.id == calibration_id))
        if row is None:
            raise R2DError(f"no calibration {calibration_id} in {self.store.display_url}",
                           fix="`r2d-sdk judges list` shows the stored calibrations")
        return row

    def list(self, limit: int = 50) -> builtins.list[Calibration]:
        """The newest calibrations first."""
        with Session(self.engine) as session:
            rows = list(session.scalars(select(Calibration).order_by(Calibration.created_at.desc(),
                                                                     Calibration.id.desc()).limit(limit)))
            session.expunge_all()
            return rows

    def items(self, calibration_id: int) -> builtins.list[CalibrationItem]:
        """A calibration's rows in set order."""
        with Session(self.engine) as session:
            rows = list(session.scalars(select(CalibrationItem).where(CalibrationItem.calibration_id == calibration_id)
                                        .order_by(CalibrationItem.item_index)))
            session.expunge_all()
            return rows

    def write_corrections(self, run_id: str, corrections: dict[int, dict[str, Any]]) -> None:
        """Set the corrected figures of a run's metric rows ({metric row id: fields}).

        Fields left out of a row's dict are cleared, so a correction written again replaces the
        old one whole.
        """
        if not corrections:
            return
        unknown = {key for values in corrections.values() for key in values} - set(CORRECTION_FIELDS)
        if unknown:
            raise ValueError(f"not correction fields: {sorted(unknown)}")
        rows = [{"row_id": row_id, **{f"new_{k}": values.get(k) for k in CORRECTION_FIELDS}}
                for row_id, values in corrections.items()]
        statement = (update(MetricRow).where(MetricRow.id == bindparam("row_id"), MetricRow.run_id == run_id)
                     .values(**{k: bindparam(f"new_{k}") for k in CORRECTION_FIELDS}))
        with self.store._lock, self.engine.begin() as connection:
            connection.execute(statement, rows)

    def _one(self, query: Any) -> Calibration | None:
        with Session(self.engine) as session:
            row = session.scalars(query).first()
            if row is not None:
                session.expunge(row)
            return row
