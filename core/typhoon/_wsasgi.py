"""``WebSocketHandler`` over an ASGI server's WebSocket support.

Layer 5 (private to :mod:`typhoon.websocket`). Imports :mod:`typhoon._wsconnection`
(the :class:`~typhoon._wsconnection.WebSocketProtocol` interface),
:mod:`typhoon._asgi_adapter` (the connection the ASGI adapter gives the handler),
:mod:`typhoon.wsproto` (close-code rules), :mod:`typhoon.concurrent`,
:mod:`typhoon.escape`, :mod:`typhoon.errors`, :mod:`typhoon.log` and the standard
library.

When a handler's request came through :func:`typhoon.asgi.asgi_app`, the ASGI server
has already done what :class:`~typhoon._wsconnection.WebSocketProtocol13` does on a
socket: framing, masking, compression, pings and the closing handshake. So this
protocol object passes whole messages: the ASGI adapter delivers each incoming one to
the handler's ``on_message`` (in order; an awaitable result delays the next one) and
``write_message`` queues an outgoing one, whose future resolves once the server took
it. Control frames are not visible through ASGI: ``ping`` sends nothing and
``on_ping`` / ``on_pong`` are never called (the server pings on its own schedule).
"""

from __future__ import annotations

__all__ = ["ASGIWebSocketProtocol", "asgi_websocket_protocol"]

import asyncio
import sys
from collections.abc import Awaitable
from types import TracebackType
from typing import Any

from typhoon._asgi_adapter import ASGIWebSocketConnection
from typhoon._wsconnection import WebSocketEndpoint, WebSocketProtocol
from typhoon.concurrent import convert_yielded
from typhoon.errors import StreamClosedError, WebSocketClosedError, WebSocketOutputError
from typhoon.escape import json_encode
from typhoon.log import app_log, gen_log
from typhoon.wsproto import CloseCode, is_valid_close_code

_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


def asgi_websocket_protocol(
    endpoint: WebSocketEndpoint,
    connection: object,
    *,
    subprotocol: str | None,
    max_message_size: int | None,
) -> ASGIWebSocketProtocol | None:
    """The protocol for a handshake that came through ASGI, or ``None`` for any other."""
    if not isinstance(connection, ASGIWebSocketConnection):
        return None
    return ASGIWebSocketProtocol(
        endpoint, connection, subprotocol=subprotocol, max_message_size=max_message_size
    )


