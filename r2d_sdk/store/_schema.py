"""The results database: SQLAlchemy 2.0 typed models.

Columns people filter on are real columns; JSON columns end in `_json`. Timestamps are UTC.
The Alembic revisions in migrations/ are hand-written and never import this module; a test
checks the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC; returns aware datetimes whatever the backend kept."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    """One execution of a recipe (or one training run's evaluation)."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="eval")
    status: Mapped[str] = mapped_column(String(20), index=True)  # running, completed, interrupted, failed
    recipe_yaml: Mapped[str] = mapped_column(Text)
    recipe_hash: Mapped[str] = mapped_column(String(64), index=True)
    recipe_path: Mapped[str | None] = mapped_column(Text)
    sdk_version: Mapped[str] = mapped_column(String(40))
    git_commit: Mapped[str | None] = mapped_column(String(40))
    python_version: Mapped[str] = mapped_column(String(40))
    packages_json: Mapped[dict[str, str]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    training_run_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The command-line overrides it started with ({"limit": 60}); NULL when unknown (older runs).
    overrides_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The lease of the process running it: refreshed while it runs, so a resume can tell a live
    # run from a dead one (store._lease).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)


class Sample(Base):
    """One (target model, attack, defense, dataset item, prompt) cell of the grid."""

    __tablename__ = "samples"
    __table_args__ = (
        Index("uq_samples_cell", "run_id", "dataset", "item_id", "model", "attack", "defense", "prompt_index",
              unique=True),
        # The report's pass over a run's grid reads this index alone (revision 0007).
        Index("ix_samples_cells", "run_id", "model", "dataset", "item_label", "category", "attack", "defense",
              "status", "item_id", "prompt_index"),
        # The `defense_cost` view reads a run's figures from this index alone (revision 0007).
        Index("ix_samples_cost", "run_id", "status", "model", "defense", "defense_call_count", "defense_tokens",
              "defense_latency_ms", "blocked", "prompt_tokens", "completion_tokens", "latency_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[str] = mapped_column(String(200))
    item_label: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str | None] = mapped_column(String(200))
    goal: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    model_id: Mapped[str] = mapped_column(String(500))
    attack: Mapped[str] = mapped_column(String(200))
    defense: Mapped[str] = mapped_column(String(200))
    prompt_index: Mapped[int] = mapped_column(Integer, default=0)
    prompt: Mapped[str] = mapped_column(Text)
    messages_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    response: Mapped[str | None] = mapped_column(Text)
    reasoning: Mapped[str | None] = mapped_column(Text)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), index=True)  # ok, error
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    defense_latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    model_call_count: Mapped[int] = mapped_column(Integer, default=0)
    defense_call_count: Mapped[int] = mapped_column(Integer, default=0)
    defense_tokens: Mapped[int] = mapped_column(Integer, default=0)
    attack_info_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    defense_info_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ModelCall(Base):
    """Every model call, cached or not, with its accounting."""

    __tablename__ = "model_calls"
    # The `defense_cost` view's cached share (revision 0007).
    __table_args__ = (Index("ix_model_calls_stage", "sample_id", "stage", "cache_hit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    # A call made answering a gateway request (`r2d-sdk serve`, a Guard) points at that request.
    guard_request_id: Mapped[int | None] = mapped_column(ForeignKey("guard_requests.id", ondelete="CASCADE"),
                                                         index=True)
    stage: Mapped[str] = mapped_column(String(40))  # attack, defense, judge, ...
    model: Mapped[str] = mapped_column(String(200), index=True)
    model_id: Mapped[str] = mapped_column(String(500))
    messages_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    params_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Which of the model's deployments (LiteLLM Router) served the call; null without deployments.
    deployment: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class GuardRequest(Base):
    """One request a Guard answered (in Python or behind `r2d-sdk serve`): what came in, what went
    out, which defense blocked it and why, every member's verdict, and what it cost."""

    __tablename__ = "guard_requests"
    __table_args__ = (Index("uq_guard_requests_request_id", "request_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64))  # the completion id the client got
    route: Mapped[str] = mapped_column(String(200), index=True)
    client: Mapped[str | None] = mapped_column(String(16))  # a short hash of the API key, never the key
    model: Mapped[str] = mapped_column(String(200))
    model_id: Mapped[str] = mapped_column(String(500))
    defense: Mapped[str] = mapped_column(String(200))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    messages_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    response: Mapped[str | None] = mapped_column(Text)
    reasoning: Mapped[str | None] = mapped_column(Text)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked_by: Mapped[str | None] = mapped_column(String(200))
    block_reason: Mapped[str | None] = mapped_column(Text)
    verdicts_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), index=True)  # ok, error, timeout, cancelled
    error: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    first_token_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    model_call_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class JudgmentRow(Base):
    """A judge's verdict on one sample; `status` other than scored never enters a metric."""

    __tablename__ = "judgments"
    __table_args__ = (
        # Covering indexes for the report (revision 0007): a sample's verdicts, and a run's judges.
        Index("ix_judgments_verdicts", "sample_id", "judge", "status", "jailbroken", "refused", "label"),
        Index("ix_judgments_run_judge", "run_id", "judge"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    judge: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # scored, error, unscorable
    label: Mapped[str | None] = mapped_column(String(100))
    jailbroken: Mapped[bool | None] = mapped_column(Boolean)
    refused: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MetricRow(Base):
    """An aggregate per (dataset, item label, model, attack, defense, judge)."""

    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset: Mapped[str] = mapped_column(String(200))
    item_label: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    attack: Mapped[str] = mapped_column(String(200))
    defense: Mapped[str] = mapped_column(String(200))
    judge: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    extra_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The value corrected for the judge's measured error (revision 0008; docs/judges.md), for the
    # rates a calibration speaks to (`asr`, `refusal-rate`): its 95% interval, the calibration
    # used, and in words why there is none or why it was clipped.
    corrected: Mapped[float | None] = mapped_column(Float)
    corrected_low: Mapped[float | None] = mapped_column(Float)
    corrected_high: Mapped[float | None] = mapped_column(Float)
    correction_status: Mapped[str | None] = mapped_column(String(20))  # corrected, clipped, undefined, none
    calibration_id: Mapped[int | None] = mapped_column(ForeignKey("calibrations.id", ondelete="SET NULL"),
                                                       index=True)
    correction_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Calibration(Base):
    """One judge measured against one human-labelled set (`r2d-sdk judges calibrate`).

    The judge is identified by what makes it the same instrument (`judge_config_hash`: its
    component, validated arguments and the models they name), so a run's judge finds the
    calibrations made of it whatever its label. The counts are of scored rows; errors and
    unscorable verdicts are counted apart and are in neither.
    """

    __tablename__ = "calibrations"
    __table_args__ = (Index("ix_calibrations_judge", "judge_config_hash", "set_hash", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    judge: Mapped[str] = mapped_column(String(200))  # the component name (refusal-string)
    judge_label: Mapped[str] = mapped_column(String(200))  # its label in the recipe calibrated
    judge_config_hash: Mapped[str] = mapped_column(String(64))
    judge_config_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    set_name: Mapped[str] = mapped_column(String(500))
    set_hash: Mapped[str] = mapped_column(String(64))
    n: Mapped[int] = mapped_column(Integer)  # labelled rows judged, errors and unscorable included
    tp: Mapped[int] = mapped_column(Integer)
    fp: Mapped[int] = mapped_column(Integer)
    tn: Mapped[int] = mapped_column(Integer)
    fn: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    unscorable: Mapped[int] = mapped_column(Integer)
    stats_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    recipe_path: Mapped[str | None] = mapped_column(Text)
    sdk_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CalibrationItem(Base):
    """One labelled row as one calibrated judge saw it: every disagreement is a row here."""

    __tablename__ = "calibration_items"
    __table_args__ = (Index("uq_calibration_items_row", "calibration_id", "item_index", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    calibration_id: Mapped[int] = mapped_column(ForeignKey("calibrations.id", ondelete="CASCADE"))
    item_index: Mapped[int] = mapped_column(Integer)  # the row's position in the set
    request: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    human_label: Mapped[bool] = mapped_column(Boolean)  # true: the humans say jailbroken
    status: Mapped[str] = mapped_column(String(20))  # scored, error, unscorable
    verdict: Mapped[bool | None] = mapped_column(Boolean)  # the judge's jailbroken; NULL when not scored
    raw: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class CachedResponse(Base):
    """Deterministic responses by call key: re-runs and resumes cost nothing."""

    __tablename__ = "response_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(500))
    response: Mapped[str] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TrainingRun(Base):
    """One `r2d-sdk train` configuration trained once: its config, data, checkpoint and outcome.

    Evaluation runs that answer with its checkpoint point here: `runs.training_run_id` and,
    per defense, the `defense_training_runs` view (docs/r2d.md shows the join).
    """

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # running, completed, interrupted, failed
    base_model: Mapped[str] = mapped_column(String(500))
    config_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(64))
    data_hash: Mapped[str] = mapped_column(String(64))
    data_path: Mapped[str | None] = mapped_column(Text)
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    n_heldout: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    output_dir: Mapped[str | None] = mapped_column(Text)
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    checkpoint_hash: Mapped[str | None] = mapped_column(String(64))
    metrics_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recipe_hash: Mapped[str | None] = mapped_column(String(64))
    sdk_version: Mapped[str] = mapped_column(String(40))
    git_commit: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TrainingStep(Base):
    """Metrics of one optimizer step (split `train`) or one held-out evaluation (split `heldout`)."""

    __tablename__ = "training_steps"
    __table_args__ = (Index("uq_training_steps_point", "training_run_id", "split", "step", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    training_run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(20))
    loss: Mapped[float | None] = mapped_column(Float)
    ce: Mapped[float | None] = mapped_column(Float)
    cpo: Mapped[float | None] = mapped_column(Float)
    pivot_acc: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
