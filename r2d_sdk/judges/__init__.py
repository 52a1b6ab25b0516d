"""Judges as instruments: calibration sets, calibration runs against human labels, and the
error-corrected rates that follow from a stored calibration (docs/judges.md)."""

from r2d_sdk.judges._calibrate import CalibrationRun, JudgeCalibration, calibrate, calibrate_async
from r2d_sdk.judges._correct import Recorrected, correct_run
from r2d_sdk.judges._print import calibrations_table, print_calibration_run, print_calibrations
from r2d_sdk.judges._sets import (
    BUILTIN_SETS,
    DEFAULT_SET,
    JAILBROKEN_VALUES,
    SAFE_VALUES,
    CalibrationSet,
    ColumnMapping,
    LabelledRow,
    load_calibration_set,
)

__all__ = ["BUILTIN_SETS", "DEFAULT_SET", "JAILBROKEN_VALUES", "SAFE_VALUES", "CalibrationRun", "CalibrationSet",
           "ColumnMapping", "JudgeCalibration", "LabelledRow", "Recorrected", "calibrate", "calibrate_async",
           "calibrations_table", "correct_run", "load_calibration_set", "print_calibration_run", "print_calibrations"]
