"""The connection object of one request on the transport-driven server connection.

Layer 4 (private to ``typhoon._h1wire``): imports :mod:`typhoon.http1connection`,
:mod:`typhoon.http1proto`, :mod:`typhoon.httputil`, :mod:`typhoon.iostream`,
:mod:`typhoon.errors` and the standard library.

* :class:`WireRequestConnection` is what ``request.connection`` is on
  ``HTTPServer``'s fast path: an :class:`~typhoon.http1connection.HTTP1Connection`
  whose writes go straight to the protocol object and transport of its
  :class:`~typhoon._h1wire.WireServerConnection`.
* :class:`TransportView` stands in for ``connection.stream`` while the server owns
  the transport (``closed()``, ``get_extra_info``, ``socket``...).
* :func:`adopt_transport` turns the transport into an
  :class:`~typhoon.iostream.IOStream` for ``detach()``.
"""

from __future__ import annotations

__all__ = ["TransportView", "WireRequestConnection", "adopt_transport"]

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from typhoon._http1base import BytesLike
from typhoon.errors import HTTPOutputError
from typhoon.http1connection import (
    GzipMessageDelegate,
    HTTP1Connection,
    HTTP1ConnectionParameters,
    closed_future,
)
from typhoon.http1proto import State
from typhoon.httputil import (
    HTTPHeaders,
    HTTPMessageDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from typhoon.iostream import IOStream, SSLIOStream

if TYPE_CHECKING:
    from typhoon._h1wire import WireServerConnection

_MUST_CLOSE: Final = State.MUST_CLOSE
_SWITCHED: Final = State.SWITCHED_PROTOCOL


def adopt_transport(transport: asyncio.Transport) -> IOStream:
    """An :class:`IOStream` (or :class:`SSLIOStream`) for a transport already connected.

    The stream is created without opening anything (its hand-over mode, as for
    ``start_tls``); the caller connects it with ``connection_protocol()``.
    """
    sock: Any = transport.get_extra_info("socket")
    ssl_object = transport.get_extra_info("ssl_object")
    stream: IOStream
    if ssl_object is not None:
        tls = SSLIOStream.__new__(SSLIOStream)
        tls._handoff = True
        SSLIOStream.__init__(tls, sock, ssl_options=ssl_object.context, server_side=True)
        tls._handshake_done = True
        stream = tls
    else:
        stream = IOStream.__new__(IOStream)
        stream._handoff = True
        IOStream.__init__(stream, sock)
    stream._handoff = False
    return stream


class WireRequestConnection(HTTP1Connection):
    """The :class:`HTTP1Connection` of one request on a :class:`WireServerConnection`."""

    __slots__ = ("_close_callback", "_finished", "_head", "_wire", "context")

    def __init__(self, wire: WireServerConnection, head: bool = False) -> None:
        # Deliberately not calling HTTP1Connection.__init__: there is no stream.
        self._wire = wire
        #: The connection context (``remote_ip``, ``protocol``, ``address``).
        self.context = wire
        # A HEAD request: body bytes the application writes are dropped.
        self._head = head
        self._finished = False
        self._close_callback: Callable[[], object] | None = None

    is_client = False

    @property
    def params(self) -> HTTP1ConnectionParameters:  # type: ignore[override]
        """The connection parameters of the server."""
        return self._wire._settings.params

    @property
    def no_keep_alive(self) -> bool:  # type: ignore[override]
        """Whether the server closes connections after each request."""
        return self._wire._settings.no_keep_alive

    @property
    def stream(self) -> TransportView:  # type: ignore[override]
        """A view of the connection (``closed()``, ``get_extra_info``, ``socket``...)."""
        return TransportView(self._wire)

    def read_response(self, delegate: HTTPMessageDelegate) -> Any:
        """Not available: the server reads requests itself on this connection."""
        raise HTTPOutputError("the server reads requests on this connection itself")

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: BytesLike | None = None,
    ) -> asyncio.Future[None]:
        """Write the response head (and the first piece of the body, if given).

        Raises:
            HTTPOutputError: the response is not valid here (see
                :meth:`typhoon.http1proto.HTTP1ServerProtocol.send_response`).
        """
        wire = self._wire
        if self is not wire._req or wire._closing:
            return closed_future()
        if wire._settings.draining and "Connection" not in headers:
            # Graceful shutdown: this is the connection's last response. The
            # application's headers object is left as it was.
            headers = headers.copy()
            headers["Connection"] = "close"
        data = wire._proto._respond(
            start_line.code,  # type: ignore[union-attr]
            headers,
            start_line.reason or None,  # type: ignore[union-attr]
            b"" if self._head or chunk is None else chunk if type(chunk) is bytes else bytes(chunk),
            False,
        )
        if wire._in_loop and not wire._write_paused:
            # The common case: answered while its request is dispatched.
            wire._collect(data)
            return wire._settings.done
        return wire._send(data)

    def write(self, chunk: BytesLike) -> asyncio.Future[None]:
        """Write a piece of the response body.

        Raises:
            HTTPOutputError: more than the declared ``Content-Length``, or a body on a
                response that cannot have one.
        """
        wire = self._wire
        if self is not wire._req or wire._closing:
            return closed_future()
        if self._head:
            # RFC 9110, section 9.3.2: the answer to HEAD has no content.
            return wire._send(b"")
        return wire._send(wire._proto.send_data(chunk))

    def finish(self) -> asyncio.Future[None]:  # type: ignore[override]
        """End the response; the connection then carries on with the next request.

        Raises:
            HTTPOutputError: fewer bytes were written than the declared
                ``Content-Length``.
        """
        wire = self._wire
        if self is not wire._req or wire._closing:
            return closed_future()
        proto = wire._proto
        self._close_callback = None
        if proto._our_state is _SWITCHED:
            # A 101 (or a 2xx to CONNECT) has no body to end; detach comes next.
            self._finished = True
            return wire._settings.done
        data = proto.send_end()
        if wire._in_loop and not wire._write_paused:
            if data:
                wire._collect(data)
            future = wire._settings.done
        else:
            future = wire._send(data)
        self._finished = True
        wire._parked = False
        if proto._our_state is _MUST_CLOSE:
            # Not reusable: the client asked to close, or its body was not read to the
            # end (the rest is never read, so the delegate will not get it).
            wire._msg_open = False
            wire._close()
        elif not wire._in_loop:
            # Carry on with pipelined requests on the next loop pass, so that a
            # detach right after finish still comes first.
            wire._settings.loop.call_soon(wire._resume)
        return future

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` if the connection closes before the response is finished."""
        self._close_callback = None if self._finished else callback

    def close(self) -> None:
        """Close the connection now (a response in progress is cut)."""
        wire = self._wire
        transport = wire._transport
        if transport is not None:
            if self._finished:
                wire._close()
            else:
                wire._abort()

    def detach(self) -> IOStream:
        """Take the connection over as an :class:`IOStream`; HTTP processing stops.

        Bytes received past the request are handed to the stream.

        Raises:
            StreamClosedError: the connection is closed or this request is over.
        """
        return self._wire._detach(self)

    def set_body_timeout(self, timeout: float) -> None:
        """Change the deadline for the whole body of this request."""
        wire = self._wire
        if self is wire._req:
            wire._change_body_timeout(timeout)

    def set_max_body_size(self, max_body_size: float) -> None:
        """Change the body size limit of this request (before its body is read)."""
        wire = self._wire
        if self is not wire._req:
            return
        limit = int(max_body_size)
        wire._proto.set_max_body_size(limit)
        msg = wire._msg
        if isinstance(msg, GzipMessageDelegate):
            msg.set_max_body_size(limit)


class TransportView:
    """The part of a stream's interface that makes sense while the server owns it.

    Offered: ``closed()``, ``close()``, ``write()``, ``get_extra_info``, ``socket``,
    ``fileno()``, ``set_nodelay`` and ``getpeercert``. Reading and close notification
    belong to the server: learn of a close with
    ``request.connection.set_close_callback`` (or a handler's ``on_connection_close``),
    and call ``request.connection.detach()`` to take the connection over as an
    :class:`~typhoon.iostream.IOStream`. Responses are written through the request's
    connection; ``write`` sends raw bytes in order with them, outside the HTTP framing.
    """

    __slots__ = ("_wire",)

    def __init__(self, wire: WireServerConnection) -> None:
        self._wire = wire

    def closed(self) -> bool:
        """Whether the connection is closed."""
        transport = self._wire._transport
        return transport is None or transport.is_closing()

    def close(self) -> None:
        """Close the connection now, as when the client goes away.

        Between requests what was written is still sent; during one, the response is
        cut and unsent data dropped. The request's handler sees the close as a
        connection lost, and later writes are discarded.
        """
        wire = self._wire
        transport = wire._transport
        if transport is None or transport.is_closing():
            return
        if wire.is_idle():
            wire._close()
        else:
            wire._abort()

    def write(self, data: bytes | bytearray | memoryview) -> asyncio.Future[None]:
        """Send raw bytes, in order with what the request's connection writes.

        They bypass the HTTP framing: the caller answers for what the client makes of
        them. The future resolves when more may be written; it fails with
        :class:`~typhoon.iostream.StreamClosedError` once the connection is closed.
        """
        wire = self._wire
        if wire._closing:
            return closed_future()
        return wire._send(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Transport information: ``peername``, ``sockname``, ``ssl_object``, ``peercert``."""
        transport = self._wire._transport
        if transport is None:
            return default
        return transport.get_extra_info(name, default)

    @property
    def socket(self) -> Any:
        """The transport's socket (for options; reading and writing belong to the server)."""
        return self.get_extra_info("socket")

    def fileno(self) -> int:
        """The socket's descriptor, or -1 once closed."""
        sock = self.socket
        return -1 if sock is None else int(sock.fileno())

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (True) or on."""
        sock = self.socket
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(value))

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The client's TLS certificate, or None."""
        ssl_object = self.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        return ssl_object.getpeercert(binary_form=binary_form)
