"""Built-in datasets."""

from r2d_plugins.datasets import jbb  # noqa: F401
