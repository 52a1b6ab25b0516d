"""Dataset files: where to find them and how to read them."""

from r2d_sdk.data._resolve import DataSource, resolve_data_file
from r2d_sdk.data._tables import read_table

__all__ = ["DataSource", "read_table", "resolve_data_file"]
