"""The ``websocket`` scope of :class:`typhoon.asgi.ASGIContainer`: RFC 6455 under an ASGI app.

Layer 4 (private to :mod:`typhoon.asgi`). Imports :mod:`typhoon._asgi_common`,
:mod:`typhoon.wsproto` (the handshake rules and the frame codec),
:mod:`typhoon.iostream`, :mod:`typhoon.httputil`, :mod:`typhoon.errors`,
:mod:`typhoon.log` and the standard library.

The server owns the protocol: it validates the opening handshake before the
application hears of it (a bad one is answered 400, 405 or 426 and the application is
never called), negotiates permessage-deflate when the container allows it, answers
pings, enforces the message size limit and every framing rule of the codec, and runs
the closing handshake. The application sees only the ASGI events: ``connect``, then
``receive`` messages and one ``disconnect`` carrying the peer's close code.

One task reads frames and queues the ASGI events (at most :data:`_QUEUED` of them, so
an application that stops calling ``receive`` stops the reading and TCP slows the
peer down); ``send`` writes frames and returns when the transport has room.
"""

from __future__ import annotations

__all__ = ["CLOSE_TIMEOUT", "WebSocketSession"]

import asyncio
import contextlib
import http.client
import socket
from collections.abc import Mapping
from typing import Any

from typhoon._asgi_common import (
    ASGIApp,
    Message,
    Scope,
    check_status,
    header_fields,
    log_access,
)
from typhoon.errors import (
    ASGIError,
    StreamClosedError,
    WebSocketError,
    WebSocketHandshakeError,
    WebSocketOutputError,
)
from typhoon.httputil import HTTPHeaders, ResponseStartLine
from typhoon.iostream import IOStream
from typhoon.log import app_log, gen_log
from typhoon.wsproto import (
    BinaryMessage,
    Close,
    CloseCode,
    ConnectionState,
    DeflateOptions,
    HandshakeRequest,
    Ping,
    Role,
    TextMessage,
    WebSocketCodec,
    accept_client_handshake,
    validate_client_handshake,
)

#: Seconds to wait for the peer's side of the closing handshake.
CLOSE_TIMEOUT = 5.0
#: ASGI events read ahead of the application.
_QUEUED = 16
_READ_SIZE = 65536

# Handshake fields the server computes; an application's copies are ignored.
_HANDSHAKE_FIELDS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    }
)

_CONNECTING = "connecting"
_RESPONDING = "responding"
_ACCEPTED = "accepted"
_DONE = "done"


