"""The `r2d-sdk` command line: a thin layer over the Python API."""

from r2d_sdk.cli._main import cli, main

__all__ = ["cli", "main"]
