"""Socket streams: plain (TCP or Unix) and TLS, with STARTTLS-style upgrades.

Layer 2 (streams), private to :mod:`typhoon.iostream`. Imports ``iostream._base``,
``iostream._core``, ``errors`` and the standard library.
"""

from __future__ import annotations

__all__ = ["IOStream", "SSLIOStream"]

import asyncio
import errno
import os
import socket as socket_module
import ssl
from collections.abc import Mapping
from typing import Any, cast

from typhoon.errors import ConfigurationError, StreamBusyError, StreamClosedError
from typhoon.iostream._base import BaseIOStream
from typhoon.iostream._core import _fail

#: Keys accepted in a dict-style ``ssl_options`` (the arguments of Tornado's form).
_SSL_OPTION_KEYS = frozenset(
    ["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"]
)


def _ssl_context(
    options: ssl.SSLContext | Mapping[str, Any] | None, *, server_side: bool
) -> ssl.SSLContext:
    """Return an :class:`ssl.SSLContext` for ``options`` (a context, a dict, or None).

    ``None`` means the system's default client context (certificate and hostname
    verification on); a server always needs a certificate, so ``None`` is refused there.
    """
    if isinstance(options, ssl.SSLContext):
        return options
    if options is None:
        if server_side:
            raise ConfigurationError("server-side TLS needs ssl_options with a certificate")
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    unknown = set(options) - _SSL_OPTION_KEYS
    if unknown:
        raise ConfigurationError(f"unknown ssl_options keys: {sorted(unknown)}")
    default_protocol = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(options.get("ssl_version", default_protocol))
    if "certfile" in options:
        context.load_cert_chain(options["certfile"], options.get("keyfile"))
    if "cert_reqs" in options:
        if options["cert_reqs"] == ssl.CERT_NONE:
            context.check_hostname = False
        context.verify_mode = options["cert_reqs"]
    if "ca_certs" in options:
        context.load_verify_locations(options["ca_certs"])
    elif context.verify_mode != ssl.CERT_NONE and not server_side:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if "ciphers" in options:
        context.set_ciphers(options["ciphers"])
    # Compression leaks secrets through length (CRIME); refuse it.
    context.options |= ssl.OP_NO_COMPRESSION
    return context


