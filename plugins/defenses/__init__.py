"""Built-in defenses."""

from r2d_plugins.defenses import none  # noqa: F401
