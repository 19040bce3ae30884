"""Installing, sharing and stopping Twisted's asyncio reactor; the plugin's loop hooks.

Every test runs in a forked child process (see conftest.py): the reactor is per process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest
from _twisted_helpers import make_app
from twisted.internet import threads
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.defer import Deferred
from typhoon import hookimpl
from typhoon.ioloop import IOLoop
from typhoon_twisted_bridge import (
    ReactorError,
    deferred_to_future,
    ensure_reactor,
    install,
    installed_reactor,
    stop_reactor,
)

pytestmark = pytest.mark.reactor


async def test_install_puts_the_asyncio_reactor_on_the_running_loop() -> None:
    loop = asyncio.get_running_loop()
    assert installed_reactor() is None
    reactor = install()
    assert isinstance(reactor, AsyncioSelectorReactor)
    assert sys.modules["twisted.internet.reactor"] is reactor
    assert installed_reactor() is reactor
    assert reactor.running
    # Twisted's timers fire on typhoon's loop, and callWhenRunning runs at once.
    fired: asyncio.Future[str] = loop.create_future()
    reactor.callLater(0.01, fired.set_result, "tick")
    assert await asyncio.wait_for(fired, 5) == "tick"
    ran: list[int] = []
    reactor.callWhenRunning(ran.append, 1)
    assert ran == [1]


async def test_installing_twice_is_refused_clearly() -> None:
    reactor = install()
    for again in ((), (asyncio.get_running_loop(),), (IOLoop.current(),)):
        with pytest.raises(ReactorError, match="already installed"):
            install(*again)
    assert installed_reactor() is reactor


async def test_ensure_reactor_installs_once_and_then_reuses() -> None:
    reactor = ensure_reactor()
    assert ensure_reactor() is reactor
    assert ensure_reactor(IOLoop.current()) is reactor
    assert installed_reactor() is reactor
    with pytest.raises(ReactorError, match="already installed"):
        install()


def test_installing_on_a_second_loop_is_refused() -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        reactor = install(first)
        with pytest.raises(ReactorError, match="another event loop"):
            install(second)
        assert installed_reactor() is reactor
    finally:
        first.close()
        second.close()


def test_installing_after_another_reactor_is_refused() -> None:
    # The classic mistake: importing the global reactor installs Twisted's default one.
    from twisted.internet import reactor as default_reactor

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ReactorError, match="already installed") as info:
            install(loop)
        assert type(default_reactor).__name__ in str(info.value)
        with pytest.raises(ReactorError):
            installed_reactor()
    finally:
        loop.close()


def test_installing_after_an_asyncio_reactor_installed_by_hand_is_refused() -> None:
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    try:
        asyncioreactor.install(loop)
        with pytest.raises(ReactorError, match="already installed"):
            install(loop)
        reactor = installed_reactor()
        assert type(reactor) is AsyncioSelectorReactor
    finally:
        loop.close()


def test_a_loop_that_is_not_a_selector_loop_is_refused() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        with pytest.raises(ReactorError, match="selector event loop"):
            install(loop)
        assert installed_reactor() is None
    finally:
        loop.close()


def test_a_closed_loop_is_refused() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(ReactorError, match="closed"):
        install(loop)
    assert installed_reactor() is None


async def test_reactor_run_is_refused_with_a_hint() -> None:
    reactor = install()
    with pytest.raises(ReactorError, match=r"reactor\.run"):
        reactor.run()


async def test_stop_reactor_runs_twisted_shutdown_and_keeps_the_loop() -> None:
    reactor = install()
    events: list[str] = []
    before: Deferred[None] = Deferred()

    def before_shutdown() -> Deferred[None]:
        events.append("before")
        return before

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
    reactor.addSystemEventTrigger("after", "shutdown", events.append, "after")
    # The reactor is running, so its thread pool starts and serves deferToThread.
    name = await deferred_to_future(threads.deferToThread(lambda: threading.current_thread().name))
    assert name != threading.current_thread().name
    pool = reactor.threadpool
    assert pool is not None
    assert pool.started

    stopping = asyncio.ensure_future(stop_reactor())
    await asyncio.sleep(0.05)
    # Shutdown waits for the Deferred a "before" trigger returned.
    assert events == ["before"]
    assert not stopping.done()
    before.callback(None)
    await asyncio.wait_for(stopping, 5)
    assert events == ["before", "after"]
    assert not reactor.running
    assert not pool.started
    assert reactor.threadpool is None
    # The loop itself goes on.
    await asyncio.sleep(0.01)
    await stop_reactor()
    with pytest.raises(ReactorError, match="cannot be started again"):
        install()


async def test_reactor_stop_from_twisted_code_leaves_the_loop_running() -> None:
    reactor = install()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    reactor.addSystemEventTrigger("after", "shutdown", done.set_result, None)
    reactor.stop()
    await asyncio.wait_for(done, 5)
    assert not reactor.running
    assert loop.is_running()
    # A second stop while Twisted's own is finished does nothing.
    await stop_reactor()


async def test_stop_reactor_without_a_reactor_does_nothing() -> None:
    await stop_reactor()
    assert installed_reactor() is None


# --- the plugin's hooks -----------------------------------------------------------------


async def test_prepare_event_loop_installs_the_reactor_before_other_plugins() -> None:
    seen: dict[str, Any] = {}

    class Probe:
        @hookimpl
        def prepare_event_loop(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
            seen["prepare"] = installed_reactor()

        @hookimpl
        def startup(self, app: Any) -> None:
            seen["startup"] = installed_reactor()

    app = make_app([], Probe(), twisted_reactor=True)
    assert installed_reactor() is None
    await app.startup()
    reactor = seen["prepare"]
    assert reactor is not None
    assert seen["startup"] is reactor
    assert reactor.running
    assert reactor._asyncioEventloop is asyncio.get_running_loop()
    await app.shutdown()
    # The application installed it, so its shutdown stopped it.
    assert not reactor.running


async def test_an_application_leaves_a_reactor_it_did_not_install_running() -> None:
    reactor = install()
    app = make_app([], twisted_reactor=True)
    await app.startup()
    await app.shutdown()
    assert reactor.running


async def test_the_plugin_is_inert_without_the_setting() -> None:
    app = make_app([])
    assert app.settings["twisted_reactor"] is False
    await app.startup()
    await app.shutdown()
    assert "twisted.internet.reactor" not in sys.modules
