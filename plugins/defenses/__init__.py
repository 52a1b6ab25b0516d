"""Built-in defenses."""

from r2d_plugins.defenses import none, self_reminder  # noqa: F401
