"""Shared test configuration.

``async def`` tests run through typhoon's own pytest plugin
(:mod:`typhoon.testing.pytest_plugin`, loaded from its ``pytest11`` entry point): each
runs on a fresh event loop with a deadline. This project's suites move large amounts
of data on a shared machine, so their default deadline is 30 seconds rather than the
plugin's 5; ``ASYNC_TEST_TIMEOUT`` still overrides it.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("ASYNC_TEST_TIMEOUT", "30")


def pytest_configure(config: pytest.Config) -> None:
    """Fail early, with a clear message, when the typhoon plugin is not loaded."""
    if not config.pluginmanager.has_plugin("typhoon"):
        raise pytest.UsageError(
            "the typhoon pytest plugin is not loaded: reinstall the workspace "
            "(uv sync) so its pytest11 entry point is registered, and do not pass -p no:typhoon"
        )
