"""A non-blocking, single-threaded TCP server that hands each connection to ``handle_stream``.

Layer 3 (tcp): imports the standard library, :mod:`typhoon.iostream`,
:mod:`typhoon.netutil`, :mod:`typhoon.process`, :mod:`typhoon.concurrent`,
:mod:`typhoon.log`.
"""

from __future__ import annotations

__all__ = ["TCPServer"]

import asyncio
import os
import socket
import ssl
from typing import Any

from typhoon.concurrent import convert_yielded
from typhoon.iostream import IOStream, SSLIOStream, StreamClosedError
from typhoon.log import app_log, gen_log
from typhoon.netutil import (
    _DEFAULT_BACKLOG,
    add_accept_handler,
    bind_sockets,
    ssl_options_to_context,
)
from typhoon.process import fork_processes


class TCPServer:
    """A TCP server: subclass it and override :meth:`handle_stream`.

    Three ways to start it:

    1. ``listen``: one process, the simplest::

           server = MyServer()
           server.listen(8888)
           await asyncio.Event().wait()

    2. ``add_sockets``: sockets made elsewhere (for example with
       :func:`~typhoon.netutil.bind_sockets` before :func:`~typhoon.process.fork_processes`)::

           sockets = bind_sockets(8888)
           fork_processes(0)
           server = MyServer()
           server.add_sockets(sockets)

    3. ``bind`` + ``start``: binds in the parent, then forks ``num_processes`` workers
       that all accept on the same sockets (deprecated in Tornado 6.3 in favour of 2).

    With ``ssl_options`` (an :class:`ssl.SSLContext` or Tornado's ``ssl_options``
    dict) every connection is TLS; the handshake completes before
    :meth:`handle_stream` is called, and connections whose handshake fails never reach it.

    Args:
        ssl_options: Serve TLS with this context or dict.
        max_buffer_size: Passed to each connection's stream.
        read_chunk_size: Passed to each connection's stream.

    Raises:
        KeyError: An ``ssl_options`` dict has no ``certfile``.
        ValueError: The ``certfile`` or ``keyfile`` does not exist.
    """

    def __init__(
        self,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
    ) -> None:
        self.ssl_options = ssl_options
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        self._sockets: dict[int, socket.socket] = {}
        self._handlers: dict[int, Any] = {}
        self._pending_sockets: list[socket.socket] = []
        self._started = False
        self._stopped = False
        # Coroutine handle_stream calls: owned (kept referenced, failures logged) but not
        # cancelled by stop(), since accepted connections outlive it.
        self._tasks: set[asyncio.Future[Any]] = set()
        # TLS handshakes still in progress: stop() cancels them, as the application has
        # not seen those connections yet.
        self._handshakes: set[asyncio.Future[Any]] = set()
        self._ssl_context: ssl.SSLContext | None = None
        if isinstance(ssl_options, dict):
            # Fail at construction, not on the first connection.
            if "certfile" not in ssl_options:
                raise KeyError('missing key "certfile" in ssl_options')
            if not os.path.exists(ssl_options["certfile"]):
                raise ValueError(f'certfile "{ssl_options["certfile"]}" does not exist')
            keyfile = ssl_options.get("keyfile")
            if keyfile and not os.path.exists(keyfile):
                raise ValueError(f'keyfile "{keyfile}" does not exist')
        if ssl_options is not None:
            self._ssl_context = ssl_options_to_context(ssl_options, server_side=True)

    def listen(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` (see :func:`~typhoon.netutil.bind_sockets`) and start accepting.

        Connections are accepted on the current IOLoop once it runs.
        """
        self.add_sockets(
            bind_sockets(
                port,
                address=address,
                family=family,
                backlog=backlog,
                flags=flags,
                reuse_port=reuse_port,
            )
        )

    def add_sockets(self, sockets: list[socket.socket]) -> None:
        """Start accepting connections on listening ``sockets`` (the server now owns them)."""
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = add_accept_handler(sock, self._handle_connection)

    def add_socket(self, socket: socket.socket) -> None:
        """Start accepting connections on one listening socket."""
        self.add_sockets([socket])

    def bind(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` now and accept on it once :meth:`start` runs.

        May be called several times before :meth:`start` to listen on several ports.
        """
        sockets = bind_sockets(
            port,
            address=address,
            family=family,
            backlog=backlog,
            flags=flags,
            reuse_port=reuse_port,
        )
        if self._started:
            self.add_sockets(sockets)
        else:
            self._pending_sockets.extend(sockets)

    def start(self, num_processes: int | None = 1, max_restarts: int | None = None) -> None:
        """Start accepting on the sockets from :meth:`bind`, in one or more processes.

        With ``num_processes`` other than 1 the process first forks (see
        :func:`~typhoon.process.fork_processes`; ``None`` or 0 means one per CPU), and
        each worker accepts on the shared sockets. No event loop may exist before a
        fork, so with more than one process call this before creating any.

        Raises:
            RuntimeError: ``start`` was already called.
        """
        if self._started:
            raise RuntimeError("TCPServer.start() may only be called once")
        self._started = True
        if num_processes != 1:
            fork_processes(num_processes, max_restarts)
        sockets, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(sockets)

    def stop(self) -> None:
        """Stop accepting and close the listening sockets.

        Connections already handed to :meth:`handle_stream` carry on; TLS connections
        still in their handshake are closed. ``stop`` may be called more than once.
        """
        if self._stopped:
            return
        self._stopped = True
        for fd, sock in self._sockets.items():
            self._handlers.pop(fd)()
            sock.close()
        self._sockets.clear()
        for sock in self._pending_sockets:
            sock.close()
        self._pending_sockets = []
        for handshake in list(self._handshakes):
            handshake.cancel()

    def handle_stream(self, stream: IOStream, address: Any) -> Any:
        """Handle one new connection; override this.

        May be a coroutine: its exceptions are logged on ``typhoon.application``.
        ``address`` is the peer's socket address. The stream is the server's only
        reference to the connection; close it when done.
        """
        raise NotImplementedError()

    def _stream_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.max_buffer_size is not None:
            options["max_buffer_size"] = self.max_buffer_size
        if self.read_chunk_size is not None:
            options["read_chunk_size"] = self.read_chunk_size
        return options

    def _handle_connection(self, connection: socket.socket, address: Any) -> None:
        context = self._ssl_context
        try:
            if context is None:
                stream: IOStream = IOStream(connection, **self._stream_options())
            else:
                stream = SSLIOStream(
                    connection, ssl_options=context, server_side=True, **self._stream_options()
                )
        except OSError as exc:
            # The peer went away between accept and set-up.
            gen_log.debug("Error setting up connection from %s: %s", address, exc)
            connection.close()
            return
        if isinstance(stream, SSLIOStream):
            handshake = self._own(self._handshake_then_handle(stream, address))
            self._handshakes.add(handshake)
            handshake.add_done_callback(self._handshakes.discard)
        else:
            self._dispatch(stream, address)

    async def _handshake_then_handle(self, stream: SSLIOStream, address: Any) -> None:
        try:
            await stream.wait_for_handshake()
        except asyncio.CancelledError:
            stream.close()
            raise
        except StreamClosedError as exc:
            # RFC 8446 section 6.2: a failed handshake ends the connection; the
            # application never sees it.
            gen_log.warning("TLS handshake with %s failed: %s", address, exc)
            stream.close()
            return
        self._dispatch(stream, address)

    def _dispatch(self, stream: IOStream, address: Any) -> None:
        try:
            result = self.handle_stream(stream, address)
        except Exception:
            app_log.error("Error in connection callback", exc_info=True)
            return
        if result is not None:
            self._own(result)

    def _own(self, awaitable: Any) -> asyncio.Future[Any]:
        future = convert_yielded(awaitable)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)
        future.add_done_callback(self._log_failure)
        return future

    @staticmethod
    def _log_failure(future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            app_log.error("Error in connection callback", exc_info=exc)
