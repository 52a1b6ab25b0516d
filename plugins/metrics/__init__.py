"""Built-in metrics."""

from r2d_plugins.metrics import rates, xstest  # noqa: F401
