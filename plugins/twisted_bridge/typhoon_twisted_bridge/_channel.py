"""The HTTP channel a twisted.web ``Request`` talks to, made of a typhoon RequestHandler.

twisted.web's ``Request`` does the HTTP semantics (argument and form parsing, resource
traversal, rendering, cookies, sessions, error pages) and hands bytes to its channel:
``writeHeaders`` once, then ``write`` for each piece of the body, then ``requestDone``.
:class:`BridgeChannel` takes those calls and turns them into the handler's
``set_status``/``set_header``/``write``/``flush``/``finish``, so typhoon frames the
response (Content-Length or chunked, keep-alive, HEAD, output transforms) and every
piece is flushed as it comes: a resource that writes slowly streams.

Producers registered on the request are driven by typhoon's flow control: a streaming
(push) producer is paused while written data waits to be handed to the network, a pull
producer is asked for its next piece when the previous one has been.
"""

from __future__ import annotations

__all__ = ["BridgeChannel", "MountedSite"]

import asyncio
from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.web import pages
from twisted.web.server import Site
from typhoon.log import app_log
from typhoon.web import RequestHandler

#: Connection-level headers (RFC 9110, section 7.6.1): typhoon's connection owns these.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class MountedSite:
    """A twisted.web ``Site`` seen from a URL prefix.

    twisted.web starts resource traversal with every path segment in ``postpath``. The
    segments of the prefix the tree is mounted at move to ``prepath`` before traversal,
    so the root resource answers the prefix itself and URLs built by twisted.web
    (``prePathURL``, ``childLink``, session cookie paths) include it. Every other
    attribute is the site's own.
    """

    def __init__(self, site: Site, prefix: str) -> None:
        self.site = site
        self.prefix_segments = [
            unquote_to_bytes(segment) for segment in prefix.strip("/").split("/") if segment
        ]

    def getResourceFor(self, request: Any) -> Any:
        """Traverse from the root resource after moving the prefix into ``prepath``."""
        count = len(self.prefix_segments)
        if request.postpath[:count] != self.prefix_segments:
            request.site = self.site
            return pages.notFound()
        request.prepath.extend(request.postpath[:count])
        del request.postpath[:count]
        return self.site.getResourceFor(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.site, name)


