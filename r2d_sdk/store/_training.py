"""Training runs in the results database: created, stepped, finished, found again by name."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from r2d_sdk._errors import R2DError
from r2d_sdk._version import __version__
from r2d_sdk.store._schema import Run, TrainingRun, TrainingStep
from r2d_sdk.store._store import Store, git_commit

STEP_FIELDS = ("loss", "ce", "cpo", "pivot_acc", "learning_rate", "tokens", "seconds")


class TrainingRuns:
    """The training-run rows of one results database (`TrainingRuns(store)`).

    Only the main process of a distributed run writes here.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def create(self, name: str, base_model: str, config: dict[str, Any], config_hash: str, data_hash: str,
               data_path: str | None, n_train: int, n_heldout: int, total_steps: int | None,
               output_dir: str | None = None, recipe_hash: str | None = None) -> int:
        """A new row in status `running`; returns its id."""
        with Session(self.engine) as session, session.begin():
            row = TrainingRun(name=name, status="running", base_model=base_model, config_json=config,
                              config_hash=config_hash, data_hash=data_hash, data_path=data_path, n_train=n_train,
                              n_heldout=n_heldout, total_steps=total_steps, steps_done=0, output_dir=output_dir,
                              metrics_json={}, recipe_hash=recipe_hash, sdk_version=__version__,
                              git_commit=git_commit(), started_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return int(row.id)

    def resumable(self, name: str, config_hash: str, data_hash: str) -> TrainingRun | None:
        """The newest unfinished run with this name, config and data: what a restarted train continues."""
        query = (select(TrainingRun).where(TrainingRun.name == name, TrainingRun.config_hash == config_hash,
                                           TrainingRun.data_hash == data_hash,
                                           TrainingRun.status.in_(["running", "interrupted", "failed"]))
                 .order_by(TrainingRun.id.desc()).limit(1))
        return self._one(query)

    def reopen(self, training_run_id: int) -> None:
        self._update(training_run_id, status="running", error=None, finished_at=None)

    def log_steps(self, training_run_id: int, split: str, rows: Sequence[dict[str, Any]]) -> None:
        """Write step metrics; a step logged again (replayed after a resume) replaces the old row."""
        if not rows:
            return
        steps = [int(r["step"]) for r in rows]
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            connection.execute(delete(TrainingStep).where(TrainingStep.training_run_id == training_run_id,
                                                          TrainingStep.split == split, TrainingStep.step.in_(steps)))
            connection.execute(insert(TrainingStep), [
                {"training_run_id": training_run_id, "split": split, "step": int(r["step"]), "created_at": now,
                 **{k: r.get(k) for k in STEP_FIELDS},
                 "tokens": int(r.get("tokens") or 0), "seconds": float(r.get("seconds") or 0.0)}
                for r in rows])
            if split == "train":
                connection.execute(update(TrainingRun).where(TrainingRun.id == training_run_id)
                                   .values(steps_done=max(steps)))

    def finish(self, training_run_id: int, status: str, checkpoint_path: str | None = None,
               checkpoint_hash: str | None = None, metrics: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "error": error, "finished_at": datetime.now(UTC)}
        if checkpoint_path is not None:
            values.update(checkpoint_path=checkpoint_path, checkpoint_hash=checkpoint_hash)
        if metrics is not None:
            values["metrics_json"] = metrics
        self._update(training_run_id, **values)

    def get(self, training_run_id: int) -> TrainingRun:
        row = self._one(select(TrainingRun).where(TrainingRun.id == training_run_id))
        if row is None:
            raise R2DError(f"no training run {training_run_id} in {self.store.display_url}",
                           fix="`r2d-sdk sql \"SELECT id, name, status FROM training_runs\"` lists them")
        return row

    def latest(self, name: str, status: str = "completed") -> TrainingRun | None:
        """The newest training run with this name and status."""
        return self._one(select(TrainingRun).where(TrainingRun.name == name, TrainingRun.status == status)
                         .order_by(TrainingRun.id.desc()).limit(1))

    def list(self, limit: int = 20) -> builtins.list[TrainingRun]:
        with Session(self.engine) as session:
            rows = list(session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)))
            for row in rows:
                session.expunge(row)
            return rows

    def steps(self, training_run_id: int, split: str | None = None) -> builtins.list[TrainingStep]:
        query = select(TrainingStep).where(TrainingStep.training_run_id == training_run_id)
        if split is not None:
            query = query.where(TrainingStep.split == split)
        with Session(self.engine) as session:
            rows = list(session.scalars(query.order_by(TrainingStep.split, TrainingStep.step)))
            for row in rows:
                session.expunge(row)
            return rows

    def link_run(self, run_id: str, training_run_id: int) -> None:
        """Point an evaluation run at the training run whose checkpoint it used (the first one wins;
        per-defense links come from the `defense_training_runs` view)."""
        with self.engine.begin() as connection:
            connection.execute(update(Run).where(Run.id == run_id, Run.training_run_id.is_(None))
                               .values(training_run_id=training_run_id))

    def _update(self, training_run_id: int, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(TrainingRun).where(TrainingRun.id == training_run_id).values(**values))

    def _one(self, query: Any) -> TrainingRun | None:
        with Session(self.engine) as session:
            row = session.scalars(query).first()
            if row is not None:
                session.expunge(row)
            return row
