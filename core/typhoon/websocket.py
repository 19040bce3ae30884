"""WebSocket (RFC 6455) servers and clients: ``WebSocketHandler`` and ``websocket_connect``.

Layer 5 (web). Imports :mod:`typhoon.web` (the handler base class),
:mod:`typhoon.wsproto` (every protocol rule: handshake checks, framing,
permessage-deflate), the private connection engine :mod:`typhoon._wsconnection`, its
ASGI counterpart :mod:`typhoon._wsasgi`, the client :mod:`typhoon._wsclient`,
:mod:`typhoon.httpclient` (``HTTPRequest``), :mod:`typhoon.httputil`,
:mod:`typhoon.netutil`, :mod:`typhoon.concurrent`, :mod:`typhoon.ioloop`,
:mod:`typhoon.escape`, :mod:`typhoon.errors`, :mod:`typhoon.log` and the standard
library.

A server endpoint is a :class:`WebSocketHandler` routed like any handler::

    class EchoHandler(WebSocketHandler):
        def open(self):
            self.set_nodelay(True)

        def on_message(self, message):
            self.write_message(message)

A client is opened with :func:`websocket_connect`::

    conn = await websocket_connect("ws://localhost:8888/echo")
    await conn.write_message("hello")
    reply = await conn.read_message()   # None once the connection closed

Beyond Tornado: every violation of RFC 6455 by the peer is answered with a Close
frame carrying the matching code (1002, 1007, 1009) before the connection closes;
a handshake with a malformed ``Sec-WebSocket-Key`` or over HTTP/1.0 is refused with
400 and an unsupported version with 426 and ``Sec-WebSocket-Version: 13``. Keep-alive
follows Tornado 6.5: ``ping_timeout`` defaults to, and may not exceed,
``ping_interval``. ``HTTPServer.shutdown()`` closes open connections with 1001 (going
away) and waits for the clients' answers within its deadline.

Once a handler is upgraded, its HTTP connection object, parser and response headers
are released (an idle connection costs a few KiB): ``request.connection`` becomes a
stand-in whose ``stream`` is the WebSocket transport (``request.get_ssl_certificate()``
still works) and ``request.server_connection`` is ``None``.
"""

from __future__ import annotations

__all__ = [
    "WebSocketClientConnection",
    "WebSocketClosedError",
    "WebSocketError",
    "WebSocketHandler",
    "WebSocketProtocol",
    "WebSocketProtocol13",
    "websocket_connect",
]

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from typhoon._wsasgi import ASGIWebSocketProtocol, asgi_websocket_protocol
from typhoon._wsclient import WebSocketClientConnection, keepalive_timings
from typhoon._wsconnection import ServerDrain, WebSocketProtocol, WebSocketProtocol13
from typhoon.concurrent import convert_yielded
from typhoon.errors import (
    WebSocketClosedError,
    WebSocketError,
    WebSocketHandshakeError,
)
from typhoon.escape import utf8
from typhoon.httpclient import HTTPRequest, _RequestProxy
from typhoon.httputil import HTTPConnection, HTTPHeaders, HTTPServerRequest
from typhoon.ioloop import IOLoop
from typhoon.log import app_log, gen_log
from typhoon.netutil import Resolver
from typhoon.web import Application, RequestHandler
from typhoon.wsproto import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DeflateOptions,
    Role,
    WebSocketCodec,
    accept_client_handshake,
    validate_client_handshake,
)

_NOT_SUPPORTED = "Method not supported for Web Sockets"


