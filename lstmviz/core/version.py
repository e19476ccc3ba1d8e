"""The package's version, written once in pyproject.toml and read from the installed metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

NOT_INSTALLED = "0+unknown"  # a source tree on sys.path that pip never installed


def package_version() -> str:
    """The installed lstmviz's version (pyproject.toml's), or ``NOT_INSTALLED``."""
    try:
        return version("lstmviz")
    except PackageNotFoundError:
        return NOT_INSTALLED
