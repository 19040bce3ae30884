"""The WebSocket connection engine: a :class:`~typhoon.wsproto.WebSocketCodec` as an
asyncio protocol.

Layer 5 (private to :mod:`typhoon.websocket`). Imports :mod:`typhoon.wsproto`,
:mod:`typhoon._wstransport`, :mod:`typhoon.iostream`, :mod:`typhoon.concurrent`,
:mod:`typhoon.escape`, :mod:`typhoon.errors`, :mod:`typhoon.log` and the standard
library.

The codec owns every protocol rule; this module owns the transport, the timers and
the calls into application code. Server handlers and client connections share it:
both are an *endpoint* with ``on_message``, ``on_ping``, ``on_pong``,
``on_ws_connection_close`` and ``log_exception``.

Strategy. After the handshake the connection leaves its IOStream for a transport of
its own (:mod:`typhoon._wstransport`), so received bytes reach
:meth:`WebSocketProtocol13.data_received` directly: they are parsed and every event
they complete is dispatched in that call (a read that is exactly one small message
takes one codec call, ``receive_single``), and what the handlers write goes out with
no future or loop turn in between. When ``on_message`` returns an awaitable,
dispatching stops and the transport stops reading until the awaitable is done:
messages are handled one after another and a slow handler pushes back on the sender.
Bytes the codec produces on its own (pongs, the Close reply, the Close that fails a
connection) are written once per batch of events.

Closing (RFC 6455 section 7): :meth:`WebSocketProtocol13.close` sends a Close frame
and waits :data:`CLOSE_TIMEOUT` seconds for the peer's; a server closes the TCP
connection as soon as both Close frames were exchanged, a client waits for the server
to do so (section 7.1.1) for the same bounded time. A peer that breaks the protocol
gets a Close frame with the code the codec chose; the write side is then shut down
and input discarded until the peer closes, so the Close frame cannot be destroyed by
a reset. Whatever the path, the endpoint's ``on_ws_connection_close`` runs exactly
once, when the transport is gone.

Server shutdown: a server-side connection upgraded by an ``HTTPServer`` re-enters the
server's connection registry as a :class:`ServerDrain`, so ``HTTPServer.shutdown()``
sends it a Close with 1001 (going away) and waits for it within its deadline.

Keep-alive: with ``ping_interval`` a Ping is sent every interval; when a Pong has not
arrived ``ping_timeout`` seconds after a Ping, the peer is taken for dead: a Close
(1011) is attempted and the connection is dropped at once, so the endpoint learns of
the loss without waiting for TCP to notice.
"""

from __future__ import annotations

__all__ = [
    "CLOSE_TIMEOUT",
    "ServerDrain",
    "WebSocketEndpoint",
    "WebSocketProtocol",
    "WebSocketProtocol13",
]

import abc
import asyncio
import socket
import sys
from collections import deque
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Protocol

from typhoon._wstransport import StreamTransport, connect_protocol, release_socket
from typhoon.concurrent import convert_yielded
from typhoon.errors import WebSocketClosedError, WebSocketError
from typhoon.escape import json_encode
from typhoon.iostream import IOStream
from typhoon.log import app_log, gen_log
from typhoon.wsproto import (
    Close,
    CloseCode,
    ConnectionState,
    Ping,
    Pong,
    Role,
    WebSocketCodec,
)

#: Seconds to wait for the peer's side of the closing handshake before giving up on it.
CLOSE_TIMEOUT = 5.0

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED
_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]

# What write_message returns while the transport keeps up: one resolved future, shared
# by every connection of the loop it belongs to (remade when another loop asks).
_resolved_future: asyncio.Future[None] | None = None


