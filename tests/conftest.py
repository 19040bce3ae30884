"""Shared test configuration: async test functions run on a fresh event loop with a deadline."""

from __future__ import annotations

import asyncio
import inspect
import os
from typing import Any

import pytest

#: Seconds an async test may run before it fails (override with ASYNC_TEST_TIMEOUT).
ASYNC_TEST_TIMEOUT = float(os.environ.get("ASYNC_TEST_TIMEOUT", "30"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests to completion on a new loop, bounded by ASYNC_TEST_TIMEOUT."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}

    async def bounded() -> None:
        await asyncio.wait_for(pyfuncitem.obj(**kwargs), ASYNC_TEST_TIMEOUT)

    asyncio.run(bounded())
    return True