class BridgeChannel:
    """Stands in for twisted.web's ``HTTPChannel`` and its transport for one request."""

    def __init__(self, handler: RequestHandler, site: MountedSite) -> None:
        self.handler = handler
        self.site = site
        #: twisted.web logs requests through ``channel.factory``; typhoon logs them itself.
        self.factory = None
        self.transport = self
        self.request: Any = None
        self.disconnected = False
        #: Resolved when the request finished or the connection was lost.
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: The future of the handler's ``finish()``, once the request has finished.
        self.finished: asyncio.Future[None] | None = None
        self._producer: Any = None
        self._streaming = False
        self._paused = False
        self._last_flush: asyncio.Future[None] | None = None

    # --- starting the request -------------------------------------------------------------

    def start(self) -> None:
        """Build twisted.web's request from typhoon's and render it."""
        incoming = self.handler.request
        request = self.site.requestFactory(self)
        self.request = request
        headers = request.requestHeaders
        for name, value in incoming.headers.get_all():
            headers.addRawHeader(name.encode("latin-1"), value.encode("latin-1"))
        request.parseCookies()
        body = incoming.body
        request.gotLength(len(body))
        if body:
            request.handleContentChunk(body)
        assert incoming.method is not None
        assert incoming.uri is not None
        request.requestReceived(
            incoming.method.encode("ascii"),
            incoming.uri.encode("latin-1"),
            incoming.version.encode("ascii"),
        )

    # --- the channel interface twisted.web's Request uses ----------------------------------

    def getPeer(self) -> IPv4Address | IPv6Address:
        """The client's address (``X-Forwarded-For`` applied when typhoon trusts it)."""
        incoming = self.handler.request
        context = getattr(incoming.connection, "context", None)
        address = getattr(context, "address", None)
        port = address[1] if isinstance(address, tuple) and len(address) >= 2 else 0
        return _address(incoming.remote_ip or "0.0.0.0", port)

    def getHost(self) -> IPv4Address | IPv6Address:
        """The server's address: the local end of the connection."""
        stream = getattr(self.handler.request.connection, "stream", None)
        name = stream.get_extra_info("sockname") if stream is not None else None
        if isinstance(name, tuple) and len(name) >= 2:
            return _address(name[0], name[1])
        return IPv4Address("TCP", "0.0.0.0", 0)

    def isSecure(self) -> bool:
        """Whether the client reached typhoon over HTTPS (as typhoon sees the request)."""
        return self.handler.request.protocol == "https"

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:
        """Take the status line and headers; typhoon frames the body instead of Twisted."""
        request = self.request
        if request.chunked:
            # twisted.web chose chunked framing; typhoon's connection does its own.
            request.chunked = 0
        handler = self.handler
        status = int(code)
        if not 100 <= status <= 599:
            # RFC 9110, section 15: status codes are three digits from 100 to 599.
            app_log.error("twisted.web resource set status %d; answering 500", status)
            status, reason = 500, b"Internal Server Error"
        try:
            handler.set_status(status, reason.decode("latin-1"))
        except ValueError:
            # A reason phrase typhoon will not send: use the standard one.
            handler.set_status(status)
        handler.clear_header("Content-Type")
        for raw_name, values in headers.getAllRawHeaders():
            name = raw_name.decode("latin-1")
            if name.lower() in _HOP_BY_HOP:
                continue
            handler.clear_header(name)
            for value in values:
                handler.add_header(name, value)
        self._flush()

    def write(self, data: bytes) -> None:
        """Send a piece of the body now."""
        if self.disconnected:
            return
        self.handler.write(data)
        self._flush()

    def writeSequence(self, data: list[bytes]) -> None:
        """Send several pieces of the body as one."""
        self.write(b"".join(data))

    def requestDone(self, request: Any) -> None:
        """The request finished: finish typhoon's response."""
        if self.disconnected or self.done.done():
            return
        try:
            self.finished = self.handler.finish()
        except Exception:
            # For example fewer bytes than the resource's Content-Length announced: the
            # response cannot be completed, so the connection is closed.
            app_log.error("Cannot finish the twisted.web response", exc_info=True)
            self.loseConnection()
            return
        self.finished.add_done_callback(_retrieve)
        self.done.set_result(None)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Drive ``producer`` with typhoon's flow control."""
        if self.disconnected:
            producer.stopProducing()
            return
        self._producer = producer
        self._streaming = bool(streaming)
        self._paused = False
        if not streaming:
            asyncio.get_running_loop().call_soon(self._pull, producer)

    def unregisterProducer(self) -> None:
        """Forget the producer."""
        self._producer = None
        self._paused = False

    def loseConnection(self) -> None:
        """Close the client's connection."""
        connection: Any = self.handler.request.connection
        if connection is not None:
            connection.close()
        self.connection_lost()

    abortConnection = loseConnection

    def _respondToBadRequestAndDisconnect(self) -> None:
        """twisted.web found the body malformed (a broken multipart form): answer 400."""
        self.handler.send_error(400)
        if not self.done.done():
            self.done.set_result(None)

    # --- connection state -----------------------------------------------------------------

    def connection_lost(self) -> None:
        """The client went away: stop the producer and tell twisted.web's request."""
        if self.disconnected:
            return
        self.disconnected = True
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.stopProducing()
        request = self.request
        if request is not None and not request.finished:
            request.connectionLost(Failure(ConnectionLost("the client closed the connection")))
        if not self.done.done():
            self.done.set_result(None)

    # --- flow control ---------------------------------------------------------------------

    def _flush(self) -> None:
        future = self.handler.flush()
        self._last_flush = future
        if self._producer is not None and self._streaming and not self._paused:
            self._paused = True
            self._producer.pauseProducing()
        future.add_done_callback(self._on_flushed)

    def _on_flushed(self, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.connection_lost()
            return
        producer = self._producer
        if future is not self._last_flush or producer is None:
            return
        if self._streaming:
            if self._paused:
                self._paused = False
                producer.resumeProducing()
        else:
            self._pull(producer)

    def _pull(self, producer: Any) -> None:
        if producer is not self._producer or self.disconnected:
            return
        try:
            producer.resumeProducing()
        except Exception:
            app_log.error("Error in a twisted.web producer", exc_info=True)
            self.loseConnection()


def _address(host: str, port: int) -> IPv4Address | IPv6Address:
    if ":" in host:
        return IPv6Address("TCP", host, port)
    return IPv4Address("TCP", host, port)


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a finish future's outcome as seen (a closed connection is not an error here)."""
    if not future.cancelled():
        future.exception()
