"""The WebSocket connection engine: a :class:`~typhoon.wsproto.WebSocketCodec` on a stream.

Layer 5 (private to :mod:`typhoon.websocket`). Imports :mod:`typhoon.wsproto`,
:mod:`typhoon.iostream`, :mod:`typhoon.concurrent`, :mod:`typhoon.escape`,
:mod:`typhoon.errors`, :mod:`typhoon.log` and the standard library.

The codec owns every protocol rule; this module owns the socket, the timers and the
calls into application code. Server handlers and client connections share it: both
are an *endpoint* with ``on_message``, ``on_ping``, ``on_pong``,
``on_ws_connection_close`` and ``log_exception``.

Strategy. Reading is callback driven, with no task per connection: one partial
``read_bytes`` is pending at a time and its done-callback feeds the codec and
dispatches every event the bytes complete, in order. When ``on_message`` returns an
awaitable, dispatching stops (and no read is pending, so the stream pauses the peer
once its buffer fills) until the awaitable is done: messages are handled one after
another and a slow handler pushes back on the sender. Bytes the codec produces on its
own (pongs, the Close reply, the Close that fails a connection) are written once per
batch of events.

Closing (RFC 6455 section 7): :meth:`WebSocketProtocol13.close` sends a Close frame
and waits :data:`CLOSE_TIMEOUT` seconds for the peer's; a server closes the TCP
connection as soon as both Close frames were exchanged, a client waits for the
server to do so (section 7.1.1) for the same bounded time. A peer that breaks the
protocol gets a Close frame with the code the codec chose, then the connection is
closed. Whatever the path, the endpoint's ``on_ws_connection_close`` runs exactly once,
when the stream has closed.

Keep-alive: with ``ping_interval`` a Ping is sent every interval; when a Pong has not
arrived ``ping_timeout`` seconds after a Ping, the peer is taken for dead: a Close
(1011) is attempted and the connection is closed at once, so the endpoint learns of
the loss without waiting for TCP to notice.
"""

from __future__ import annotations

__all__ = [
    "CLOSE_TIMEOUT",
    "WebSocketEndpoint",
    "WebSocketProtocol",
    "WebSocketProtocol13",
]

import abc
import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Protocol

from typhoon.concurrent import convert_yielded
from typhoon.errors import StreamClosedError, WebSocketClosedError, WebSocketError
from typhoon.escape import json_encode
from typhoon.iostream import IOStream
from typhoon.log import app_log, gen_log
from typhoon.wsproto import (
    BinaryMessage,
    Close,
    CloseCode,
    ConnectionState,
    Ping,
    Pong,
    Role,
    TextMessage,
    WebSocketCodec,
)

#: Seconds to wait for the peer's side of the closing handshake before giving up on it.
CLOSE_TIMEOUT = 5.0

