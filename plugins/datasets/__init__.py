"""Built-in datasets."""

from r2d_plugins.datasets import advbench, file, jbb, xstest  # noqa: F401