def _is_connected(sock: socket_module.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


class IOStream(BaseIOStream):
    """A stream over a socket: TCP (IPv4 or IPv6) or Unix, connected or about to be.

    A connected socket (for example one returned by ``accept``) is ready to use: reads
    and writes may start at once, even before the event loop runs (the stream then
    belongs to the current :class:`~typhoon.ioloop.IOLoop`). An unconnected one is connected with :meth:`connect`;
    writes issued before the connection completes are sent once it does.

    The stream owns the socket and closes it when the stream closes. Other arguments are
    those of :class:`BaseIOStream`.
    """

    def __init__(self, socket: socket_module.socket, *args: Any, **kwargs: Any) -> None:
        #: The socket this stream wraps (``None`` after :meth:`start_tls` handed it on).
        self.socket: socket_module.socket | None = socket
        socket.setblocking(False)
        super().__init__(*args, **kwargs)
        self._nodelay: bool | None = None
        self._connecting = False
        if not self._handoff and _is_connected(socket):
            self._bind_loop()
            self._begin(self._open_connected(socket))

    def fileno(self) -> int:
        """Return the socket's file descriptor (-1 once it is handed on or closed)."""
        return self.socket.fileno() if self.socket is not None else -1

    def _sock(self) -> socket_module.socket:
        sock = self.socket
        if sock is None:
            raise StreamClosedError(real_error=self.error)
        return sock

    # The opening coroutines take the socket as an argument: they start running only on
    # the next loop turn, when ``self.socket`` may already be handed on (start_tls).

    async def _open_connected(self, sock: socket_module.socket) -> None:
        loop = self._get_loop()
        await loop.connect_accepted_socket(self.connection_protocol, sock)

    async def _open_after_connect(
        self, sock: socket_module.socket, server_hostname: str | None
    ) -> None:
        loop = self._get_loop()
        await loop.connect_accepted_socket(self.connection_protocol, sock)

    def connect(self, address: Any, server_hostname: str | None = None) -> asyncio.Future[IOStream]:
        """Connect the socket to ``address``; the future resolves to this stream.

        ``address`` is whatever the socket's family takes (``(host, port)`` or a Unix
        path); ``server_hostname`` is used by TLS streams for SNI and certificate
        checks. Reads and writes may be issued before the connection completes. On
        failure the stream closes and the future raises
        :class:`~typhoon.errors.StreamClosedError` whose ``real_error`` is the cause.
        """
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if self._connecting or self._transport is not None or self._attach_task is not None:
            raise StreamBusyError("connect() was already called on this stream")
        future: asyncio.Future[IOStream] = self._get_loop().create_future()
        self._connect_future = future
        future.add_done_callback(self._close_if_cancelled)
        self._connecting = True
        self._begin(self._connect(self._sock(), address, server_hostname))
        return future

    def _close_if_cancelled(self, future: asyncio.Future[Any]) -> None:
        # Whoever waited for the connection gave up (a timeout): nobody will use it.
        if future.cancelled():
            self.close()

    async def _connect(
        self, sock: socket_module.socket, address: Any, server_hostname: str | None
    ) -> None:
        try:
            await self._get_loop().sock_connect(sock, address)
        except OSError as exc:
            if not exc.errno:
                raise
            # The event loop words every failure "Connect call failed"; the system's
            # words ("Connection refused") say why. The errno, and with it the class
            # (ConnectionRefusedError, ...), stays.
            raise OSError(
                exc.errno, f"{os.strerror(exc.errno)} (connecting to {address!r})"
            ) from exc
        await self._open_after_connect(sock, server_hostname)

    def _on_opened(self) -> None:
        self._connecting = False
        super()._on_opened()

    def _abandon_opening(self) -> bool:
        return self._connecting

    def _close_unopened(self) -> None:
        if self.socket is not None and self._transport is None:
            self.socket.close()

    def _transport_ready(self, transport: asyncio.BaseTransport) -> None:
        if self._nodelay is not None:
            self._apply_nodelay(self._nodelay)

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``: send small writes at once) or back on.

        asyncio already disables Nagle on TCP transports; this can re-enable it.
        No effect on Unix sockets.
        """
        self._nodelay = value
        self._apply_nodelay(value)

    def _apply_nodelay(self, value: bool) -> None:
        sock = self.socket
        if sock is None or sock.family not in (socket_module.AF_INET, socket_module.AF_INET6):
            return
        try:
            sock.setsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY, int(value))
        except OSError as exc:
            # A socket the peer already reset, or one closed under us: nothing to tune.
            if exc.errno not in (errno.EINVAL, errno.ECONNRESET, errno.EBADF):
                raise

    def start_tls(
        self,
        server_side: bool,
        ssl_options: ssl.SSLContext | Mapping[str, Any] | None = None,
        server_hostname: str | None = None,
    ) -> asyncio.Future[SSLIOStream]:
        """Upgrade this connection to TLS; the future resolves to a new :class:`SSLIOStream`.

        After the call this stream is spent (its reads and writes raise
        :class:`~typhoon.errors.StreamClosedError`); the close callback moves to the new
        stream. The stream must be idle: no pending read, nothing buffered in either
        direction, which is the case right after a plain-text STARTTLS exchange.

        Raises:
            ValueError: the stream is not idle.
        """
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if (
            self._read_future is not None
            or self._read_buffer.size
            or self.writing()
            or self._connecting
        ):
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        context = _ssl_context(ssl_options, server_side=server_side)
        sock = self._sock()
        ssl_stream = SSLIOStream.__new__(SSLIOStream)
        ssl_stream._handoff = True
        SSLIOStream.__init__(
            ssl_stream,
            sock,
            ssl_options=context,
            server_side=server_side,
            server_hostname=server_hostname,
            max_buffer_size=self.max_buffer_size,
            read_chunk_size=self.read_chunk_size,
            max_write_buffer_size=self.max_write_buffer_size,
        )
        ssl_stream._handoff = False
        ssl_stream._close_callback = self._close_callback
        if self._nodelay is not None:
            ssl_stream._nodelay = self._nodelay
        future: asyncio.Future[SSLIOStream] = ssl_stream._get_loop().create_future()
        ssl_stream._connect_future = future
        future.add_done_callback(ssl_stream._close_if_cancelled)
        task = self._attach_task
        if task is not None and not self._opener_started:
            # The plain transport was not even started (a server upgrading a stream it
            # just accepted): skip it, and speak TLS on the socket from the first byte.
            self._cancel_opening()
            ssl_stream._begin(ssl_stream._open_connected(sock))
        else:
            if self._transport is not None:
                # Hold incoming bytes (the peer's first handshake message) in the kernel
                # until the TLS layer is in place.
                cast(asyncio.Transport, self._transport).pause_reading()
            ssl_stream._begin(ssl_stream._open_upgrade(self))
        # Detach quietly: no close callback, no error; the socket now belongs to the TLS
        # stream.
        self._close_callback = None
        self._handoff = True
        self._closed = True
        self.socket = None
        return future


class SSLIOStream(IOStream):
    """A TLS stream over a socket, server or client side.

    Server side: wrap an accepted socket, with ``ssl_options`` holding the certificate.
    Client side: wrap an unconnected socket and call :meth:`connect` with a
    ``server_hostname`` for SNI and verification. ``ssl_options`` is an
    :class:`ssl.SSLContext` or a dict of Tornado's keys (``certfile``, ``keyfile``,
    ``cert_reqs``, ``ca_certs``, ``ciphers``, ``ssl_version``); a client without it uses
    the system's default verifying context. ``server_side`` defaults to whether the
    socket is already connected. An ``ssl.SSLSocket`` created with
    ``do_handshake_on_connect=False`` is accepted too: its context and side are taken
    over and its descriptor is wrapped afresh.

    Reads and writes may be issued before the handshake completes; they proceed after it.
    """

    def __init__(
        self,
        socket: socket_module.socket,
        *args: Any,
        ssl_options: ssl.SSLContext | Mapping[str, Any] | None = None,
        server_side: bool | None = None,
        server_hostname: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(socket, ssl.SSLSocket):
            if ssl_options is None:
                ssl_options = socket.context
            if server_side is None:
                server_side = socket.server_side
            if server_hostname is None:
                server_hostname = socket.server_hostname
            socket = socket_module.socket(fileno=socket.detach())
        if server_side is None:
            server_side = _is_connected(socket)
        self._server_side = server_side
        self._server_hostname = server_hostname
        self._ssl_context = _ssl_context(ssl_options, server_side=server_side)
        self._handshake_future: asyncio.Future[SSLIOStream] | None = None
        self._handshake_done = False
        super().__init__(socket, *args, **kwargs)

    async def _open_connected(self, sock: socket_module.socket) -> None:
        await self._open_tls(sock, self._server_hostname)

    async def _open_after_connect(
        self, sock: socket_module.socket, server_hostname: str | None
    ) -> None:
        await self._open_tls(sock, server_hostname or self._server_hostname)

    async def _open_tls(self, sock: socket_module.socket, server_hostname: str | None) -> None:
        loop = self._get_loop()
        if self._server_side:
            await loop.connect_accepted_socket(
                self.connection_protocol, sock, ssl=self._ssl_context
            )
        else:
            # An empty name leaves SNI out; the context then refuses it if it checks
            # hostnames, which is the error the caller needs to see.
            await loop.create_connection(
                self.connection_protocol,
                sock=sock,
                ssl=self._ssl_context,
                server_hostname=server_hostname or "",
            )

    async def _open_upgrade(self, plain: IOStream) -> None:
        loop = self._get_loop()
        task = plain._attach_task
        if plain._transport is None and task is not None:
            await task
        transport = cast(asyncio.Transport | None, plain._transport)
        if transport is None or transport.is_closing():
            raise StreamClosedError(real_error=plain.error)
        # Some loops (uvloop) start reading after connection_made whatever it asked for.
        transport.pause_reading()
        if plain._read_buffer.size:
            raise StreamClosedError(
                real_error=ConnectionError("data arrived before the TLS upgrade could start")
            )
        plain._transport = plain._read_transport = None
        protocol = self.connection_protocol()
        tls_transport = await loop.start_tls(
            transport,
            protocol,
            self._ssl_context,
            server_side=self._server_side,
            server_hostname=(self._server_hostname or "") if not self._server_side else None,
        )
        if tls_transport is None:
            raise StreamClosedError(real_error=ConnectionError("TLS upgrade was interrupted"))
        # start_tls does not call connection_made on the new protocol.
        protocol.connection_made(tls_transport)

    def _on_opened(self) -> None:
        self._handshake_done = True
        future = self._handshake_future
        if future is not None and not future.done():
            future.set_result(self)
        super()._on_opened()

    def _signal_closed(self) -> None:
        future = self._handshake_future
        super()._signal_closed()
        if future is not None:
            _fail(future, self.error)

    def wait_for_handshake(self) -> asyncio.Future[SSLIOStream]:
        """Return a future that resolves to this stream once the TLS handshake is done.

        Use it to inspect the peer certificate before reading or writing.

        Raises:
            StreamBusyError: called a second time.
        """
        if self._handshake_future is not None:
            raise StreamBusyError("Already waiting for the handshake")
        future: asyncio.Future[SSLIOStream] = self._get_loop().create_future()
        self._handshake_future = future
        if self._handshake_done:
            future.set_result(self)
        elif self._closed:
            _fail(future, self.error)
        return future

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS session (peer certificate, cipher, ALPN), once the handshake is done."""
        obj = self.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None