def _resolved(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    global _resolved_future
    future = _resolved_future
    if future is None or future.get_loop() is not loop:
        future = _resolved_future = loop.create_future()
        future.set_result(None)
    return future


class WebSocketEndpoint(Protocol):
    """What a connection calls back: a server handler or a client connection."""

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Handle one complete message; an awaitable delays the next one."""

    def on_ping(self, data: bytes) -> None:
        """A Ping arrived (already answered)."""

    def on_pong(self, data: bytes) -> None:
        """A Pong arrived."""

    def on_ws_connection_close(self, close_code: int | None, close_reason: str | None) -> None:
        """The connection has closed; called once."""

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Log an exception raised by application code."""


class WebSocketProtocol(abc.ABC):
    """One open WebSocket connection, as seen by its handler or client connection.

    The interface :class:`WebSocketProtocol13` (RFC 6455, the only version spoken
    today) implements. Application code reaches it as ``handler.ws_connection`` or
    ``client.protocol``, mostly to check :meth:`is_closing`.
    """

    __slots__ = ()

    @property
    @abc.abstractmethod
    def selected_subprotocol(self) -> str | None:
        """The subprotocol both sides agreed on in the handshake, or ``None``."""

    @abc.abstractmethod
    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message; the future resolves when the transport has room for more."""

    @abc.abstractmethod
    def write_ping(self, data: bytes) -> None:
        """Send a Ping with ``data`` (at most 125 bytes)."""

    @abc.abstractmethod
    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (a no-op when already closing)."""

    @abc.abstractmethod
    def is_closing(self) -> bool:
        """Whether a Close frame was sent or received, or the connection is gone."""

    @abc.abstractmethod
    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) for lower latency on small messages."""

    @abc.abstractmethod
    def start_pinging(self) -> None:
        """Start the keep-alive pings, when a ping interval is set."""


class WebSocketProtocol13(WebSocketProtocol, asyncio.Protocol):
    """An RFC 6455 connection: the codec driven by an asyncio transport.

    :arg endpoint: the handler or client connection receiving the callbacks.
    :arg codec: the codec built from the handshake's outcome (its role decides
        masking and who closes the TCP connection first).
    :arg subprotocol: the agreed subprotocol, reported by :attr:`selected_subprotocol`.
    :arg ping_interval: seconds between keep-alive pings; ``None`` or 0 for none.
    :arg ping_timeout: seconds a Pong may take before the peer is taken for dead;
        ``None`` or 0 waits forever.

    Connect it with :meth:`attach`, then call :meth:`start` once the endpoint is
    ready for messages.
    """

    __slots__ = (
        "_callback_failed",
        "_close_timer",
        "_done",
        "_drain",
        "_drain_waiters",
        "_finished",
        "_loop",
        "_ping_timer",
        "_pong_timer",
        "_read_paused",
        "_selected_subprotocol",
        "_server",
        "_waiting",
        "_write_paused",
        "codec",
        "endpoint",
        "ping_interval",
        "ping_timeout",
        "transport",
    )

    def __init__(
        self,
        endpoint: WebSocketEndpoint,
        codec: WebSocketCodec,
        *,
        subprotocol: str | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.codec = codec
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        #: The connection's transport, once attached.
        self.transport: asyncio.Transport | None = None
        self._selected_subprotocol = subprotocol
        self._server = codec.role is Role.SERVER
        self._loop = asyncio.get_running_loop()
        self._done = _resolved(self._loop)
        self._finished = False
        # Dispatch is held (reading paused) until start(), and while an awaitable
        # returned by on_message is pending.
        self._waiting = True
        self._read_paused = False
        self._write_paused = False
        self._callback_failed = False
        # The entry in the HTTP server's connection registry, when it has one.
        self._drain: ServerDrain | None = None
        self._drain_waiters: deque[asyncio.Future[None]] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None

    # --- attaching ------------------------------------------------------------------

    def attach(self, stream: IOStream) -> Awaitable[None] | None:
        """Take the connection over from ``stream`` (see :mod:`typhoon._wstransport`).

        Returns ``None`` when the connection is attached already, otherwise an
        awaitable that completes once it is (it raises ``OSError`` if the connection
        was lost meanwhile). Bytes the stream had read are kept for the codec.
        """
        released = release_socket(stream)
        if released is None:
            StreamTransport(stream, self)
            return None
        twin, leftover = released
        if leftover:
            self.codec.receive_data(leftover)
        return self._connect(twin)

    async def _connect(self, twin: socket.socket) -> None:
        try:
            await connect_protocol(twin, self._self)
        except BaseException:
            self._finished = True
            raise

    def _self(self) -> WebSocketProtocol13:
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Called by the transport once connected."""
        self.transport = transport  # type: ignore[assignment]
        if self._waiting:
            self._pause_reading()

    def start(self) -> None:
        """Start dispatching messages; call once the endpoint is ready for them.

        Bytes already received (those that followed the handshake) are handled first.
        """
        if self._finished or not self._waiting:
            return
        self._waiting = False
        self._resume_reading()
        self._process()

    # --- state ----------------------------------------------------------------------

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol both sides agreed on in the handshake, or ``None``."""
        return self._selected_subprotocol

    def is_closing(self) -> bool:
        """Whether a Close frame was sent or received, or the connection is gone."""
        transport = self.transport
        return (
            self._finished
            or self.codec.state is not _OPEN
            or transport is None
            or transport.is_closing()
        )

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) or back on."""
        transport = self.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(value))

    # --- reading --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feed received bytes to the codec and dispatch what they complete."""
        codec = self.codec
        if self._waiting:
            codec.receive_data(data)
            self._pause_reading()
            return
        # The usual case: the bytes are exactly one small message.
        try:
            message = codec.receive_single(data)
        except WebSocketError as exc:
            self._protocol_failure(exc)
            return
        if message is None:
            codec.receive_data(data)
            self._process()
            return
        if self._callback_failed:
            return
        try:
            result = self.endpoint.on_message(message)
        except Exception:
            self._application_error()
            return
        if result is not None:
            self._wait_for(result)

    def eof_received(self) -> bool:
        """The peer shut down its side; the codec reports it (1006 without a Close)."""
        codec = self.codec
        transport = self.transport
        if codec.state is _CLOSED:
            # Our Close went out (or the connection failed): the exchange is over.
            if transport is not None:
                transport.close()
            return True
        codec.receive_data(b"")
        if not self._waiting:
            self._process()
        return True

    def _pause_reading(self) -> None:
        transport = self.transport
        if not self._read_paused and transport is not None and not transport.is_closing():
            self._read_paused = True
            transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self.transport
        if self._read_paused and transport is not None and not transport.is_closing():
            self._read_paused = False
            transport.resume_reading()

    def _process(self) -> None:
        """Dispatch every complete event, in order (see the module docstring)."""
        next_item = self.codec.next_item
        endpoint = self.endpoint
        while True:
            try:
                item = next_item()
            except WebSocketError as exc:
                self._protocol_failure(exc)
                return
            if item is None:
                break
            kind = type(item)
            if kind is str or kind is bytes:
                if self._callback_failed:
                    continue
                try:
                    result = endpoint.on_message(item)  # type: ignore[arg-type]
                except Exception:
                    self._application_error()
                    continue
                if result is not None:
                    self._wait_for(result)
                    return
            elif kind is Ping:
                self._flush()
                self._call(endpoint.on_ping, item.payload)  # type: ignore[union-attr]
            elif kind is Pong:
                self._cancel_pong_timer()
                self._call(endpoint.on_pong, item.payload)  # type: ignore[union-attr]
            else:
                assert isinstance(item, Close)
                self._close_received(item)
                return
        pending = self.codec.data_to_send()
        if pending:
            self._send(pending)

    def _call(self, callback: Any, data: bytes) -> None:
        if self._callback_failed:
            return
        try:
            callback(data)
        except Exception:
            self._application_error()

    def _wait_for(self, result: Awaitable[None]) -> None:
        """Hold further events until the awaitable ``on_message`` returned is done."""
        self._flush()
        try:
            future = convert_yielded(result)
        except Exception:
            self._application_error()
            self._process()
            return
        self._waiting = True
        self._pause_reading()
        future.add_done_callback(self._on_handled)

    def _on_handled(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled():
            exc = future.exception()
            if exc is not None:
                self._application_error((type(exc), exc, exc.__traceback__))
        self._waiting = False
        if not self._finished:
            self._resume_reading()
            self._process()

    def _application_error(self, exc_info: _ExcInfo | None = None) -> None:
        """Application code raised: log it and close with 1011 (internal error)."""
        if exc_info is None:
            exc_info = sys.exc_info()
        try:
            self.endpoint.log_exception(*exc_info)
        except Exception:
            app_log.error("Exception in log_exception", exc_info=True)
        # Messages still arriving are dropped: the connection is going away.
        self._callback_failed = True
        self.close(CloseCode.INTERNAL_ERROR, "internal error")

    def _protocol_failure(self, exc: WebSocketError) -> None:
        # Section 7.1.7: the codec queued a Close with the code and stopped; send it,
        # then close without losing it (see the module docstring).
        gen_log.info("WebSocket protocol error (closing with %d): %s", exc.close_code, exc)
        self._flush()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            # The codec now discards input; eof_received closes once the peer is done.
            transport.write_eof()
            self._resume_reading()
            self._arm_close_timer()
        else:
            transport.close()

    def _close_received(self, event: Close) -> None:
        self._flush()
        transport = self.transport
        if transport is None:
            return
        if self._server or event.code == CloseCode.ABNORMAL_CLOSURE:
            # Section 7.1.1: the server closes the TCP connection first.
            transport.close()
            return
        # A client waits (a bounded time) for the server to close the connection.
        self._resume_reading()
        self._arm_close_timer()

    # --- writing --------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.codec.data_to_send()
        if data:
            self._send(data)

    def _send(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message (a dict is sent as JSON text).

        The future resolves when the transport's buffer is below its high-water mark
        (at once, usually); waiting on it keeps a fast producer at the peer's pace.

        Raises:
            WebSocketClosedError: the connection is closing or closed.
            WebSocketOutputError: ``binary=False`` with bytes that are not UTF-8.
        """
        if isinstance(message, dict):
            message = json_encode(message)
        transport = self.transport
        if self._finished or transport is None:
            raise WebSocketClosedError("the WebSocket connection is closed")
        transport.write(self.codec.send_message(message, binary))
        if self._write_paused:
            return self._drain_waiter()
        return self._done

    def _drain_waiter(self) -> asyncio.Future[None]:
        waiters = self._drain_waiters
        if waiters is None:
            waiters = self._drain_waiters = deque()
        future = self._loop.create_future()
        waiters.append(future)
        return future

    def pause_writing(self) -> None:
        """The transport's buffer is full: writes now return pending futures."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The transport drained: resolve the pending write futures."""
        self._write_paused = False
        waiters = self._drain_waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(None)

    def write_ping(self, data: bytes) -> None:
        """Send a Ping carrying ``data`` (at most 125 bytes).

        Raises:
            WebSocketClosedError: the connection is closing or closed.
            WebSocketOutputError: ``data`` is over 125 bytes.
        """
        transport = self.transport
        if self._finished or transport is None:
            raise WebSocketClosedError("the WebSocket connection is closed")
        transport.write(self.codec.send_ping(data))

    # --- closing --------------------------------------------------------------------

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Send a Close frame and wait (bounded) for the peer's.

        ``code=None`` with a reason means 1000; with neither, the Close frame has no
        status. A second call, or a call after the peer closed, does nothing.

        Raises:
            WebSocketOutputError: a code that may not be sent, or a reason over 123 bytes.
        """
        if self._finished or self.codec.state is not _OPEN:
            return
        if code is None and reason is not None:
            code = CloseCode.NORMAL_CLOSURE
        frame = self.codec.send_close(code, reason or "")
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(frame)
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._finished:
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        gen_log.info("WebSocket closing handshake timed out; dropping the connection")
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""
        transport = self.transport
        if transport is not None:
            transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The transport is gone: stop the timers and tell the endpoint (once)."""
        if self._finished:
            return
        self._finished = True
        for timer in (self._close_timer, self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._ping_timer = self._pong_timer = None
        waiters = self._drain_waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_exception(WebSocketClosedError("the WebSocket connection closed"))
                # A write cut by the close is not worth a "never retrieved" log line;
                # awaiting the future still raises.
                future.exception()
        codec = self.codec
        code = codec.close_code
        if code in (CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE):
            code = None
        reason = (codec.close_reason or None) if code is not None else None
        try:
            self.endpoint.on_ws_connection_close(code, reason)
        except Exception:
            app_log.error("Exception in the WebSocket close callback", exc_info=True)
        drain = self._drain
        if drain is not None:
            drain.lost()

    # --- keep-alive -----------------------------------------------------------------

    def start_pinging(self) -> None:
        """Send a Ping every ``ping_interval`` seconds (when set) until the close."""
        interval = self.ping_interval
        if interval and interval > 0 and self._ping_timer is None and not self._finished:
            self._ping_timer = self._loop.call_later(interval, self._send_keepalive)

    def _send_keepalive(self) -> None:
        self._ping_timer = None
        if self.is_closing():
            return
        self.write_ping(b"")
        timeout = self.ping_timeout
        if timeout and timeout > 0 and self._pong_timer is None:
            self._pong_timer = self._loop.call_later(timeout, self._ping_timed_out)
        interval = self.ping_interval
        if interval and interval > 0:
            self._ping_timer = self._loop.call_later(interval, self._send_keepalive)

    def _cancel_pong_timer(self) -> None:
        timer = self._pong_timer
        if timer is not None:
            timer.cancel()
            self._pong_timer = None

    def _ping_timed_out(self) -> None:
        self._pong_timer = None
        gen_log.info("WebSocket peer did not answer a ping in %s seconds", self.ping_timeout)
        transport = self.transport
        if self.codec.state is _OPEN and transport is not None and not transport.is_closing():
            transport.write(
                self.codec.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            )
        # The peer is gone: no point waiting for its Close (nor for the buffer to drain).
        self.abort()


class ServerDrain:
    """An open server-side WebSocket connection in its HTTP server's connection registry.

    ``HTTPServer.shutdown()`` calls :meth:`start_draining` on every connection it
    holds, waits (within its deadline) for them to leave the registry, then awaits
    :meth:`close` on those still there. A WebSocket connection leaves the HTTP
    connection it was upgraded from, so without an entry of its own a shutdown would
    neither tell the client nor wait for it.

    :arg connection: the open connection.
    :arg server: the server (``track_connection``, ``on_close`` and ``draining``, as
        :class:`~typhoon.httpserver.HTTPServer` has them); the entry joins its
        registry now and leaves it, through ``on_close``, once the connection is gone.
    """

    __slots__ = ("_closed", "_connection", "_server")

    def __init__(self, connection: WebSocketProtocol13, server: Any) -> None:
        self._connection = connection
        self._server = server
        self._closed: asyncio.Future[None] | None = None
        server.track_connection(self)
        connection._drain = self

    def server_draining(self) -> bool:
        """Whether the server has begun shutting down."""
        return bool(getattr(self._server, "draining", False))

    def start_draining(self) -> None:
        """The server is shutting down: send Close 1001 (RFC 6455 section 7.4.1, "going
        away") and let the closing handshake finish."""
        connection = self._connection
        if not connection.is_closing():
            connection.close(CloseCode.GOING_AWAY, "server shutting down")

    async def close(self) -> None:
        """Drop the connection now (the shutdown deadline passed) and wait until it is
        gone."""
        connection = self._connection
        if connection._drain is not self:
            return
        closed = self._closed
        if closed is None:
            closed = self._closed = connection._loop.create_future()
        connection.abort()
        try:
            await asyncio.wait_for(asyncio.shield(closed), CLOSE_TIMEOUT)
        except TimeoutError:
            gen_log.info("WebSocket connection still not closed %s s after abort", CLOSE_TIMEOUT)
            self._leave()

    def lost(self) -> None:
        """The connection is gone (or never came): leave the registry, tell the server."""
        connection = self._connection
        if connection._drain is not self:
            return
        connection._drain = None
        closed = self._closed
        if closed is not None and not closed.done():
            closed.set_result(None)
        self._leave()

    def _leave(self) -> None:
        """Leave the server's registry (its ``on_close`` forgets the entry)."""
        try:
            self._server.on_close(self)
        except Exception:
            app_log.error("Exception in the server's on_close", exc_info=True)
