"""User-facing errors: every one says what went wrong and how to fix it."""

from __future__ import annotations


class R2DError(Exception):
    """An error the user can fix; the CLI prints it without a traceback.

    Args:
        message: what went wrong.
        fix: the command, field or package that fixes it.
        exit_code: process exit status the CLI uses (2 for bad input).
    """

    def __init__(self, message: str, fix: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class ConfigError(R2DError):
    """Bad input: a recipe, a plugin's arguments, a data file. Exit code 2."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message, fix, exit_code=2)


class ModelCallError(R2DError):
    """A model call failed after its retries; recorded as an error, never as a verdict."""


def missing_package(package: str, purpose: str) -> R2DError:
    """The error for an optional dependency that is not installed."""
    return R2DError(f"{purpose} needs the package '{package}', which is not installed",
                    fix=f"pip install '{package}'")


class Unavailable(R2DError):
    """Raised by a component's constructor when an optional input is absent (e.g. an artifact file
    the recipe marks `if_missing: skip`): the runner leaves that component out of the grid and says so."""
