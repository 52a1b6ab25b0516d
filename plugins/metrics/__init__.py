"""Built-in metrics."""

from r2d_plugins.metrics import mean_score, rates, xstest  # noqa: F401
