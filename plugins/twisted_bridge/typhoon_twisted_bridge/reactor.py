"""Twisted's asyncio reactor on typhoon's event loop: install it, find it, stop it.

Twisted keeps one reactor per process, imported as ``twisted.internet.reactor``. Here it
is Twisted's ``AsyncioSelectorReactor`` bound to the asyncio loop typhoon runs, so
Twisted protocols, timers and Deferreds and typhoon's streams and handlers share one
loop in one thread. The reactor is put in its running state as soon as it is installed
(Twisted code that waits for ``callWhenRunning`` or uses the reactor's thread pool works
at once), but it never runs or stops the loop itself: typhoon does. Stopping the
reactor (:func:`stop_reactor`, or Twisted code calling ``reactor.stop()``) runs
Twisted's shutdown triggers and leaves the loop running.

The asyncio reactor watches file descriptors, so it needs a selector event loop: uvloop
and the Windows proactor loop cannot carry it.
"""

from __future__ import annotations

__all__ = ["ensure_reactor", "install", "installed_reactor", "stop_reactor"]

import asyncio
import asyncio.selector_events
import contextlib
import sys

from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.error import (
    ReactorAlreadyRunning,
    ReactorNotRestartable,
    ReactorNotRunning,
)
from twisted.internet.main import installReactor
from typhoon.concurrent import future_set_result_unless_cancelled
from typhoon.ioloop import IOLoop

from typhoon_twisted_bridge.errors import ReactorError

#: The module name under which Twisted looks up the process-wide reactor.
_REACTOR_MODULE = "twisted.internet.reactor"


class _SharedLoopReactor(AsyncioSelectorReactor):
    """Twisted's asyncio reactor for a loop that typhoon runs, not Twisted.

    It differs from its base in two ways: shutting it down never stops the asyncio
    loop (the loop belongs to typhoon and may serve other code), and ``run()`` is
    refused with a message saying how the loop is run instead.
    """

    def run(self, installSignalHandlers: bool = True) -> None:
        """Refuse: the reactor is already running on typhoon's loop."""
        raise ReactorError(
            "Twisted's reactor is running on typhoon's event loop: start the loop with "
            "IOLoop.current().start() or asyncio.run(...), not reactor.run()"
        )

    def crash(self) -> None:
        """Leave the running state without stopping the asyncio loop."""
        super(AsyncioSelectorReactor, self).crash()


def installed_reactor() -> AsyncioSelectorReactor | None:
    """The asyncio reactor installed in this process, or ``None`` when none is.

    Raises:
        ReactorError: a reactor of another kind is installed.
    """
    existing = sys.modules.get(_REACTOR_MODULE)
    if existing is None:
        return None
    if not isinstance(existing, AsyncioSelectorReactor):
        raise ReactorError(
            f"Twisted's {type(existing).__module__}.{type(existing).__qualname__} is "
            "already installed in this process; typhoon needs Twisted's asyncio reactor. "
            "Install it (typhoon_twisted_bridge.install()) before anything imports "
            "twisted.internet.reactor"
        )
    return existing


def install(loop: asyncio.AbstractEventLoop | IOLoop | None = None) -> AsyncioSelectorReactor:
    """Install Twisted's asyncio reactor on ``loop`` and return it.

    ``loop`` defaults to the loop of ``IOLoop.current()`` (the running loop inside a
    coroutine). Call it once, before any code imports ``twisted.internet.reactor``,
    which would install Twisted's default reactor instead; :func:`installed_reactor`
    returns the reactor afterwards. (The plugin's ``prepare_event_loop`` hook reuses a
    reactor already on the application's loop, so several applications can share it.)

    Raises:
        ReactorError: a reactor is already installed (this one, on this or another loop,
            or another kind), or ``loop`` is closed or not a selector loop.
    """
    reactor, created = _install(loop)
    if not created:
        raise ReactorError(
            "Twisted's asyncio reactor is already installed on this loop; install() runs "
            "once per process (use installed_reactor() to get the reactor)"
        )
    return reactor


def ensure_reactor(
    loop: asyncio.AbstractEventLoop | IOLoop | None = None,
) -> AsyncioSelectorReactor:
    """The asyncio reactor on ``loop``: the one already installed there, or a new one.

    Unlike :func:`install`, calling it again is fine; it still refuses another loop or
    another kind of reactor with :class:`ReactorError`.
    """
    return _install(loop)[0]


def _install(
    loop: asyncio.AbstractEventLoop | IOLoop | None = None,
) -> tuple[AsyncioSelectorReactor, bool]:
    """:func:`install`, also saying whether this call created the reactor."""
    target = _asyncio_loop(loop)
    existing = installed_reactor()
    if existing is not None:
        _check_existing(existing, target)
        return existing, False
    if not isinstance(target, asyncio.selector_events.BaseSelectorEventLoop):
        raise ReactorError(
            f"Twisted's asyncio reactor needs a selector event loop, not "
            f"{type(target).__module__}.{type(target).__qualname__} (uvloop and the "
            "Windows proactor loop cannot carry it)"
        )
    if target.is_closed():
        raise ReactorError("cannot install Twisted's reactor on a closed event loop")
    reactor = _SharedLoopReactor(target)
    installReactor(reactor)
    # Typhoon handles signals; Twisted only needs to be in its running state.
    reactor.startRunning(installSignalHandlers=False)
    return reactor, True


async def stop_reactor() -> None:
    """Shut Twisted's reactor down, on the running loop, and wait until it is done.

    Twisted's shutdown triggers run in their three phases (a ``before`` trigger may
    return a Deferred, which is waited for); the reactor then drops its connections and
    stops its thread pool. The event loop keeps running. Does nothing when no reactor
    is installed or it is already stopped. A stopped reactor cannot be started again.
    """
    reactor = installed_reactor()
    if reactor is None or not reactor.running:
        return
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    trigger = reactor.addSystemEventTrigger(
        "after", "shutdown", future_set_result_unless_cancelled, done, None
    )
    # ReactorNotRunning: someone else asked first and the shutdown is on its way.
    with contextlib.suppress(ReactorNotRunning):
        reactor.stop()
    try:
        await done
    except asyncio.CancelledError:
        reactor.removeSystemEventTrigger(trigger)
        raise


def _asyncio_loop(loop: asyncio.AbstractEventLoop | IOLoop | None) -> asyncio.AbstractEventLoop:
    if loop is None:
        current = IOLoop.current()
        assert current is not None
        return current.asyncio_loop
    if isinstance(loop, IOLoop):
        return loop.asyncio_loop
    return loop


def _check_existing(reactor: AsyncioSelectorReactor, loop: asyncio.AbstractEventLoop) -> None:
    bound: asyncio.AbstractEventLoop = reactor._asyncioEventloop
    if bound is not loop:
        raise ReactorError(
            "Twisted's asyncio reactor is already installed on another event loop; a "
            "process has one reactor, so Twisted code can only run on that loop"
        )
    if reactor.running:
        return
    if isinstance(reactor, _SharedLoopReactor):
        raise ReactorError("Twisted's reactor was stopped and cannot be started again")
    # An asyncio reactor the application installed itself: bring it to running state.
    try:
        reactor.startRunning(installSignalHandlers=False)
    except (ReactorAlreadyRunning, ReactorNotRestartable) as exc:
        raise ReactorError(f"Twisted's reactor cannot be started: {exc!r}") from exc
