"""Test helpers for code built on typhoon: Tornado's ``tornado.testing`` API and more.

Layer 6 (assembly): may import any typhoon module.

* :class:`AsyncTestCase` -- a ``unittest.TestCase`` with its own event loop
  (``self.io_loop``); :func:`gen_test` runs ``async def`` test methods on it, bounded
  by :func:`get_async_test_timeout` (``ASYNC_TEST_TIMEOUT``, default 5 seconds).
* :class:`AsyncHTTPTestCase` / :class:`AsyncHTTPSTestCase` -- a real server for
  ``get_app()`` on a loopback port per test, ``self.fetch(path)``; the TLS variant
  ships its own test certificate (:data:`TEST_CERTFILE`, :data:`TEST_KEYFILE`,
  signed by :data:`TEST_CA_CERTS`).
* :class:`ExpectLog` -- expect (and silence) a log message.
* :func:`bind_unused_port`, :func:`main`.
* :mod:`typhoon.testing.pytest_plugin` -- pytest fixtures (``typhoon_app``,
  ``http_server``, ``http_client``, ``unused_port``) and ``async def`` tests; pytest
  loads it automatically once typhoon is installed.
* :mod:`typhoon.testing.streams` -- in-memory and loopback stream pairs, and the
  conformance checks every stream implementation passes.

A Tornado test module ports by replacing ``tornado`` with ``typhoon`` in its imports.
"""

from __future__ import annotations

__all__ = [
    "TEST_CA_CERTS",
    "TEST_CERTFILE",
    "TEST_KEYFILE",
    "AsyncHTTPSTestCase",
    "AsyncHTTPTestCase",
    "AsyncTestCase",
    "ExpectLog",
    "bind_unused_port",
    "gen_test",
    "get_async_test_timeout",
    "main",
]

from typhoon.testing._asynctest import AsyncTestCase, gen_test, get_async_test_timeout
from typhoon.testing._expectlog import ExpectLog
from typhoon.testing._httptest import (
    TEST_CA_CERTS,
    TEST_CERTFILE,
    TEST_KEYFILE,
    AsyncHTTPSTestCase,
    AsyncHTTPTestCase,
    bind_unused_port,
)
from typhoon.testing._main import main
