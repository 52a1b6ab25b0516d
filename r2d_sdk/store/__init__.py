"""The results database: typed models, migrate-on-open, the single writer, read-only SQL."""

from r2d_sdk.store._migrate import current_revision, downgrade, head_revision, make_engine, upgrade
from r2d_sdk.store._schema import (
    Base,
    CachedResponse,
    JudgmentRow,
    MetricRow,
    ModelCall,
    Run,
    Sample,
    TrainingRun,
    TrainingStep,
)
from r2d_sdk.store._store import SampleRecord, Store
from r2d_sdk.store._training import TrainingRuns

__all__ = ["Base", "CachedResponse", "JudgmentRow", "MetricRow", "ModelCall", "Run", "Sample", "SampleRecord",
           "Store", "TrainingRun", "TrainingRuns", "TrainingStep", "current_revision", "downgrade", "head_revision",
           "make_engine", "upgrade"]
