"""Twisted and typhoon on one event loop, in one process (``tornado.platform.twisted``).

* :func:`install` puts Twisted's asyncio reactor on typhoon's loop (the plugin does it at
  startup when the ``twisted_reactor`` setting is true); :func:`stop_reactor` runs
  Twisted's shutdown without stopping the loop.
* Deferreds are awaitable wherever typhoon awaits a result once the plugin is loaded;
  :func:`deferred_to_future` and :func:`as_deferred` convert explicitly, with
  cancellation crossing both ways.
* :class:`TwistedResolver` resolves names with ``twisted.names``.
* :class:`TwistedResourceHandler` and :func:`resource_rule` serve a twisted.web resource
  tree from a typhoon application.
"""

from __future__ import annotations

__all__ = [
    "ReactorError",
    "TwistedResolver",
    "TwistedResourceHandler",
    "as_deferred",
    "deferred_to_future",
    "ensure_reactor",
    "install",
    "installed_reactor",
    "resource_rule",
    "stop_reactor",
]

from typhoon_twisted_bridge.deferred import as_deferred, deferred_to_future
from typhoon_twisted_bridge.errors import ReactorError
from typhoon_twisted_bridge.reactor import ensure_reactor, install, installed_reactor, stop_reactor
from typhoon_twisted_bridge.resolver import TwistedResolver
from typhoon_twisted_bridge.web import TwistedResourceHandler, resource_rule
