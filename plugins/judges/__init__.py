"""Built-in judges."""

from r2d_plugins.judges import refusal_string  # noqa: F401
