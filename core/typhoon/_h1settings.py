"""What all connections of one HTTP server share, and the queue their output waits in.

Layer 4 (private to ``typhoon.httpserver`` and :mod:`typhoon._h1wire`): imports
:mod:`typhoon.http1connection`, :mod:`typhoon.httputil` and the standard library.

:class:`ServerSettings` is made once per server and event loop and holds what would
otherwise be copied into every connection: the limits and deadlines, the delegate, the
shared read buffer, the registry of open connections. It also runs the output batching
of :mod:`typhoon._h1wire`: connections that wrote queue themselves here, and the queue is
sent once the loop's current turn has run its callbacks (by the turn's last callback on
asyncio's loops, else by one scheduled callback per turn).
"""

from __future__ import annotations

__all__ = ["CALLBACK_CONTEXT", "ServerSettings"]

import asyncio
import collections
import contextvars
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from typhoon.http1connection import HTTP1ConnectionParameters
from typhoon.httputil import (
    HTTPConnection,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
)

if TYPE_CHECKING:
    from typhoon._h1wire import WireServerConnection

#: The context the server's own callbacks (deadlines, output) run in: they touch only
#: connection state, and one shared context spares a copy of the current one each time.
CALLBACK_CONTEXT = contextvars.Context()
#: Size of the read buffer (the most one read takes from the socket).
_READ_SIZE: Final = 256 * 1024


class ServerSettings:
    """What every connection of one server shares (kept once, not per connection)."""

    __slots__ = (
        "body_timeout",
        "callback",
        "chunk_size",
        "clock",
        "connections",
        "decompress",
        "delegate",
        "done",
        "draining",
        "flush_queue",
        "flush_scheduled",
        "header_timeout",
        "loop",
        "max_body_size",
        "max_header_size",
        "no_keep_alive",
        "params",
        "read_view",
        "ready",
        "start_request",
        "whole_request",
    )

    def __init__(
        self,
        delegate: HTTPServerConnectionDelegate,
        params: HTTP1ConnectionParameters,
        max_body_size: int,
        loop: asyncio.AbstractEventLoop,
        start_request: Callable[[object, HTTPConnection], HTTPMessageDelegate] | None = None,
        callback: Callable[[HTTPServerRequest], object] | None = None,
        whole_request: Callable[[HTTPServerRequest], HTTPMessageDelegate | None] | None = None,
    ) -> None:
        self.delegate = delegate
        #: Makes the message delegate of each request (the application's own
        #: ``start_request`` when nothing needs to wrap it).
        self.start_request = start_request or delegate.start_request
        #: A plain request callback, given requests without a body directly.
        self.callback = callback
        #: The application's shortcut for a request that arrived whole without a body
        #: (see ``HTTPServer``): given the request, it returns ``None`` when it took
        #: care of it, else the delegate the message is delivered to as usual.
        self.whole_request = whole_request
        #: ``loop.time`` (the monotonic clock itself on asyncio's own loops, which
        #: spares a call per request).
        self.clock: Callable[[], float] = (
            time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        )
        self.params = params
        self.loop = loop
        self.no_keep_alive = params.no_keep_alive
        self.chunk_size = params.chunk_size
        self.max_header_size = params.max_header_size
        self.header_timeout = params.header_timeout
        self.body_timeout = params.body_timeout
        self.max_body_size = max_body_size
        self.decompress = params.decompress
        #: Set by a graceful shutdown: finish the current exchange, then close.
        self.draining = False
        #: The resolved future that writes return when nothing is pending.
        self.done: asyncio.Future[None] = loop.create_future()
        self.done.set_result(None)
        #: Open connections (the server's registry).
        self.connections: set[WireServerConnection] = set()
        #: The read buffer all connections share (see WireServerConnection.get_buffer).
        self.read_view = memoryview(bytearray(_READ_SIZE))
        #: Connections with output waiting for the end of the loop's turn.
        self.flush_queue: list[WireServerConnection] = []
        #: A callback to send the queue is scheduled.
        self.flush_scheduled = False
        #: The callbacks asyncio's loop still runs in its current turn (another loop's
        #: queue is not known: None).
        ready = getattr(loop, "_ready", None)
        self.ready: collections.deque[Any] | None = (
            ready if isinstance(ready, collections.deque) else None
        )

    def flush_queued(self) -> None:
        """Send the output each queued connection collected."""
        queue = self.flush_queue
        self.flush_queue = []
        for wire in queue:
            wire._queued = False
            wire._flush()

    def flush_soon(self) -> None:
        """See that the queue is sent once the loop's current turn has run its callbacks."""
        ready = self.ready
        if ready is not None and not ready:
            # This is the turn's last callback: nothing else can add to the batch.
            self.flush_queued()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush, context=CALLBACK_CONTEXT)

    def _scheduled_flush(self) -> None:
        self.flush_scheduled = False
        self.flush_queued()
