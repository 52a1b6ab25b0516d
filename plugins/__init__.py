"""The built-in plugins. Registered through the `r2d_sdk.plugins` entry point like any
third-party package, and written only against the public `r2d_sdk` API."""

from r2d_plugins import attacks, datasets, defenses, judges, metrics  # noqa: F401  (registers)
