"""Built-in attacks."""

from r2d_plugins.attacks import direct  # noqa: F401
