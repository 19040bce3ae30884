"""A non-blocking, single-threaded HTTP/1.1 server.

Layer 4 (http): imports :mod:`typhoon.tcpserver`, :mod:`typhoon.http1connection`, the
private :mod:`typhoon._h1wire` and :mod:`typhoon._h1settings`, :mod:`typhoon.httputil`,
:mod:`typhoon.iostream`, :mod:`typhoon.netutil`, :mod:`typhoon.log` and the standard
library.

:class:`HTTPServer` takes an application in one of two forms:

* an :class:`~typhoon.httputil.HTTPServerConnectionDelegate` (such as
  ``typhoon.web.Application``), which receives each request head and body as they
  arrive and answers through ``request.connection``;
* a plain callable ``request_callback(request)`` receiving a complete
  :class:`~typhoon.httputil.HTTPServerRequest` (body read and parsed), which answers
  through ``request.connection.write_headers`` / ``write`` / ``finish``::

      def handle(request):
          body = b"Hello"
          request.connection.write_headers(
              ResponseStartLine("HTTP/1.1", 200, "OK"),
              HTTPHeaders({"Content-Length": str(len(body))}),
              body,
          )
          request.connection.finish()

      server = HTTPServer(handle)
      server.listen(8888)

Connections accepted by the server run on their asyncio transport directly (see
:mod:`typhoon._h1wire`); a subclass that overrides :meth:`HTTPServer.handle_stream` gets
each connection as a stream instead, served by
:class:`~typhoon.http1connection.HTTP1ServerConnection`. Both enforce the same HTTP
rules, which live in :mod:`typhoon.http1proto`.

Beyond Tornado: :meth:`HTTPServer.shutdown` stops gracefully (stop accepting, let the
requests in progress finish within a deadline, close idle keep-alive connections, then
close the rest).
"""

from __future__ import annotations

__all__ = ["HTTPRequest", "HTTPServer"]

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from typhoon._h1context import RequestContext
from typhoon._h1settings import ServerSettings
from typhoon._h1wire import WireServerConnection
from typhoon.http1connection import HTTP1ConnectionParameters, HTTP1ServerConnection
from typhoon.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
    _server_request,
)
from typhoon.iostream import IOStream, SSLIOStream
from typhoon.log import gen_log
from typhoon.tcpserver import TCPServer

#: Tornado's default ``idle_connection_timeout``: one hour.
_DEFAULT_IDLE_TIMEOUT = 3600.0
#: TLS handshakes must complete within this (or the idle timeout, if shorter).
_TLS_HANDSHAKE_TIMEOUT = 60.0
#: A closing TLS connection waits this long for the client's close_notify.
_TLS_SHUTDOWN_TIMEOUT = 5.0
_DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024

_RequestCallback = Callable[[HTTPServerRequest], object]

#: :class:`~typhoon.httputil.HTTPServerRequest` under its older name, so that code
#: importing it from here keeps working.
HTTPRequest = HTTPServerRequest


