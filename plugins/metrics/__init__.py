"""Built-in metrics."""

from r2d_plugins.metrics import rates  # noqa: F401