class _UpgradedConnection(HTTPConnection):
    """``request.connection`` once the connection speaks WebSocket.

    Replaces the HTTP connection object, whose parser and buffers are no longer
    needed. ``stream`` is the WebSocket connection's transport (so
    ``request.get_ssl_certificate()`` keeps working); HTTP output raises.
    """

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketProtocol13) -> None:
        self._protocol = protocol

    @property
    def stream(self) -> asyncio.Transport | None:
        """The transport the WebSocket connection runs on."""
        return self._protocol.transport

    def write_headers(self, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
        """Refused: the connection no longer speaks HTTP."""
        raise RuntimeError(_NOT_SUPPORTED)

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Refused: the connection no longer speaks HTTP."""
        raise RuntimeError(_NOT_SUPPORTED)

    def finish(self) -> None:
        """Refused: the connection no longer speaks HTTP."""
        raise RuntimeError(_NOT_SUPPORTED)


#: The response headers of every upgraded handler: HTTP output is over, and header
#: methods refuse to run, so one shared empty set stands in for each handler's own.
_NO_HEADERS = HTTPHeaders()


class WebSocketHandler(RequestHandler):
    """Base class for WebSocket endpoints: override :meth:`open`, :meth:`on_message`
    and :meth:`on_close`, and send with :meth:`write_message`.

    A GET request carrying a valid opening handshake is upgraded (101); anything else
    is refused with the right status (400, 403, 405 or 426). Once upgraded, the
    HTTP-only methods (``write``, ``finish``, ``set_header``, ...) raise
    ``RuntimeError``.

    Application settings read here: ``websocket_ping_interval``,
    ``websocket_ping_timeout``, ``websocket_max_message_size`` and
    ``trusted_origins`` (see :meth:`check_origin`).
    """

    def __init__(
        self,
        application: Application,
        request: HTTPServerRequest,
        **kwargs: Any,
    ) -> None:
        #: The open connection (``None`` before the handshake and after the close).
        self.ws_connection: WebSocketProtocol13 | ASGIWebSocketProtocol | None = None
        #: The status code of the client's Close frame, once the connection closed
        #: (``None`` when it sent none, or when the connection broke).
        self.close_code: int | None = None
        #: The reason of the client's Close frame, if it gave one.
        self.close_reason: str | None = None
        self._upgraded = False
        self._on_close_called = False
        self._subprotocol: str | None = None
        super().__init__(application, request, **kwargs)

    # --- the opening handshake ------------------------------------------------------

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Run the opening handshake (RFC 6455 section 4.2), then :meth:`open`.

        A coroutine, as in Tornado, so subclasses can check something first and then
        ``await super().get(*args, **kwargs)``.
        """
        opening = self._handshake(args, kwargs)
        if opening is not None:
            await opening

    def _handshake(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[None] | None:
        request = self.request
        try:
            handshake = validate_client_handshake(
                request.method or "GET", request.version, request.headers
            )
        except WebSocketHandshakeError as exc:
            self._refuse(exc.status_code, str(exc), exc.headers)
            return None
        # Section 10.2: a browser names the page's origin; refuse other sites' pages.
        if handshake.origin is not None and not self.check_origin(handshake.origin):
            self._refuse(403, "Cross origin websockets not allowed")
            return None
        subprotocol = self.select_subprotocol(list(handshake.subprotocols))
        deflate = DeflateOptions.from_compression_options(self.get_compression_options())
        accept = accept_client_handshake(handshake, subprotocol=subprotocol, deflate=deflate)
        self.set_status(101)
        for name, value in accept.headers:
            self.set_header(name, value)
        RequestHandler.finish(self)
        self._upgraded = True
        self._subprotocol = subprotocol
        # Under an ASGI server (typhoon.asgi.asgi_app) the server does the framing.
        over_asgi = asgi_websocket_protocol(
            self,
            request.connection,
            subprotocol=subprotocol,
            max_message_size=self.max_message_size,
        )
        if over_asgi is not None:
            self.ws_connection = over_asgi
            return self._open(over_asgi, args, kwargs)
        codec = WebSocketCodec(
            Role.SERVER, deflate=accept.deflate, max_message_size=self.max_message_size
        )
        interval, timeout = keepalive_timings(self.ping_interval, self.ping_timeout)
        connection = WebSocketProtocol13(
            self,
            codec,
            subprotocol=subprotocol,
            ping_interval=interval,
            ping_timeout=timeout,
        )
        # The connection enters its server's registry before it leaves the HTTP
        # connection, so a shutdown waiting for the registry to empty never sees it
        # empty in between.
        server = _tracking_server(request)
        drain = None if server is None else ServerDrain(connection, server)
        try:
            stream = self.detach()
        except BaseException:
            if drain is not None:
                drain.lost()
            raise
        self.ws_connection = connection
        # The HTTP connection (and its parser) is done with; keep only what a
        # WebSocket connection still needs, so idle connections stay small.
        self.request.connection = _UpgradedConnection(connection)
        self.request.server_connection = None
        self._headers = _NO_HEADERS
        attaching = connection.attach(stream)
        if attaching is None:
            _drain_if_shutting_down(drain)
            return self._open(connection, args, kwargs)
        return self._attach_then_open(connection, attaching, drain, args, kwargs)

    async def _attach_then_open(
        self,
        connection: WebSocketProtocol13,
        attaching: Awaitable[None],
        drain: ServerDrain | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        try:
            await attaching
        except OSError as exc:
            # The client left while the connection changed hands: nothing was opened.
            gen_log.debug("WebSocket connection lost before open: %s", exc)
            self.ws_connection = None
            if drain is not None:
                drain.lost()
            return
        _drain_if_shutting_down(drain)
        opening = self._open(connection, args, kwargs)
        if opening is not None:
            await opening

    def _open(
        self,
        connection: WebSocketProtocol13 | ASGIWebSocketProtocol,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Awaitable[None] | None:
        """Run :meth:`open`; messages are dispatched once it has returned (or finished)."""
        connection.start_pinging()
        try:
            result = self.open(*args, **kwargs)
        except Exception:
            connection._application_error()
            connection.start()
            return None
        if result is None:
            connection.start()
            return None
        return self._finish_open(connection, result)

    async def _finish_open(
        self, connection: WebSocketProtocol13 | ASGIWebSocketProtocol, result: Any
    ) -> None:
        """Wait for an asynchronous :meth:`open`; messages are read only after it."""
        try:
            await convert_yielded(result)
        except Exception:
            connection._application_error()
        connection.start()

    def _refuse(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        gen_log.debug("WebSocket handshake refused (%d): %s", status, message)
        self.set_status(status)
        for name, value in headers:
            self.set_header(name, value)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        RequestHandler.finish(self, message)

    def check_origin(self, origin: str) -> bool:
        """Whether to accept a connection opened by a page from ``origin``.

        The default accepts the request's own host (same origin: the ``Origin``
        header's host and port equal the ``Host`` header) and the origins the
        ``trusted_origins`` setting lists (:meth:`check_trusted_origin`). Browsers send
        cookies with cross-site WebSocket handshakes, so accepting any origin would let
        other sites act as the user; override with care. Refused handshakes get 403.
        """
        parsed = urllib.parse.urlsplit(origin.strip().lower())
        if parsed.netloc and parsed.netloc == self.request.host.lower():
            return True
        return origin != "null" and self.check_trusted_origin(origin)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Pick one of the client's ``Sec-WebSocket-Protocol`` offers, or ``None``.

        Called with the offers in the client's order of preference (an empty list when
        there were none). The returned value must be one of them.
        """
        return None

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol :meth:`select_subprotocol` chose, or ``None``."""
        return self._subprotocol

    def get_compression_options(self) -> dict[str, Any] | None:
        """Return a dict to accept permessage-deflate (RFC 7692), ``None`` to refuse it.

        Off by default. Keys: ``compression_level`` (0-9), ``mem_level`` (1-9) and the
        RFC 7692 parameters ``server_no_context_takeover``,
        ``client_no_context_takeover``, ``server_max_window_bits`` and
        ``client_max_window_bits``. Decompressed messages still count against
        :attr:`max_message_size`.
        """
        return None

    # --- settings ---------------------------------------------------------------------

    @property
    def ping_interval(self) -> float | None:
        """Seconds between keep-alive pings (``websocket_ping_interval``); None: none."""
        value: float | None = self.settings.get("websocket_ping_interval")
        return value

    @property
    def ping_timeout(self) -> float | None:
        """Seconds a pong may take before the client is taken for dead.

        ``websocket_ping_timeout``; by default (and at most) the ping interval. 0
        turns the check off.
        """
        value: float | None = self.settings.get("websocket_ping_timeout")
        return value

    @property
    def max_message_size(self) -> int:
        """The largest message accepted, in bytes (``websocket_max_message_size``,
        10 MiB by default); larger ones close the connection with 1009."""
        value: int | None = self.settings.get("websocket_max_message_size")
        return DEFAULT_MAX_MESSAGE_SIZE if value is None else value

    # --- the connection -----------------------------------------------------------------

    def open(self, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        """Run when the connection is open; receives the URL pattern's groups.

        May be ``async``: no message is delivered before it returns.
        """
        return None

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Handle a message: ``str`` for text, ``bytes`` for binary.

        May be ``async``: the next message is delivered only once it is done, so a
        slow handler slows the client down rather than queueing without bound.
        """
        raise NotImplementedError(f"{type(self).__name__} must define on_message")

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message: text for ``str`` (and ``dict``, sent as JSON), binary for
        ``bytes`` when ``binary`` is true.

        Returns a future that resolves when the transport can take more data; await it
        to keep pace with a slow client.

        Raises:
            WebSocketClosedError: the connection is closing or closed.
        """
        connection = self.ws_connection
        if connection is None:
            raise WebSocketClosedError("the WebSocket connection is closed")
        return connection.write_message(message, binary)

    def ping(self, data: str | bytes = b"") -> None:
        """Send a Ping carrying ``data`` (at most 125 bytes); see :meth:`on_pong`.

        Raises:
            WebSocketClosedError: the connection is closing or closed.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            raise WebSocketClosedError("the WebSocket connection is closed")
        connection.write_ping(utf8(data))

    def on_ping(self, data: bytes) -> None:
        """A Ping arrived; the Pong has already been sent."""

    def on_pong(self, data: bytes) -> None:
        """A Pong arrived (the answer to :meth:`ping`, or a keep-alive one)."""

    def on_close(self) -> None:
        """Run once when the connection has closed, whoever closed it.

        :attr:`close_code` and :attr:`close_reason` hold what the client's Close frame
        said, if it sent one.
        """

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake with an optional status ``code`` and ``reason``.

        :meth:`on_close` runs once the client answered (or after a few seconds if it
        does not).
        """
        connection = self.ws_connection
        if connection is not None:
            connection.close(code, reason)

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``): small messages go out at once.

        Call it from :meth:`open`.
        """
        connection = self.ws_connection
        if connection is None:
            raise WebSocketClosedError("the WebSocket connection is not open")
        connection.set_nodelay(value)

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        """The protocol object of the open connection, or ``None``."""
        return self.ws_connection

    # --- callbacks from the connection --------------------------------------------------

    def on_ws_connection_close(self, close_code: int | None, close_reason: str | None) -> None:
        """Called by the connection when it has closed (once); runs :meth:`on_close`."""
        self.close_code = close_code
        self.close_reason = close_reason
        self.on_connection_close()

    def on_connection_close(self) -> None:
        """Release the connection and run :meth:`on_close` (once)."""
        self.ws_connection = None
        if self._on_close_called:
            return
        self._on_close_called = True
        try:
            self.on_close()
        except Exception:
            app_log.error("Uncaught exception in %s.on_close", type(self).__name__, exc_info=True)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Send an error page before the upgrade; afterwards, close the connection."""
        if not self._upgraded:
            super().send_error(status_code, **kwargs)
            return
        connection = self.ws_connection
        if connection is not None:
            connection.abort()

    # --- HTTP-only methods, refused once upgraded -----------------------------------------

    def _refuse_after_upgrade(self) -> None:
        if self._upgraded:
            raise RuntimeError(_NOT_SUPPORTED)

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        """HTTP output; refused on an upgraded connection (use :meth:`write_message`)."""
        self._refuse_after_upgrade()
        super().write(chunk)

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """End an HTTP response; refused on an upgraded connection (use :meth:`close`)."""
        self._refuse_after_upgrade()
        return super().finish(chunk)

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        """Send buffered HTTP output; refused on an upgraded connection."""
        self._refuse_after_upgrade()
        return super().flush(include_footers)

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Set the HTTP status; refused on an upgraded connection."""
        self._refuse_after_upgrade()
        super().set_status(status_code, reason)

    def set_header(self, name: str, value: Any) -> None:
        """Set an HTTP response header; refused on an upgraded connection."""
        self._refuse_after_upgrade()
        super().set_header(name, value)

    def add_header(self, name: str, value: Any) -> None:
        """Add an HTTP response header; refused on an upgraded connection."""
        self._refuse_after_upgrade()
        super().add_header(name, value)

    def clear_header(self, name: str) -> None:
        """Remove an HTTP response header; refused on an upgraded connection."""
        self._refuse_after_upgrade()
        super().clear_header(name)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Redirect; refused on an upgraded connection."""
        self._refuse_after_upgrade()
        super().redirect(url, permanent, status)

    def set_cookie(self, *args: Any, **kwargs: Any) -> None:
        """Set a cookie; refused on an upgraded connection (headers are gone)."""
        self._refuse_after_upgrade()
        super().set_cookie(*args, **kwargs)


def _tracking_server(request: HTTPServerRequest) -> Any:
    """The server that accepted ``request`` if it can track connections that leave
    it (:meth:`typhoon.httpserver.HTTPServer.track_connection`), else ``None``.

    An upgraded connection enters that server's registry through a
    :class:`~typhoon._wsconnection.ServerDrain`, so ``HTTPServer.shutdown()`` closes
    it with 1001 and waits for it like any other connection.
    """
    server = getattr(request.server_connection, "server", None)
    if getattr(server, "track_connection", None) is None:
        return None
    return server


def _drain_if_shutting_down(drain: ServerDrain | None) -> None:
    """Upgraded while the server shuts down: tell the client at once."""
    if drain is not None and drain.server_draining():
        drain.start_draining()


def websocket_connect(
    url: str | HTTPRequest,
    callback: Callable[[asyncio.Future[WebSocketClientConnection]], None] | None = None,
    connect_timeout: float | None = None,
    on_message_callback: Callable[[str | bytes | None], None] | None = None,
    compression_options: dict[str, Any] | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    subprotocols: list[str] | None = None,
    resolver: Resolver | None = None,
) -> asyncio.Future[WebSocketClientConnection]:
    """Open a client WebSocket connection; the future resolves once it is open.

    :arg url: a ``ws://`` or ``wss://`` URL, or an
        :class:`~typhoon.httpclient.HTTPRequest` for extra headers, TLS options
        (``validate_cert``, ``ca_certs``, ``client_cert``, ``ssl_options``) and
        timeouts (``request_timeout`` bounds the whole handshake).
    :arg callback: called with the future once it is resolved.
    :arg connect_timeout: seconds to establish the TCP (and TLS) connection.
    :arg on_message_callback: receives each message, then ``None`` when the
        connection closes; without it, messages are read with
        :meth:`WebSocketClientConnection.read_message`.
    :arg compression_options: a dict (see
        :meth:`WebSocketHandler.get_compression_options`) to offer permessage-deflate.
    :arg ping_interval: seconds between keep-alive pings.
    :arg ping_timeout: seconds a pong may take (by default and at most the interval).
    :arg max_message_size: the largest message accepted (10 MiB by default).
    :arg subprotocols: ``Sec-WebSocket-Protocol`` offers, most preferred first.
    :arg resolver: the :class:`~typhoon.netutil.Resolver` to look the host up with.

    The future fails with :class:`~typhoon.errors.HTTPClientError` when the server
    answers with an HTTP error, :class:`~typhoon.errors.HTTPTimeoutError` on a
    timeout, :class:`~typhoon.errors.WebSocketHandshakeError` when the 101 response is
    not a valid handshake, or the connection's ``OSError``.
    """
    if isinstance(url, HTTPRequest):
        if connect_timeout is not None:
            raise ValueError("pass connect_timeout in the HTTPRequest")
        request = url
        request.headers = HTTPHeaders(request.headers)
    else:
        request = HTTPRequest(url, connect_timeout=connect_timeout)
    connection = WebSocketClientConnection(
        _RequestProxy(request, HTTPRequest._DEFAULTS),
        on_message_callback=on_message_callback,
        compression_options=compression_options,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        subprotocols=subprotocols,
        resolver=resolver,
    )
    if callback is not None:
        IOLoop.current().add_future(connection.connect_future, callback)  # type: ignore[union-attr]
    return connection.connect_future