class HTTPServer(TCPServer, HTTPServerConnectionDelegate):
    """An HTTP/1.1 server (HTTP/1.0 clients are served too).

    Args:
        request_callback: an :class:`~typhoon.httputil.HTTPServerConnectionDelegate`
            (an ``Application``) or a callable taking an
            :class:`~typhoon.httputil.HTTPServerRequest`.
        no_keep_alive: close every connection after one response.
        xheaders: trust ``X-Real-Ip`` / ``X-Forwarded-For`` for ``remote_ip`` and
            ``X-Scheme`` / ``X-Forwarded-Proto`` for ``protocol`` (set this only
            behind a proxy that sets them).
        ssl_options: serve TLS: an :class:`ssl.SSLContext` or Tornado's dict
            (``certfile``, ``keyfile``, ...).
        protocol: force ``request.protocol`` (``"https"`` behind a TLS-terminating
            proxy that does not send the headers above).
        decompress_request: decode ``Content-Encoding: gzip`` request bodies.
        chunk_size: largest body piece passed to a delegate (64 KiB).
        max_header_size: largest request head (64 KiB); larger is answered 431 (414
            when the request line alone is too long).
        idle_connection_timeout: seconds a connection may wait for a request and then
            for the rest of its head (one hour by default).
        body_timeout: seconds allowed to receive a whole request body (no limit by
            default).
        max_body_size: largest request body (``max_buffer_size``, 100 MiB); larger is
            answered 413 before it is read when its length is declared.
        max_buffer_size: passed to streams (and the ``max_body_size`` default).
        trusted_downstream: proxy addresses skipped in ``X-Forwarded-For``.

    Raises:
        KeyError: an ``ssl_options`` dict lacks ``certfile``.
        ValueError: the certificate or key file does not exist.
    """

    def __init__(
        self,
        request_callback: HTTPServerConnectionDelegate | _RequestCallback,
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        protocol: str | None = None,
        decompress_request: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        max_body_size: int | None = None,
        max_buffer_size: int | None = None,
        trusted_downstream: list[str] | None = None,
    ) -> None:
        self.initialize(
            request_callback,
            no_keep_alive=no_keep_alive,
            xheaders=xheaders,
            ssl_options=ssl_options,
            protocol=protocol,
            decompress_request=decompress_request,
            chunk_size=chunk_size,
            max_header_size=max_header_size,
            idle_connection_timeout=idle_connection_timeout,
            body_timeout=body_timeout,
            max_body_size=max_body_size,
            max_buffer_size=max_buffer_size,
            trusted_downstream=trusted_downstream,
        )

    def initialize(
        self,
        request_callback: HTTPServerConnectionDelegate | _RequestCallback,
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        protocol: str | None = None,
        decompress_request: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        max_body_size: int | None = None,
        max_buffer_size: int | None = None,
        trusted_downstream: list[str] | None = None,
    ) -> None:
        """Set the server up (Tornado's initialization hook; called by the constructor).

        Subclasses that need other arguments override this and call it.
        """
        self.request_callback = request_callback
        self.xheaders = xheaders
        self.protocol = protocol
        self.conn_params = HTTP1ConnectionParameters(
            decompress=decompress_request,
            chunk_size=chunk_size,
            max_header_size=max_header_size,
            header_timeout=idle_connection_timeout or _DEFAULT_IDLE_TIMEOUT,
            max_body_size=max_body_size,
            body_timeout=body_timeout,
            no_keep_alive=no_keep_alive,
        )
        TCPServer.__init__(
            self,
            ssl_options=ssl_options,
            max_buffer_size=max_buffer_size,
            read_chunk_size=chunk_size,
        )
        self.trusted_downstream = trusted_downstream
        self._trusted: frozenset[str] = frozenset(trusted_downstream or ())
        self._connections: set[Any] = set()
        self._settings: ServerSettings | None = None
        self._draining = False
        self._all_closed: asyncio.Event | None = None

    # --- connections -----------------------------------------------------------------

    def _context(self, address: Any, family: int, tls: bool) -> RequestContext:
        protocol = self.protocol or ("https" if tls else "http")
        return RequestContext(address, family, protocol, self._trusted)

    def _wire_settings(self) -> ServerSettings:
        settings = self._settings
        loop = asyncio.get_running_loop()
        if settings is None or settings.loop is not loop:
            params = self.conn_params
            max_body = int(params.max_body_size or self.max_buffer_size or _DEFAULT_MAX_BODY_SIZE)
            callback = self.request_callback
            start_request: Any = None
            plain: Any = None
            whole: Any = None
            if not self.xheaders:
                # Nothing to wrap around the application: the connections call it
                # directly.
                if isinstance(callback, HTTPServerConnectionDelegate):
                    start_request = callback.start_request
                    # A delegate may take a request that arrived whole, without a
                    # body, in one call (the web application does): a private
                    # agreement, ``_whole_request_runner()`` giving that callable or
                    # None. Not with decompression, which wraps every message.
                    runner = getattr(callback, "_whole_request_runner", None)
                    if runner is not None and not params.decompress:
                        whole = runner()
                else:
                    plain = callback
            settings = ServerSettings(self, params, max_body, loop, start_request, plain, whole)
            settings.connections = self._connections
            settings.draining = self._draining
            self._settings = settings
        return settings

    def _handle_connection(self, connection: socket.socket, address: Any) -> None:
        if type(self).handle_stream is not HTTPServer.handle_stream:
            # A subclass wants streams: serve through HTTP1ServerConnection.
            super()._handle_connection(connection, address)
            return
        if self._draining:
            connection.close()
            return
        settings = self._wire_settings()
        tls = self._ssl_context
        protocol = self.protocol or ("https" if tls is not None else "http")
        wire = WireServerConnection(settings, address, connection.family, protocol, self._trusted)
        setup = self._own(self._connect(settings.loop, wire, connection, address, tls))
        # A set-up cancelled before its first step never ran: its socket is ours to close.
        setup.add_done_callback(lambda done: connection.close() if done.cancelled() else None)

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        wire: WireServerConnection,
        connection: socket.socket,
        address: Any,
        tls: ssl.SSLContext | None,
    ) -> None:
        try:
            if tls is None:
                await loop.connect_accepted_socket(lambda: wire, connection)
            else:
                timeout = min(_TLS_HANDSHAKE_TIMEOUT, self.conn_params.header_timeout or 60.0)
                await loop.connect_accepted_socket(
                    lambda: wire,
                    connection,
                    ssl=tls,
                    ssl_handshake_timeout=timeout,
                    ssl_shutdown_timeout=_TLS_SHUTDOWN_TIMEOUT,
                )
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            # RFC 8446 section 6.2: a failed handshake ends the connection; the
            # application never sees it.
            gen_log.warning("Connection set-up with %s failed: %s", address, exc)
            connection.close()

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        """Serve one connection given as a stream (used when a subclass overrides this)."""
        sock = stream.socket
        family = sock.family if sock is not None else socket.AF_UNSPEC
        context = self._context(address, family, isinstance(stream, SSLIOStream))
        conn = HTTP1ServerConnection(stream, self.conn_params, context)
        self._connections.add(conn)
        if self._draining:
            conn.start_draining()
        conn.start_serving(self)

    # --- the delegate interface ------------------------------------------------------

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Return the delegate for a new request (the application's, adapted)."""
        callback = self.request_callback
        delegate: HTTPMessageDelegate
        if isinstance(callback, HTTPServerConnectionDelegate):
            delegate = callback.start_request(server_conn, request_conn)
        else:
            delegate = _CallableAdapter(callback, request_conn, server_conn)
        if self.xheaders:
            delegate = _ProxyAdapter(delegate, request_conn)
        return delegate

    @property
    def draining(self) -> bool:
        """True once :meth:`shutdown` has begun."""
        return self._draining

    def track_connection(self, conn: Any) -> None:
        """Count ``conn`` among the open connections until it calls :meth:`on_close`.

        For connections that leave the server's HTTP handling, such as an upgraded
        WebSocket: :meth:`shutdown` calls their ``start_draining()`` and waits for
        them within its deadline, then awaits their ``close()``, as for its own.
        """
        self._connections.add(conn)

    def on_close(self, server_conn: object) -> None:
        """Forget a closed connection."""
        connections = self._connections
        connections.discard(server_conn)
        if not connections and self._all_closed is not None:
            self._all_closed.set()

    # --- stopping --------------------------------------------------------------------

    async def close_all_connections(self) -> None:
        """Close every open connection and wait until they are closed.

        Requests in progress are cut. Call :meth:`stop` first so no new connection
        arrives meanwhile; :meth:`shutdown` does both, gracefully.
        """
        setting_up = list(self._tasks)
        for task in setting_up:
            # Connections still being set up (a TLS handshake, or accepted this turn).
            task.cancel()
        if setting_up:
            # Each cancelled set-up closes what it opened before this returns.
            await asyncio.gather(*setting_up, return_exceptions=True)
        while self._connections:
            conn = next(iter(self._connections))
            await conn.close()
            self._connections.discard(conn)

    async def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop gracefully: no new connections, requests in progress finish, then close.

        In order: stop accepting; close keep-alive connections that are idle; let each
        connection finish the exchange in progress (its response carries
        ``Connection: close``) and close it; after ``timeout`` seconds close whatever
        is still open. ``None`` waits without limit.
        """
        self.stop()
        self._draining = True
        if self._settings is not None:
            self._settings.draining = True
        for conn in list(self._connections):
            conn.start_draining()
        if self._connections:
            self._all_closed = asyncio.Event()
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout)
            except TimeoutError:
                gen_log.info("Shutdown: closing %d connections still busy", len(self._connections))
        await self.close_all_connections()


class _CallableAdapter(HTTPMessageDelegate):
    """Collects a whole request, then calls a plain ``request_callback(request)``."""

    __slots__ = ("_chunks", "connection", "request", "request_callback", "server_conn")

    def __init__(
        self, request_callback: _RequestCallback, request_conn: HTTPConnection, server_conn: object
    ) -> None:
        self.request_callback = request_callback
        self.connection = request_conn
        self.server_conn = server_conn
        self.request: HTTPServerRequest | None = None
        self._chunks: list[bytes] | None = None

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, RequestStartLine)
        method, uri, version = start_line
        self.request = _server_request(
            method, uri, version, headers, self.connection, self.server_conn
        )
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        chunks = self._chunks
        if chunks is None:
            self._chunks = [chunk]
        else:
            chunks.append(chunk)
        return None

    def finish(self) -> None:
        request = self.request
        assert request is not None
        chunks = self._chunks
        if chunks is not None:
            request.body = b"".join(chunks)
            self._chunks = None
            request._parse_body()
        self.request_callback(request)

    def on_connection_close(self) -> None:
        self._chunks = None


class _ProxyAdapter(HTTPMessageDelegate):
    """Applies ``xheaders`` to the connection context for the length of one request."""

    __slots__ = ("connection", "delegate")

    def __init__(self, delegate: HTTPMessageDelegate, request_conn: HTTPConnection) -> None:
        self.delegate = delegate
        self.connection = request_conn

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        context = getattr(self.connection, "context", None)
        if isinstance(context, RequestContext):
            context._apply_xheaders(headers)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        try:
            self.delegate.finish()
        finally:
            self._cleanup()

    def on_connection_close(self) -> None:
        try:
            self.delegate.on_connection_close()
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        context = getattr(self.connection, "context", None)
        if isinstance(context, RequestContext):
            context._unapply_xheaders()
