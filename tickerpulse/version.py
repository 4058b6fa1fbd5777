"""The installed package's version, as `tickerpulse --version` and the metrics report it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("tickerpulse")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
