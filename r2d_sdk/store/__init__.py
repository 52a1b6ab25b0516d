"""The results database: typed models, migrate-on-open, the single writer, the response cache,
read-only SQL."""

from r2d_sdk.store._calibrations import (
    CORRECTION_FIELDS,
    CalibrationItemRecord,
    CalibrationRecord,
    Calibrations,
)
from r2d_sdk.store._lease import Heartbeat
from r2d_sdk.store._migrate import current_revision, downgrade, head_revision, make_engine, upgrade
from r2d_sdk.store._open import open_store
from r2d_sdk.store._requests import RequestRecord
from r2d_sdk.store._responses import ResponseTable
from r2d_sdk.store._schema import (
    Base,
    CachedResponse,
    Calibration,
    CalibrationItem,
    GuardRequest,
    JudgmentRow,
    MetricRow,
    ModelCall,
    Run,
    Sample,
    TrainingRun,
    TrainingStep,
)
from r2d_sdk.store._sql import check_read_only, read_only_query
from r2d_sdk.store._store import ErrorSummary, SampleRecord, Store, package_versions
from r2d_sdk.store._training import TrainingRuns

__all__ = ["CORRECTION_FIELDS", "Base", "CachedResponse", "Calibration", "CalibrationItem", "CalibrationItemRecord",
           "CalibrationRecord", "Calibrations", "ErrorSummary", "GuardRequest", "Heartbeat", "JudgmentRow", "MetricRow",
           "ModelCall", "RequestRecord", "ResponseTable", "Run", "Sample", "SampleRecord", "Store", "TrainingRun",
           "TrainingRuns", "TrainingStep", "check_read_only",
           "current_revision", "downgrade", "head_revision", "make_engine", "open_store", "package_versions",
           "read_only_query", "upgrade"]
