"""The only writer to the results database."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from r2d_sdk._calls import CallRecord
from r2d_sdk._errors import R2DError
from r2d_sdk._redact import redact
from r2d_sdk._types import Judgment
from r2d_sdk._version import __version__
from r2d_sdk.store import _lease, _migrate
from r2d_sdk.store._requests import RequestRecord, call_row, insert_requests
from r2d_sdk.store._responses import ResponseTable
from r2d_sdk.store._schema import JudgmentRow, MetricRow, ModelCall, Run, Sample


@dataclass
class SampleRecord:
    """Everything one grid cell produced, written in one transaction."""

    dataset: str
    item_id: str
    item_label: str | None
    category: str | None
    goal: str
    model: str
    model_id: str
    attack: str
    defense: str
    prompt_index: int
    prompt: str
    messages: list[dict[str, Any]]
    response: str | None
    reasoning: str | None = None
    blocked: bool = False
    status: str = "ok"
    error: str | None = None
    latency_ms: float = 0.0
    defense_latency_ms: float = 0.0
    attack_info: dict[str, Any] = field(default_factory=dict)
    defense_info: dict[str, Any] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    judgments: list[tuple[str, Judgment]] = field(default_factory=list)

    @property
    def cell(self) -> tuple[str, str, str, str, str, int]:
        return (self.dataset, self.item_id, self.model, self.attack, self.defense, self.prompt_index)


@dataclass
class ErrorSummary:
    """What of a run ended in error: samples (no response), judgments of answered samples (the
    judge failed), how many judgments scored, and the first error's message."""

    failed_samples: int = 0
    failed_judgments: int = 0
    scored_judgments: int = 0
    first_error: str | None = None


def package_versions() -> dict[str, str]:
    """Every installed distribution and its version: what this run ran with."""
    return dict(_package_versions())


@functools.cache
def _package_versions() -> dict[str, str]:
    # Reading every distribution's metadata takes ~0.2 s; what is installed does not change mid-process.
    return {d.metadata["Name"]: d.version for d in distributions() if d.metadata["Name"]}


def git_commit() -> str | None:
    """The SDK source tree's commit, when the SDK runs from a git checkout that tracks it.

    A wheel installed in a virtual environment that happens to sit inside some other git
    repository is not that repository's code, so the package file must be tracked.
    """
    package = Path(__file__).resolve().parents[1]
    try:
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "__init__.py"], cwd=package,
                                 capture_output=True, text=True, timeout=5)
        if tracked.returncode != 0:
            return None
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


