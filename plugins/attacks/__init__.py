"""Built-in attacks."""

from r2d_plugins.attacks import artifact, direct, template  # noqa: F401
