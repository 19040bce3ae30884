"""A pytest plugin: ``async def`` tests and fixtures for typhoon applications.

Layer 6 (assembly). Imports ``typhoon.testing``, ``typhoon.httpserver``,
``typhoon.httpclient``, ``typhoon.ioloop``, ``typhoon.netutil``, ``typhoon.web`` and
pytest.

pytest loads it automatically once typhoon is installed (entry point ``typhoon`` in
group ``pytest11``); ``-p no:typhoon`` turns it off. What it provides:

* ``async def`` test functions run to completion on a fresh asyncio loop (as
  ``asyncio.run`` makes it), bounded by
  :func:`~typhoon.testing.get_async_test_timeout` (``ASYNC_TEST_TIMEOUT``) or by
  ``@pytest.mark.gen_test(timeout=seconds)``. A test that uses the ``io_loop`` fixture
  (directly or through the fixtures below) runs on that loop, so fixtures and test
  share it.
* Fixtures: ``io_loop`` (the test's :class:`~typhoon.ioloop.IOLoop`, current while the
  test runs), ``unused_port`` (a free loopback port), ``typhoon_app`` (define it: the
  application under test), ``http_server`` (serves ``typhoon_app`` on
  ``127.0.0.1:unused_port``, with the application's startup and shutdown hooks run
  around the test), ``base_url`` (``http://127.0.0.1:<port>``) and ``http_client``
  (an :class:`~typhoon.httpclient.AsyncHTTPClient` closed after the test).

Example::

    @pytest.fixture
    def typhoon_app():
        return Application([("/", MainHandler)])

    async def test_home(http_server, http_client, base_url):
        response = await http_client.fetch(base_url + "/")
        assert response.code == 200
"""

from __future__ import annotations

__all__ = [
    "base_url",
    "http_client",
    "http_server",
    "io_loop",
    "pytest_configure",
    "pytest_pyfunc_call",
    "typhoon_app",
    "unused_port",
]

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from typhoon.errors import TyphoonTimeoutError
from typhoon.httpclient import AsyncHTTPClient
from typhoon.httpserver import HTTPServer
from typhoon.ioloop import IOLoop
from typhoon.netutil import bind_sockets
from typhoon.testing._asynctest import close_test_loop, get_async_test_timeout, thread_loop
from typhoon.testing._httptest import bind_unused_port
from typhoon.web import Application


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``gen_test`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        "gen_test(timeout=None): time limit in seconds of an async def test "
        "(default: ASYNC_TEST_TIMEOUT, or 5)",
    )


def _timeout(item: pytest.Function) -> float:
    marker = item.get_closest_marker("gen_test")
    if marker is not None:
        timeout = marker.kwargs.get("timeout", marker.args[0] if marker.args else None)
        if timeout is not None:
            return float(timeout)
    return get_async_test_timeout()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test on its ``io_loop`` fixture, or on a loop of its own."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    run = functools.partial(function, **kwargs)
    timeout = _timeout(pyfuncitem)
    shared = pyfuncitem.funcargs.get("io_loop")
    if isinstance(shared, IOLoop):
        shared.run_sync(run, timeout=timeout)
        return True
    asyncio.run(_bounded(run, timeout))
    return True


async def _bounded(run: Callable[[], Awaitable[Any]], timeout: float) -> None:
    """Await ``run()`` within ``timeout`` seconds (plain asyncio: no IOLoop is created,
    so the test sees the loop exactly as ``asyncio.run`` makes it)."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            await run()
    except TimeoutError:
        if deadline.expired():
            raise TyphoonTimeoutError(f"async test timed out after {timeout} seconds") from None
        raise


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    """A new event loop for the test, made the thread's current loop until it ends.

    Pending tasks are cancelled and the loop is closed after the test.
    """
    previous = thread_loop()
    loop = IOLoop(make_current=False)
    asyncio.set_event_loop(loop.asyncio_loop)
    try:
        yield loop
    finally:
        close_test_loop(loop)
        asyncio.set_event_loop(previous)


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it)."""
    sock, port = bind_unused_port()
    sock.close()
    return port


@pytest.fixture
def typhoon_app() -> Any:
    """The application under test: define a fixture of this name in your tests."""
    pytest.fail(
        "define a 'typhoon_app' fixture returning the application to serve "
        "(for example an Application) to use http_server",
        pytrace=False,
    )


@pytest.fixture
def http_server(io_loop: IOLoop, typhoon_app: Any, unused_port: int) -> Iterator[HTTPServer]:
    """An HTTP server for ``typhoon_app`` on ``127.0.0.1:unused_port``.

    An ``Application``'s ``startup`` hooks run before the test and its ``shutdown``
    hooks after; open connections are closed when the test ends.
    """
    timeout = get_async_test_timeout()
    server = HTTPServer(typhoon_app)
    server.add_sockets(bind_sockets(unused_port, "127.0.0.1"))
    if isinstance(typhoon_app, Application):
        io_loop.run_sync(typhoon_app.startup, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()
        io_loop.run_sync(server.close_all_connections, timeout=timeout)
        if isinstance(typhoon_app, Application):
            io_loop.run_sync(typhoon_app.shutdown, timeout=timeout)


@pytest.fixture
def base_url(unused_port: int) -> str:
    """``http://127.0.0.1:<unused_port>``, where ``http_server`` listens."""
    return f"http://127.0.0.1:{unused_port}"


@pytest.fixture
def http_client(io_loop: IOLoop) -> Iterator[AsyncHTTPClient]:
    """A private :class:`~typhoon.httpclient.AsyncHTTPClient` on the test's loop."""
    client = AsyncHTTPClient(force_instance=True)
    try:
        yield client
    finally:
        client.close()
