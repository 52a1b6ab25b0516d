"""The SDK version, read from the installed distribution."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("r2d-sdk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