class Store:
    """Results database: migrated when opened; SQLite file or PostgreSQL by URL.

    Writes are synchronous and short; the runner batches finished samples so one commit
    carries many. `responses` is the response cache that models are given.
    """

    def __init__(self, url: str, migrate: bool = True) -> None:
        self.url = url
        self.engine = _migrate.make_engine(url)
        if migrate:
            _migrate.upgrade(self.engine)
        self._lock = threading.Lock()
        self.responses = ResponseTable(self.engine, self._lock)

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> str | None:
        return self.engine.url.database if self.engine.dialect.name == "sqlite" else None

    def close(self) -> None:
        self.responses.flush()
        self.engine.dispose()

    # ---- runs ----------------------------------------------------------------------------
    def create_run(self, name: str, recipe_yaml: str, recipe_hash: str, seed: int, recipe_path: str | None = None,
                   kind: str = "eval", training_run_id: int | None = None,
                   overrides: dict[str, Any] | None = None) -> str:
        """A new run, running and leased to this process. `overrides`: the command-line options
        it started with ({"limit": 60}), so a resume can apply them again."""
        run_id = uuid.uuid4().hex[:12]
        with Session(self.engine) as session, session.begin():
            session.add(Run(
                id=run_id, name=name, kind=kind, status="running", recipe_yaml=recipe_yaml, recipe_hash=recipe_hash,
                recipe_path=recipe_path, sdk_version=__version__, git_commit=git_commit(),
                python_version=platform.python_version(), packages_json=package_versions(), seed=seed,
                training_run_id=training_run_id, started_at=datetime.now(UTC), overrides_json=overrides,
                host=_lease.this_host(), pid=os.getpid(), heartbeat_at=self.database_now(),
            ))
        return run_id

    def get_run(self, run_id: str, recipe_hash: str | None = None) -> Run:
        """A run by id, or the newest with 'latest' (the newest of one recipe, given its hash)."""
        with Session(self.engine) as session:
            if run_id == "latest":
                query = select(Run).order_by(Run.started_at.desc()).limit(1)
                if recipe_hash is not None:
                    query = query.where(Run.recipe_hash == recipe_hash)
                run = session.scalars(query).first()
            else:
                run = session.get(Run, run_id)
            if run is None:
                what = "no run of this recipe" if run_id == "latest" and recipe_hash else f"no run '{run_id}'"
                raise R2DError(f"{what} in {self.display_url}", fix="`r2d-sdk runs list` shows the run ids")
            session.expunge(run)
            return run

    def newest_run(self, *, kind: str = "eval", recipe_hash: str | None = None, recipe_path: str | None = None,
                   name: str | None = None) -> Run | None:
        """The newest run of a kind matching every criterion given, or None."""
        query = select(Run).where(Run.kind == kind).order_by(Run.started_at.desc()).limit(1)
        for column, value in ((Run.recipe_hash, recipe_hash), (Run.recipe_path, recipe_path), (Run.name, name)):
            if value is not None:
                query = query.where(column == value)
        with Session(self.engine) as session:
            run = session.scalars(query).first()
            if run is not None:
                session.expunge(run)
            return run

    def database_now(self) -> datetime:
        """Now by the database's clock (PostgreSQL's; SQLite's is this machine's): lease times
        are written and compared on one clock whichever host they come from."""
        if self.engine.dialect.name == "sqlite":
            return datetime.now(UTC)
        with self.engine.connect() as connection:
            now: datetime = connection.execute(select(func.current_timestamp())).scalar_one()
        return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)

    def claim_run(self, run_id: str, overrides: dict[str, Any] | None = None) -> Run:
        """Take a run for this process (a resume): running, leased here, a fresh heartbeat.

        Refused, naming the process, while another one holds a live lease (`_lease.live_holder`).
        The update repeats what made the run free to take, so of two processes resuming it at
        once exactly one gets it. `overrides` replace the stored ones when given.
        """
        run = self.get_run(run_id)
        now = self.database_now()
        holder = _lease.live_holder(run, now)
        if holder is not None:
            raise _live_run(run, holder)
        unchanged = [Run.id == run_id, Run.status == run.status, Run.host.is_not_distinct_from(run.host),
                     Run.pid.is_not_distinct_from(run.pid)]
        if run.status == "running" and not _lease.gone_from_this_host(run):
            cutoff = now - timedelta(seconds=_lease.STALE_SECONDS)
            unchanged.append(or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < cutoff))
        values: dict[str, Any] = {"status": "running", "error": None, "finished_at": None,
                                  "host": _lease.this_host(), "pid": os.getpid(), "heartbeat_at": now}
        if overrides is not None:
            values["overrides_json"] = overrides
        with self._lock, self.engine.begin() as connection:
            taken = connection.execute(update(Run).where(*unchanged).values(**values)).rowcount
        if taken != 1:  # another process took it between the read and the update
            fresh = self.get_run(run_id)
            raise _live_run(fresh, _lease.live_holder(fresh, self.database_now()) or f"host {fresh.host}, "
                            f"pid {fresh.pid}, which took it a moment ago")
        return self.get_run(run_id)

    def heartbeat(self, run_id: str) -> bool:
        """Refresh this process's lease on a run; False once the run is no longer leased here."""
        with self._lock, self.engine.begin() as connection:
            return connection.execute(update(Run).where(*_held_here(run_id))
                                      .values(heartbeat_at=self.database_now())).rowcount == 1

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> bool:
        """Set a leased run's final status; False (nothing changed) when another process holds it."""
        with self._lock, self.engine.begin() as connection:
            return connection.execute(update(Run).where(*_held_here(run_id)).values(
                status=status, error=error, finished_at=datetime.now(UTC))).rowcount == 1

    def list_runs(self, limit: int = 20) -> list[Run]:
        with Session(self.engine) as session:
            runs = list(session.scalars(select(Run).order_by(Run.started_at.desc()).limit(limit)))
            for run in runs:
                session.expunge(run)
            return runs

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        finished = None if status == "running" else datetime.now(UTC)
        with self.engine.begin() as connection:
            connection.execute(update(Run).where(Run.id == run_id).values(status=status, error=redact(error),
                                                                           finished_at=finished))

    def done_cells(self, run_id: str) -> set[tuple[str, str, str, str, str, int]]:
        """Cells already written for a run: what a resume skips."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(Sample.dataset, Sample.item_id, Sample.model, Sample.attack,
                                             Sample.defense, Sample.prompt_index).where(Sample.run_id == run_id))
            return {tuple(row) for row in rows}  # type: ignore[misc]

    # ---- samples -----------------------------------------------------------------------
    def write_samples(self, run_id: str, records: list[SampleRecord]) -> None:
        """Write finished samples with their calls and judgments, in one transaction.

        Three statements per batch (samples, calls, judgments), not three per sample: the
        runner must keep up with hundreds of mock samples a second.

        Raises:
            R2DError: a cell of the batch is already stored (another process is writing this
                run); nothing of the batch is written.
        """
        if not records:
            return
        try:
            self._insert_samples(run_id, records)
        except IntegrityError as error:
            reason = (str(error.orig).splitlines() or [type(error.orig).__name__])[0]
            raise R2DError(f"run {run_id}: {len(records)} finished samples were not written: the database refused "
                           f"them ({reason}); another process is probably writing this run",
                           fix=f"let one process run it (`r2d-sdk runs show {run_id}` shows its status), then "
                               f"resume it once that process has stopped") from None

    def _insert_samples(self, run_id: str, records: list[SampleRecord]) -> None:
        now = datetime.now(UTC)
        sample_rows = []
        for record in records:
            defense_calls = [c for c in record.calls if c.stage == "defense"]
            sample_rows.append({
                "run_id": run_id, "dataset": record.dataset, "item_id": record.item_id,
                "item_label": record.item_label, "category": record.category, "goal": record.goal,
                "model": record.model, "model_id": record.model_id, "attack": record.attack,
                "defense": record.defense, "prompt_index": record.prompt_index, "prompt": record.prompt,
                "messages_json": record.messages, "response": record.response, "reasoning": record.reasoning,
                "blocked": record.blocked, "status": record.status, "error": redact(record.error),
                "latency_ms": record.latency_ms, "defense_latency_ms": record.defense_latency_ms,
                "prompt_tokens": sum(c.prompt_tokens for c in defense_calls),
                "completion_tokens": sum(c.completion_tokens for c in defense_calls),
                "model_call_count": len(record.calls),
                # Beyond the plain answer: a defense that calls its model once costs nothing extra.
                "defense_call_count": max(0, len(defense_calls) - 1),
                "defense_tokens": sum(c.prompt_tokens + c.completion_tokens for c in defense_calls[1:]),
                "attack_info_json": record.attack_info, "defense_info_json": record.defense_info,
                "created_at": now,
            })
        with self._lock, self.engine.begin() as connection:
            ids = connection.execute(
                insert(Sample).returning(Sample.id, sort_by_parameter_order=True), sample_rows).scalars().all()
            call_rows = [call_row(c, run_id, sample_id) for record, sample_id in zip(records, ids, strict=True)
                         for c in record.calls]
            judgment_rows = [{
                "run_id": run_id, "sample_id": sample_id, "judge": judge, "status": str(j.status), "label": j.label,
                "jailbroken": j.jailbroken, "refused": j.refused, "score": j.score, "raw": j.raw,
                "error": redact(j.error), "created_at": now,
            } for record, sample_id in zip(records, ids, strict=True) for judge, j in record.judgments]
            if call_rows:
                connection.execute(insert(ModelCall), call_rows)
            if judgment_rows:
                connection.execute(insert(JudgmentRow), judgment_rows)
            self.responses.flush_into(connection)

    def write_orphan_calls(self, run_id: str | None, calls: list[CallRecord]) -> None:
        """Calls made outside any sample (calibration, setup)."""
        if calls:
            with self._lock, self.engine.begin() as connection:
                connection.execute(insert(ModelCall), [call_row(c, run_id, None) for c in calls])

    # ---- gateway requests ---------------------------------------------------------------
    def write_requests(self, records: list[RequestRecord]) -> None:
        """Write answered gateway requests with their model calls, in one transaction."""
        if records:
            with self._lock, self.engine.begin() as connection:
                insert_requests(connection, records)

    # ---- metrics -----------------------------------------------------------------------
    def judgment_groups(self, run_id: str) -> list[dict[str, Any]]:
        """Every judgment of a run with its sample's grid coordinates."""
        query = (select(Sample.dataset, Sample.item_label, Sample.model, Sample.attack, Sample.defense,
                        JudgmentRow.judge, JudgmentRow.status, JudgmentRow.label, JudgmentRow.jailbroken,
                        JudgmentRow.refused, JudgmentRow.score)
                 .join(JudgmentRow, JudgmentRow.sample_id == Sample.id).where(Sample.run_id == run_id))
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def replace_metrics(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Metrics are derived data: recomputed from the stored rows, so a resume gives the same numbers."""
        with self._lock, self.engine.begin() as connection:
            connection.execute(delete(MetricRow).where(MetricRow.run_id == run_id))
            if rows:
                now = datetime.now(UTC)
                connection.execute(insert(MetricRow), [{**row, "run_id": run_id, "created_at": now} for row in rows])

    def metrics(self, run_id: str) -> list[MetricRow]:
        with Session(self.engine) as session:
            rows = list(session.scalars(select(MetricRow).where(MetricRow.run_id == run_id).order_by(MetricRow.id)))
            for row in rows:
                session.expunge(row)
            return rows

    def sample_count(self, run_id: str) -> dict[str, int]:
        from sqlalchemy import func

        with self.engine.connect() as connection:
            rows = connection.execute(select(Sample.status, func.count()).where(Sample.run_id == run_id)
                                      .group_by(Sample.status))
            return {status: count for status, count in rows}

    def error_summary(self, run_id: str) -> ErrorSummary:
        """How much of a run ended in error, and the first error's message (by sample order)."""
        with self.engine.connect() as connection:
            failed = connection.execute(select(func.count(), func.min(Sample.id)).where(
                Sample.run_id == run_id, Sample.status == "error")).one()
            judged = select(JudgmentRow.status, func.count()).join(Sample, Sample.id == JudgmentRow.sample_id).where(
                JudgmentRow.run_id == run_id, Sample.status == "ok").group_by(JudgmentRow.status)
            judgments = {status: count for status, count in connection.execute(judged)}
            first = None
            if failed[1] is not None:
                first = connection.execute(select(Sample.error).where(Sample.id == failed[1])).scalar()
            elif judgments.get("error"):
                judge, error = connection.execute(
                    select(JudgmentRow.judge, JudgmentRow.error).join(Sample, Sample.id == JudgmentRow.sample_id)
                    .where(JudgmentRow.run_id == run_id, JudgmentRow.status == "error", Sample.status == "ok")
                    .order_by(JudgmentRow.id).limit(1)).one()
                first = f"judge {judge}: {error}"
        return ErrorSummary(failed_samples=failed[0], failed_judgments=judgments.get("error", 0),
                            scored_judgments=judgments.get("scored", 0), first_error=first)


def _held_here(run_id: str) -> list[Any]:
    """The run is running and leased to this process."""
    return [Run.id == run_id, Run.status == "running", Run.host == _lease.this_host(), Run.pid == os.getpid()]


def _live_run(run: Run, holder: str) -> R2DError:
    return R2DError(f"run {run.id} is still running in another process ({holder})",
                    fix=f"wait for it to finish (`r2d-sdk runs show {run.id}`), or stop that process; a run whose "
                        f"process is gone, or silent for {_lease.STALE_SECONDS:.0f} s, can be resumed")
