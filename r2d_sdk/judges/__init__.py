"""Judges as instruments: calibration sets, calibration runs against human labels, and the
error-corrected rates that follow from a stored calibration (docs/judges.md)."""
