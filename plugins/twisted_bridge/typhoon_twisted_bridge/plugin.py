"""The ``typhoon`` entry point of the Twisted bridge: its hook implementations.

Always active: Twisted's ``Deferred`` is registered as an awaitable, so handlers, hooks,
``gen.coroutine``, ``gen.multi`` and ``gen.with_timeout`` accept Deferreds. That changes
nothing for other objects and needs no reactor.

Enabled by the ``twisted_reactor`` setting: the application installs Twisted's asyncio
reactor on its event loop as the first step of startup (before every other plugin's
``startup``) and, if it was the one that installed it, shuts the reactor down (Twisted's
shutdown triggers, connections, thread pool) when the application shuts down.
"""

from __future__ import annotations

__all__ = [
    "prepare_event_loop",
    "register_awaitable_adapters",
    "register_settings",
    "shutdown",
]

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from typhoon import hookimpl
from typhoon.hookspecs import Setting

from typhoon_twisted_bridge.deferred import deferred_to_future
from typhoon_twisted_bridge.reactor import _install, stop_reactor

#: Applications whose startup installed the reactor, and so stop it at shutdown.
_owners: weakref.WeakSet[Any] = weakref.WeakSet()


@hookimpl
def register_settings() -> Sequence[Setting]:
    """Declare ``twisted_reactor``."""
    return [
        Setting(
            "twisted_reactor",
            bool,
            False,
            "install Twisted's asyncio reactor on the event loop at startup",
        )
    ]


@hookimpl
def register_awaitable_adapters(
    app: Any,
) -> Sequence[tuple[type[Any], Callable[[Any], Awaitable[Any]]]]:
    """Make Twisted's ``Deferred`` awaitable wherever typhoon awaits a result."""
    return [(Deferred, deferred_to_future)]


@hookimpl(tryfirst=True)
def prepare_event_loop(app: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Install Twisted's asyncio reactor on ``loop`` when ``twisted_reactor`` is set."""
    if not app.settings.get("twisted_reactor"):
        return
    _reactor, created = _install(loop)
    if created:
        _owners.add(app)


@hookimpl
async def shutdown(app: Any) -> None:
    """Shut the reactor down if this application's startup installed it."""
    if app in _owners:
        _owners.discard(app)
        await stop_reactor()
