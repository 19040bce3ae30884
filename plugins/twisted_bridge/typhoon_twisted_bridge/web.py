"""Serving a twisted.web resource tree from a typhoon :class:`~typhoon.web.Application`.

Mount the tree with a rule and the rest of the application keeps its own handlers::

    app = Application([
        resource_rule("/legacy", legacy_root),
        (r"/", MainHandler),
    ])

twisted.web does what it always does (traversal with ``getChild``, ``render_GET`` and
friends, ``NOT_DONE_YET`` with a later ``request.finish()``, producers, sessions, error
pages); typhoon's server reads the request and sends the response, so the application's
settings (``xheaders``, body size limits, output transforms, XSRF checks) apply to these
URLs as to any other.
"""

from __future__ import annotations

__all__ = ["TwistedResourceHandler", "resource_rule"]

import contextlib
import re
import weakref
from typing import Any

from twisted.web.resource import IResource
from twisted.web.server import Site
from typhoon.errors import StreamClosedError
from typhoon.web import RequestHandler

from typhoon_twisted_bridge._channel import BridgeChannel, MountedSite
from typhoon_twisted_bridge.reactor import ensure_reactor

#: One Site (and so one set of sessions) per resource tree mounted without a Site.
_sites: weakref.WeakKeyDictionary[Any, Site] = weakref.WeakKeyDictionary()


class TwistedResourceHandler(RequestHandler):
    """Answers requests with a twisted.web resource tree.

    Route keyword arguments: ``resource`` (the root ``IResource``) or ``site`` (a
    ``twisted.web.server.Site``, for its request factory, session settings and
    ``displayTracebacks``), and ``prefix``, the URL path the tree is mounted at: its
    segments form the request's ``prepath`` and traversal starts below them.
    :func:`resource_rule` builds the whole rule.

    The request reaches twisted.web with typhoon's view of it: the full body already
    read, the client address after ``xheaders``, ``isSecure()`` true for HTTPS. Each
    ``request.write`` is flushed at once, so responses stream; when the client goes
    away the request's ``notifyFinish()`` Deferred fails and producers are stopped.
    Twisted's asyncio reactor is installed on the running loop if it is not yet.
    """

    _channel: BridgeChannel | None = None

    def initialize(  # type: ignore[override]
        self, resource: Any = None, site: Site | None = None, prefix: str = ""
    ) -> None:
        """Take the route's tree (``resource`` or ``site``) and mount point (``prefix``)."""
        if (resource is None) == (site is None):
            raise TypeError("TwistedResourceHandler needs exactly one of resource= or site=")
        if resource is not None and not IResource.providedBy(resource):
            raise TypeError(f"{resource!r} does not provide twisted.web's IResource")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"prefix must start with '/': {prefix!r}")
        self._resource = resource
        self._site = site
        self._prefix = prefix.rstrip("/")

    async def _serve(self, *args: Any, **kwargs: Any) -> None:
        ensure_reactor()
        site = self._site if self._site is not None else _site_for(self._resource)
        channel = BridgeChannel(self, MountedSite(site, self._prefix))
        self._channel = channel
        channel.start()
        await channel.done
        if channel.finished is not None:
            with contextlib.suppress(StreamClosedError):
                await channel.finished

    get = head = post = put = delete = patch = options = _serve

    def on_connection_close(self) -> None:
        """Tell twisted.web's request that the client is gone."""
        super().on_connection_close()
        if self._channel is not None:
            self._channel.connection_lost()


def resource_rule(
    prefix: str, resource: Any = None, *, site: Site | None = None
) -> tuple[str, type[TwistedResourceHandler], dict[str, Any]]:
    """The URL rule that serves a twisted.web tree under ``prefix`` (``""`` for all).

    Pass the root ``resource`` or a ``site``. The rule matches ``prefix`` itself and
    every path below it; the root resource answers ``prefix`` and ``prefix + "/"``
    addresses its ``b""`` child, as in twisted.web.
    """
    mount = prefix.rstrip("/")
    pattern = re.escape(mount) + r"(?:/.*)?" if mount else r"/.*"
    kwargs: dict[str, Any] = {"prefix": mount}
    if site is not None:
        kwargs["site"] = site
    if resource is not None:
        kwargs["resource"] = resource
    return (pattern, TwistedResourceHandler, kwargs)


def _site_for(resource: Any) -> Site:
    """The Site serving ``resource``, made on first use (the reactor is installed by then)."""
    try:
        site = _sites.get(resource)
    except TypeError:
        # Not weakly referable: a new Site per request (sessions do not persist).
        return Site(resource, reactor=ensure_reactor())
    if site is None:
        site = _sites[resource] = Site(resource, reactor=ensure_reactor())
    return site
