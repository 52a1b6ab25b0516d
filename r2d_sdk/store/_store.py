"""The only writer to the results database."""

from __future__ import annotations

import functools
import platform
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from r2d_sdk._calls import CallRecord
from r2d_sdk._errors import R2DError
from r2d_sdk._redact import redact
from r2d_sdk._types import Judgment
from r2d_sdk._version import __version__
from r2d_sdk.store import _migrate
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


def _call_row(call: CallRecord, run_id: str | None, sample_id: int | None) -> dict[str, Any]:
    return {
        "run_id": run_id, "sample_id": sample_id, "stage": call.stage, "model": call.model,
        "model_id": call.model_id, "messages_json": call.messages, "params_json": call.params,
        "response": call.response, "finish_reason": call.finish_reason, "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens, "latency_ms": call.latency_ms, "cache_hit": call.cache_hit,
        "retries": call.retries, "error": redact(call.error), "deployment": call.deployment,
        "created_at": call.created_at,
    }


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

    # ---- runs --------------------------------------------------------------------------
    def create_run(self, name: str, recipe_yaml: str, recipe_hash: str, seed: int, recipe_path: str | None = None,
                   kind: str = "eval", training_run_id: int | None = None) -> str:
        run_id = uuid.uuid4().hex[:12]
        with Session(self.engine) as session, session.begin():
            session.add(Run(
                id=run_id, name=name, kind=kind, status="running", recipe_yaml=recipe_yaml, recipe_hash=recipe_hash,
                recipe_path=recipe_path, sdk_version=__version__, git_commit=git_commit(),
                python_version=platform.python_version(), packages_json=package_versions(), seed=seed,
                training_run_id=training_run_id, started_at=datetime.now(UTC),
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
        """
        if not records:
            return
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
            call_rows = [_call_row(c, run_id, sample_id) for record, sample_id in zip(records, ids, strict=True)
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
                connection.execute(insert(ModelCall), [_call_row(c, run_id, None) for c in calls])

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