# Bytes asked of the stream per read: a partial read returns whatever arrived.
_READ_SIZE = 65536

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED


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
        """Whether a Close frame was sent or received, or the stream is closed."""

    @abc.abstractmethod
    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) for lower latency on small messages."""

    @abc.abstractmethod
    def start_pinging(self) -> None:
        """Start the keep-alive pings, when a ping interval is set."""


class WebSocketProtocol13(WebSocketProtocol):
    """An RFC 6455 connection over an :class:`~typhoon.iostream.IOStream`.

    :arg endpoint: the handler or client connection receiving the callbacks.
    :arg stream: the stream the opening handshake happened on, now owned here.
    :arg codec: the codec built from the handshake's outcome (its role decides
        masking and who closes the TCP connection first).
    :arg subprotocol: the agreed subprotocol, reported by :attr:`selected_subprotocol`.
    :arg ping_interval: seconds between keep-alive pings; ``None`` or 0 for none.
    :arg ping_timeout: seconds a Pong may take before the peer is taken for dead;
        ``None`` or 0 waits forever.
    """

    __slots__ = (
        "_callback_failed",
        "_close_timer",
        "_eof",
        "_finished",
        "_loop",
        "_ping_timer",
        "_pong_timer",
        "_selected_subprotocol",
        "_server",
        "codec",
        "endpoint",
        "ping_interval",
        "ping_timeout",
        "stream",
    )

    def __init__(
        self,
        endpoint: WebSocketEndpoint,
        stream: IOStream,
        codec: WebSocketCodec,
        *,
        subprotocol: str | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.stream = stream
        self.codec = codec
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._selected_subprotocol = subprotocol
        self._server = codec.role is Role.SERVER
        self._loop = asyncio.get_running_loop()
        self._finished = False
        self._eof = False
        self._callback_failed = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        stream.set_close_callback(self._on_stream_closed)

    # --- state ----------------------------------------------------------------------

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol both sides agreed on in the handshake, or ``None``."""
        return self._selected_subprotocol

    def is_closing(self) -> bool:
        """Whether a Close frame was sent or received, or the stream is closed."""
        return self._finished or self.codec.state is not _OPEN or self.stream.closed()

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) or back on."""
        self.stream.set_nodelay(value)

    # --- reading --------------------------------------------------------------------

    def start(self) -> None:
        """Start reading frames; call once the endpoint is ready for messages.

        Bytes already fed to the codec (those that followed the handshake response)
        are dispatched first.
        """
        if not self._finished:
            self._process()

    def _read_more(self) -> None:
        try:
            future = self.stream.read_bytes(_READ_SIZE, partial=True)
        except StreamClosedError:
            self._receive(b"")
            return
        future.add_done_callback(self._on_read)

    def _on_read(self, future: asyncio.Future[bytes]) -> None:
        if future.cancelled() or future.exception() is not None:
            # The stream closed: the codec reports the end (1006 without a Close frame).
            self._receive(b"")
        else:
            self._receive(future.result())

    def _receive(self, data: bytes) -> None:
        if not data:
            self._eof = True
        self.codec.receive_data(data)
        self._process()

    def _process(self) -> None:
        """Dispatch every complete event, in order, then read more (see the docstring)."""
        codec = self.codec
        endpoint = self.endpoint
        while True:
            try:
                event = codec.next_event()
            except WebSocketError as exc:
                self._protocol_failure(exc)
                return
            if event is None:
                break
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                if self._callback_failed:
                    continue
                try:
                    result = endpoint.on_message(event.data)  # type: ignore[union-attr]
                except Exception:
                    self._application_error()
                    continue
                if result is not None:
                    self._wait_for(result)
                    return
            elif kind is Ping:
                self._flush()
                self._call(endpoint.on_ping, event.payload)  # type: ignore[union-attr]
            elif kind is Pong:
                self._cancel_pong_timer()
                self._call(endpoint.on_pong, event.payload)  # type: ignore[union-attr]
            else:
                assert isinstance(event, Close)
                self._close_received(event)
                return
        self._flush()
        if not (self._finished or self._eof):
            self._read_more()

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
        future.add_done_callback(self._on_handled)

    def _on_handled(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled():
            exc = future.exception()
            if exc is not None:
                self._application_error((type(exc), exc, exc.__traceback__))
        if not self._finished:
            self._process()

    def _application_error(
        self,
        exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
        | None = None,
    ) -> None:
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
        # Section 7.1.7: the codec queued a Close with the code; send it, then close.
        gen_log.info("WebSocket protocol error (closing with %d): %s", exc.close_code, exc)
        self._flush()
        self._linger()

    def _linger(self) -> None:
        """Close after a failure without losing the Close frame we just wrote.

        Closing a socket that still has unread input makes the kernel send a reset,
        which can destroy the Close frame before the peer reads it. So the write side
        is shut down first (the peer reads the Close, then the end of the stream) and
        input is read and discarded until the peer closes too, for at most
        :data:`CLOSE_TIMEOUT` seconds.
        """
        self._arm_close_timer()
        self._half_close()
        self._discard()

    def _half_close(self) -> None:
        stream = self.stream
        if stream.closed():
            return
        if stream.writing():
            # Shut down only once the transport has handed every byte to the kernel.
            self._loop.call_later(0.01, self._half_close)
            return
        sock = stream.socket
        if sock is None or stream.get_extra_info("ssl_object") is not None:
            # TLS must end with its own close_notify: close the stream normally.
            stream.close()
            return
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            stream.close()

    def _discard(self) -> None:
        try:
            future = self.stream.read_bytes(_READ_SIZE, partial=True)
        except StreamClosedError:
            return
        future.add_done_callback(self._on_discarded)

    def _on_discarded(self, future: asyncio.Future[bytes]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.stream.close()
            return
        self._discard()

    def _close_received(self, event: Close) -> None:
        self._flush()
        if event.code == CloseCode.ABNORMAL_CLOSURE or self._server:
            # Section 7.1.1: the server closes the TCP connection first.
            self.stream.close()
            return
        # A client waits (a bounded time) for the server to close the connection.
        self._arm_close_timer()
        try:
            self.stream.read_until_close().add_done_callback(self._on_drained)
        except StreamClosedError:
            return

    def _on_drained(self, future: asyncio.Future[bytes]) -> None:
        if not future.cancelled():
            future.exception()
        self.stream.close()

    # --- writing --------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.codec.data_to_send()
        if data and not self.stream.closed():
            try:
                self.stream.write(data)
            except StreamClosedError:
                return

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
        if self._finished:
            raise WebSocketClosedError("the WebSocket connection is closed")
        return self._write(self.codec.send_message(message, binary))

    def _write(self, data: bytes) -> asyncio.Future[None]:
        try:
            future = self.stream.write(data)
        except StreamClosedError as exc:
            raise WebSocketClosedError("the WebSocket connection is closed") from exc
        if future.done() and not future.cancelled() and future.exception() is None:
            return future
        translated: asyncio.Future[None] = self._loop.create_future()
        future.add_done_callback(lambda done: _translate(done, translated))
        return translated

    def write_ping(self, data: bytes) -> None:
        """Send a Ping carrying ``data`` (at most 125 bytes).

        Raises:
            WebSocketClosedError: the connection is closing or closed.
            WebSocketOutputError: ``data`` is over 125 bytes.
        """
        if self._finished:
            raise WebSocketClosedError("the WebSocket connection is closed")
        self._write(self.codec.send_ping(data))

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
        if not self.stream.closed():
            try:
                self.stream.write(frame)
            except StreamClosedError:
                return
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._finished:
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        gen_log.info("WebSocket closing handshake timed out; closing the connection")
        self.stream.close()

    def abort(self) -> None:
        """Close the connection at once, without a closing handshake."""
        self.stream.close()

    def _on_stream_closed(self) -> None:
        if self._finished:
            return
        self._finished = True
        for timer in (self._close_timer, self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._ping_timer = self._pong_timer = None
        codec = self.codec
        code = codec.close_code
        if code in (CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE):
            code = None
        reason = (codec.close_reason or None) if code is not None else None
        try:
            self.endpoint.on_ws_connection_close(code, reason)
        except Exception:
            app_log.error("Exception in the WebSocket close callback", exc_info=True)

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
        try:
            self.stream.write(self.codec.send_ping(b""))
        except (StreamClosedError, WebSocketClosedError):
            return
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
        if self.codec.state is _OPEN and not self.stream.closed():
            with contextlib.suppress(StreamClosedError):
                self.stream.write(
                    self.codec.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                )
        # The peer is gone: no point waiting for its Close.
        self.stream.close()


def _translate(done: asyncio.Future[None], target: asyncio.Future[None]) -> None:
    """Copy a stream write's outcome to ``target``, as :class:`WebSocketClosedError`."""
    if target.done():
        return
    if done.cancelled():
        target.cancel()
        return
    exc = done.exception()
    if exc is None:
        target.set_result(None)
        return
    error = WebSocketClosedError("the WebSocket connection closed during a write")
    error.__cause__ = exc
    target.set_exception(error)
    # Callers often do not wait for writes; a write cut by the close is not worth a
    # "never retrieved" log line, and awaiting still raises.
    target.exception()
