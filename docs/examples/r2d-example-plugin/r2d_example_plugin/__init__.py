"""Example r2d-sdk plugins. Importing this module registers them (see pyproject's entry point)."""

from r2d_example_plugin import attacks, defenses, judges  # noqa: F401