class WebSocketSession:
    """One WebSocket connection handed to an ASGI application.

    :arg app: the ASGI application.
    :arg scope: the ``websocket`` scope, without ``subprotocols`` (added once the
        handshake is validated).
    :arg connection: the request's HTTP connection; detached into a stream on accept.
    :arg summary: ``(method, uri, remote_ip, start)`` for log lines.
    """

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        connection: Any,
        method: str,
        version: str,
        headers: HTTPHeaders,
        *,
        max_message_size: int | None,
        compression_options: Mapping[str, Any] | None,
        summary: tuple[str, str, str | None, float],
    ) -> None:
        self.app = app
        self.scope = scope
        self.connection = connection
        self.method = method
        self.version = version
        self.headers = headers
        self.max_message_size = max_message_size
        self.compression_options = compression_options
        self.summary = summary
        self.state = _CONNECTING
        self.handshake: HandshakeRequest | None = None
        self.stream: IOStream | None = None
        self.codec: WebSocketCodec | None = None
        self.reader: asyncio.Task[None] | None = None
        self.events: asyncio.Queue[Message] = asyncio.Queue(_QUEUED)
        self.final: Message | None = None
        self.connect_delivered = False
        self.deny_status = 0
        self.deny_headers: list[tuple[str, str]] = []
        self.deny_started = False

    # --- the session ----------------------------------------------------------------

    async def run(self) -> None:
        """Validate the handshake, run the application, then end the connection."""
        try:
            self.handshake = validate_client_handshake(self.method, self.version, self.headers)
        except WebSocketHandshakeError as exc:
            gen_log.debug("WebSocket handshake refused (%d): %s", exc.status_code, exc)
            self._respond(exc.status_code, str(exc).encode(), exc.headers)
            return
        self.scope["subprotocols"] = list(self.handshake.subprotocols)
        try:
            await self.app(self.scope, self._receive, self._send)
        except asyncio.CancelledError:
            self._abort()
            raise
        except Exception:
            method, uri, remote_ip, _ = self.summary
            app_log.error(
                "Uncaught exception in ASGI WebSocket application: %s %s (%s)",
                method,
                uri,
                remote_ip,
                exc_info=True,
            )
            if self.state == _CONNECTING:
                self._respond(500, b"Internal Server Error")
            elif self.state == _ACCEPTED:
                self._close(CloseCode.INTERNAL_ERROR, "internal error")
            else:
                self._abort()
        else:
            if self.state == _CONNECTING:
                # Returned without accepting: refused (ASGI: as if it sent a close).
                self._respond(403, b"")
            elif self.state == _RESPONDING:
                self._abort()
            elif self.state == _ACCEPTED:
                self._close(CloseCode.NORMAL_CLOSURE, "")
        await self._finish()

    def going_away(self) -> None:
        """The server is shutting down: start the closing handshake with 1001."""
        if self.state == _ACCEPTED:
            self._close(CloseCode.GOING_AWAY, "server shutting down")

    async def _finish(self) -> None:
        reader = self.reader
        if reader is not None:
            if not reader.done():
                await asyncio.wait({reader}, timeout=CLOSE_TIMEOUT)
            if not reader.done():
                gen_log.info("WebSocket closing handshake timed out; closing the connection")
                reader.cancel()
                await asyncio.wait({reader})
        stream = self.stream
        if stream is not None and not stream.closed():
            stream.close()
        self.state = _DONE

    def _abort(self) -> None:
        self.state = _DONE
        if self.stream is not None:
            self.stream.close()
        elif self.connection is not None:
            self.connection.close()

    # --- refusing with an HTTP response ----------------------------------------------

    def _respond(self, status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> None:
        headers = HTTPHeaders()
        for name, value in extra:
            headers.add(name, value)
        if body:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = str(len(body))
        self._write_response(status, headers, body, more=False)

    def _write_response(self, status: int, headers: HTTPHeaders, body: bytes, more: bool) -> Any:
        connection = self.connection
        reason = http.client.responses.get(status, "")
        if not self.deny_started:
            self.deny_started = True
            future = connection.write_headers(
                ResponseStartLine("HTTP/1.1", status, reason), headers, body
            )
        else:
            future = connection.write(body)
        if not more:
            connection.finish()
            self.state = _DONE
            self.final = {"type": "websocket.disconnect", "code": CloseCode.ABNORMAL_CLOSURE}
            method, uri, remote_ip, start = self.summary
            log_access(self.deny_status or status, method, uri, remote_ip, start)
        return future

    # --- receive ----------------------------------------------------------------------

    async def _receive(self) -> Message:
        if not self.connect_delivered:
            self.connect_delivered = True
            return {"type": "websocket.connect"}
        if self.state in (_CONNECTING, _RESPONDING):
            raise ASGIError("receive() on a WebSocket that was neither accepted nor refused")
        final = self.final
        if final is not None and self.events.empty():
            return final
        return await self.events.get()

    # --- send -------------------------------------------------------------------------

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.send":
            await self._send_message(message)
        elif kind == "websocket.accept":
            if self.state != _CONNECTING:
                raise ASGIError(f"websocket.accept when the connection is {self.state}")
            self._accept(message)
        elif kind == "websocket.close":
            if self.state == _CONNECTING:
                # ASGI: a close before the accept refuses the handshake with 403.
                self._respond(403, b"")
            elif self.state == _ACCEPTED:
                code = message.get("code", CloseCode.NORMAL_CLOSURE)
                reason = message.get("reason") or ""
                try:
                    self._close(code, reason)
                except WebSocketOutputError as exc:
                    raise ASGIError(f"websocket.close: {exc}") from exc
            elif self.state == _RESPONDING:
                raise ASGIError("websocket.close in the middle of a refusal response")
        elif kind == "websocket.http.response.start":
            if self.state != _CONNECTING:
                raise ASGIError(
                    f"websocket.http.response.start when the connection is {self.state}"
                )
            self.deny_status = check_status(message.get("status"), kind)
            self.deny_headers = header_fields(message.get("headers") or (), kind)
            self.state = _RESPONDING
        elif kind == "websocket.http.response.body":
            if self.state != _RESPONDING:
                raise ASGIError("websocket.http.response.body without a response start")
            await self._send_refusal_body(message)
        else:
            raise ASGIError(f"unexpected message {kind!r} in a WebSocket scope")

    async def _send_message(self, message: Message) -> None:
        if self.state == _CONNECTING or self.state == _RESPONDING:
            raise ASGIError("websocket.send before websocket.accept")
        codec, stream = self.codec, self.stream
        if (
            self.state != _ACCEPTED
            or codec is None
            or stream is None
            or codec.state is not ConnectionState.OPEN
            or stream.closed()
        ):
            raise StreamClosedError()
        text, data = message.get("text"), message.get("bytes")
        if (text is None) == (data is None):
            raise ASGIError("websocket.send needs exactly one of 'text' and 'bytes'")
        if text is not None:
            if not isinstance(text, str):
                raise ASGIError("websocket.send: 'text' must be str")
            frame = codec.send_message(text)
        else:
            if not isinstance(data, bytes | bytearray | memoryview):
                raise ASGIError("websocket.send: 'bytes' must be bytes")
            frame = codec.send_message(bytes(data))
        await stream.write(frame)

    async def _send_refusal_body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, bytes | bytearray | memoryview):
            raise ASGIError("websocket.http.response.body: body must be bytes")
        body = bytes(body)
        more = bool(message.get("more_body", False))
        headers = HTTPHeaders()
        if not self.deny_started:
            for name, value in self.deny_headers:
                headers.add(name, value)
            if not more and "Content-Length" not in headers:
                headers["Content-Length"] = str(len(body))
        future = self._write_response(self.deny_status, headers, body, more)
        if future is not None and not future.done():
            await future

    def _accept(self, message: Message) -> None:
        handshake = self.handshake
        assert handshake is not None
        subprotocol = message.get("subprotocol")
        extra = header_fields(message.get("headers") or (), "websocket.accept")
        deflate = DeflateOptions.from_compression_options(self.compression_options)
        try:
            accept = accept_client_handshake(handshake, subprotocol=subprotocol, deflate=deflate)
        except WebSocketOutputError as exc:
            raise ASGIError(f"websocket.accept: {exc}") from exc
        headers = HTTPHeaders()
        for name, value in accept.headers:
            headers.add(name, value)
        for name, value in extra:
            if name.lower() not in _HANDSHAKE_FIELDS:
                headers.add(name, value)
        connection = self.connection
        connection.write_headers(ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"), headers)
        connection.finish()
        stream: IOStream = connection.detach()
        self.connection = None
        self.stream = stream
        self.codec = WebSocketCodec(
            Role.SERVER, deflate=accept.deflate, max_message_size=self.max_message_size
        )
        self.state = _ACCEPTED
        method, uri, remote_ip, start = self.summary
        log_access(101, method, uri, remote_ip, start)
        self.reader = asyncio.ensure_future(self._read())

    # --- frames ---------------------------------------------------------------------------

    def _flush(self) -> asyncio.Future[None] | None:
        codec, stream = self.codec, self.stream
        assert codec is not None
        assert stream is not None
        data = codec.data_to_send()
        if data and not stream.closed():
            with contextlib.suppress(StreamClosedError):
                return stream.write(data)
        return None

    def _close(self, code: int, reason: str) -> None:
        """Send our Close frame; the reader ends the connection when the peer answers."""
        codec, stream = self.codec, self.stream
        if codec is None or stream is None or codec.state is not ConnectionState.OPEN:
            return
        frame = codec.send_close(code, reason)
        if not stream.closed():
            with contextlib.suppress(StreamClosedError):
                stream.write(frame)

    async def _read(self) -> None:
        stream, codec = self.stream, self.codec
        assert stream is not None
        assert codec is not None
        events = self.events
        while True:
            try:
                data = await stream.read_bytes(_READ_SIZE, partial=True)
            except StreamClosedError:
                data = b""
            codec.receive_data(data)
            try:
                while (event := codec.next_event()) is not None:
                    kind = type(event)
                    if kind is TextMessage:
                        await events.put({"type": "websocket.receive", "text": event.data})  # type: ignore[union-attr]
                    elif kind is BinaryMessage:
                        await events.put({"type": "websocket.receive", "bytes": event.data})  # type: ignore[union-attr]
                    elif kind is Ping:
                        self._flush()
                    elif kind is Close:
                        assert isinstance(event, Close)
                        # Our echo of the peer's Close (if it started) is queued.
                        self._flush()
                        stream.close()
                        await self._disconnected(event.code, event.reason)
                        return
            except WebSocketError as exc:
                # RFC 6455, section 7.1.7: the codec queued a Close with the right code.
                gen_log.info("WebSocket protocol error (closing with %d): %s", exc.close_code, exc)
                await self._linger(self._flush())
                await self._disconnected(exc.close_code, str(exc))
                return
            self._flush()
            if not data:
                stream.close()
                await self._disconnected(CloseCode.ABNORMAL_CLOSURE, "")
                return

    async def _disconnected(self, code: int, reason: str) -> None:
        final: Message = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self.final = final
        await self.events.put(final)

    async def _linger(self, written: asyncio.Future[None] | None) -> None:
        """Close after a failure without a reset destroying our Close frame.

        The write side is shut down once the frame is out, and input is read and dropped
        until the peer closes (at most :data:`CLOSE_TIMEOUT` seconds).
        """
        stream = self.stream
        assert stream is not None
        with contextlib.suppress(TimeoutError, StreamClosedError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                if written is not None:
                    await written
                sock = stream.socket
                if sock is not None and stream.get_extra_info("ssl_object") is None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
                    while True:
                        # Dropped: the connection failed; reading ends at the peer's close.
                        await stream.read_bytes(_READ_SIZE, partial=True)
        stream.close()