class ASGIWebSocketProtocol(WebSocketProtocol):
    """An accepted WebSocket connection whose frames the ASGI server handles.

    :arg endpoint: the handler receiving the callbacks.
    :arg connection: the adapter's connection for this scope.
    :arg subprotocol: the subprotocol the handler selected.
    :arg max_message_size: incoming messages larger than this close the connection
        with 1009 (the server's own limit applies first).
    """

    __slots__ = (
        "_callback_failed",
        "_selected_subprotocol",
        "connection",
        "endpoint",
        "max_message_size",
    )

    def __init__(
        self,
        endpoint: WebSocketEndpoint,
        connection: ASGIWebSocketConnection,
        *,
        subprotocol: str | None,
        max_message_size: int | None,
    ) -> None:
        self.endpoint = endpoint
        self.connection = connection
        self.max_message_size = max_message_size
        self._selected_subprotocol = subprotocol
        self._callback_failed = False
        connection.attach(self)

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol both sides agreed on in the handshake, or ``None``."""
        return self._selected_subprotocol

    def is_closing(self) -> bool:
        """Whether a close was sent or the connection ended."""
        connection = self.connection
        return connection.close_sent or connection.closed

    def set_nodelay(self, value: bool) -> None:
        """Nothing to do: the ASGI server owns the socket and its options."""

    def start_pinging(self) -> None:
        """Nothing to do: keep-alive pings are the ASGI server's (its own settings)."""

    def start(self) -> None:
        """Start delivering messages to the handler (its ``open`` is done)."""
        self.connection.start_receiving()

    def abort(self) -> None:
        """End the connection at once (the ASGI call returns; the server drops it)."""
        self.connection.close()

    # --- sending --------------------------------------------------------------------

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message (a dict as JSON text); the future resolves once it is sent.

        Raises:
            WebSocketClosedError: the connection is closing or closed.
            WebSocketOutputError: ``binary=False`` with bytes that are not UTF-8.
        """
        if isinstance(message, dict):
            message = json_encode(message)
        data: str | bytes
        if binary:
            data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        elif isinstance(message, str):
            data = message
        else:
            try:
                data = bytes(message).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WebSocketOutputError("text message is not valid UTF-8") from exc
        try:
            sent = self.connection.send_message(data)
        except StreamClosedError as exc:
            raise WebSocketClosedError("the WebSocket connection is closed") from exc
        return _translated(sent)

    def write_ping(self, data: bytes) -> None:
        """Nothing is sent: ASGI has no message for a Ping (the server pings itself).

        Raises:
            WebSocketClosedError: the connection is closing or closed.
            WebSocketOutputError: ``data`` is over 125 bytes (as on any connection).
        """
        if self.is_closing():
            raise WebSocketClosedError("the WebSocket connection is closed")
        if len(data) > 125:
            raise WebSocketOutputError("control frame payload over 125 bytes")
        gen_log.debug("WebSocket ping not sent: the ASGI server handles keep-alive")

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Ask the server to close with ``code`` (1000 when none) and ``reason``.

        Raises:
            WebSocketOutputError: a code that may not be sent, or a reason over 123 bytes.
        """
        if self.is_closing():
            return
        if code is None:
            code = CloseCode.NORMAL_CLOSURE
        if not is_valid_close_code(code):
            raise WebSocketOutputError(f"close code {code} may not be sent")
        text = reason or ""
        if len(text.encode("utf-8")) > 123:
            raise WebSocketOutputError("close reason over 123 bytes")
        self.connection.send_close(int(code), text)

    # --- receiving (called by the ASGI adapter) --------------------------------------

    def on_asgi_message(self, data: str | bytes) -> Awaitable[None] | None:
        """Hand one message to the handler; an awaitable result holds the next one."""
        if self._callback_failed:
            return None
        limit = self.max_message_size
        if limit is not None and len(data) > limit:
            gen_log.info("WebSocket message over %d bytes; closing with 1009", limit)
            self.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
            self._callback_failed = True
            return None
        try:
            result = self.endpoint.on_message(data)
        except Exception:
            self._application_error()
            return None
        if result is None:
            return None
        return self._wait_for(result)

    async def _wait_for(self, result: Awaitable[None]) -> None:
        try:
            await convert_yielded(result)
        except Exception:
            self._application_error()

    def on_asgi_close(self, code: int | None, reason: str | None) -> None:
        """The connection ended: tell the handler (once), as the socket protocol does."""
        if code in (CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE):
            code, reason = None, None
        self.endpoint.on_ws_connection_close(code, reason or None)

    def _application_error(self, exc_info: _ExcInfo | None = None) -> None:
        """Handler code raised: log it and close with 1011 (internal error)."""
        if exc_info is None:
            exc_info = sys.exc_info()
        try:
            self.endpoint.log_exception(*exc_info)
        except Exception:
            app_log.error("Exception in log_exception", exc_info=True)
        self._callback_failed = True
        self.close(CloseCode.INTERNAL_ERROR, "internal error")


def _translated(sent: asyncio.Future[None]) -> asyncio.Future[None]:
    """``sent``, with a failure turned into :class:`WebSocketClosedError`."""
    if sent.done() and not sent.cancelled() and sent.exception() is None:
        return sent
    target: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def copy(done: asyncio.Future[None]) -> None:
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
        # Handlers often do not wait for writes; awaiting still raises.
        target.exception()

    if sent.done():
        copy(sent)
    else:
        sent.add_done_callback(copy)
    return target
