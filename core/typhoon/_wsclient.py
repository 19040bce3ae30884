"""The WebSocket client connection (``typhoon.websocket.WebSocketClientConnection``).

Layer 5 (private to :mod:`typhoon.websocket`). Imports :mod:`typhoon.tcpclient` (the
connection, TLS included), :mod:`typhoon.http1proto` (the request head and the
response parser), :mod:`typhoon.wsproto` (the handshake and the codec),
:mod:`typhoon._wsconnection` (the engine), :mod:`typhoon.httputil`,
:mod:`typhoon.netutil`, :mod:`typhoon.escape`, :mod:`typhoon.errors`,
:mod:`typhoon.log` and the standard library.

Strategy: one task per connection attempt runs the opening handshake (connect, send
the GET, parse the response head with the same HTTP/1.1 parser the HTTP client uses,
check it with :class:`~typhoon.wsproto.ClientHandshake`) and ends there; after it the
connection moves to a transport of its own and is driven by
:class:`~typhoon._wsconnection.WebSocketProtocol13`, as a server connection is. Messages
not consumed by
an ``on_message_callback`` wait in a queue of one: while a message waits, the next
one is not read, so a reader that falls behind slows the server down instead of
buffering without bound.
"""

from __future__ import annotations

__all__ = ["WebSocketClientConnection", "keepalive_timings"]

import asyncio
import base64
import functools
import socket
import ssl
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from typhoon._wsconnection import WebSocketProtocol13
from typhoon.errors import (
    HTTPClientError,
    HTTPStreamClosedError,
    HTTPTimeoutError,
    StreamClosedError,
    TyphoonTimeoutError,
    WebSocketClosedError,
    WebSocketHandshakeError,
)
from typhoon.escape import utf8
from typhoon.http1proto import (
    NEED_DATA,
    ConnectionClosed,
    HTTP1ClientProtocol,
    InformationalResponse,
    Response,
)
from typhoon.httputil import HTTPHeaders, encode_username_password
from typhoon.iostream import IOStream
from typhoon.log import app_log, gen_log
from typhoon.netutil import Resolver
from typhoon.tcpclient import TCPClient
from typhoon.wsproto import (
    DEFAULT_MAX_MESSAGE_SIZE,
    ClientHandshake,
    DeflateOptions,
    Role,
    WebSocketCodec,
)

_DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def keepalive_timings(
    interval: float | None, timeout: float | None
) -> tuple[float | None, float | None]:
    """Normalise ``ping_interval`` and ``ping_timeout`` as Tornado 6.5 does.

    The timeout defaults to the interval and may not exceed it (a longer one is
    lowered, with a warning); 0 turns the timeout off.
    """
    if not interval or interval <= 0:
        return None, None
    if timeout is None:
        return interval, interval
    if timeout > interval:
        gen_log.warning(
            "The websocket_ping_timeout (%s) cannot be longer than the "
            "websocket_ping_interval (%s). Setting websocket_ping_timeout=%s",
            timeout,
            interval,
            interval,
        )
        return interval, interval
    return interval, timeout if timeout > 0 else None


@functools.lru_cache(maxsize=16)
def _tls_context(
    validate: bool, ca_certs: str | None, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext:
    """A client TLS context for these options (built once: loading CAs is slow)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_certs)
    if not validate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key)
    return context


def _ssl_options(request: Any) -> ssl.SSLContext | dict[str, Any]:
    options = request.ssl_options
    if options is not None:
        return options  # type: ignore[no-any-return]
    return _tls_context(
        bool(request.validate_cert), request.ca_certs, request.client_cert, request.client_key
    )


class WebSocketClientConnection:
    """A client WebSocket connection; made by :func:`typhoon.websocket.websocket_connect`.

    :attr:`connect_future` resolves to the connection once the handshake succeeded.
    Messages arrive through the ``on_message_callback`` given to ``websocket_connect``
    or through :meth:`read_message`; send with :meth:`write_message`.
    """

    def __init__(
        self,
        request: Any,
        on_message_callback: Callable[[str | bytes | None], None] | None = None,
        compression_options: dict[str, Any] | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        subprotocols: list[str] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        #: Resolves to this connection when it is open; fails when the handshake does.
        self.connect_future: asyncio.Future[WebSocketClientConnection] = loop.create_future()
        #: The connection's protocol object, once open.
        self.protocol: WebSocketProtocol13 | None = None
        #: The server's Close status code and reason, once it closed.
        self.close_code: int | None = None
        self.close_reason: str | None = None
        #: The headers of the server's 101 response.
        self.headers = HTTPHeaders()
        self.request = request
        self._on_message_callback = on_message_callback
        self._inbox: deque[str | bytes] = deque()
        self._readers: deque[asyncio.Future[str | bytes | None]] = deque()
        self._room: asyncio.Future[None] | None = None
        self._closed = False
        self._ping_interval, self._ping_timeout = keepalive_timings(ping_interval, ping_timeout)
        handshake = ClientHandshake(
            subprotocols=subprotocols or (),
            deflate=DeflateOptions.from_compression_options(compression_options),
        )
        self._task: asyncio.Task[None] | None = loop.create_task(
            self._connect(handshake, max_message_size, resolver)
        )

    # --- the opening handshake ------------------------------------------------------

    async def _connect(
        self, handshake: ClientHandshake, max_message_size: int | None, resolver: Resolver | None
    ) -> None:
        future = self.connect_future
        try:
            timeout = self.request.request_timeout
            async with asyncio.timeout(timeout if timeout else None):
                stream, proto, response = await self._handshake(handshake, resolver)
        except TimeoutError as exc:
            self._fail_connect(HTTPTimeoutError("Timeout during the WebSocket handshake"), exc)
            return
        except asyncio.CancelledError:
            self._fail_connect(WebSocketClosedError("connection attempt cancelled"), None)
            raise
        except Exception as exc:
            self._fail_connect(exc, None)
            return
        finally:
            self._task = None
        try:
            accept = handshake.validate_response(response.status_code, response.headers)
        except WebSocketHandshakeError as exc:
            stream.close()
            self._fail_connect(exc, None)
            return
        self.headers = response.headers
        codec = WebSocketCodec(
            Role.CLIENT, deflate=accept.deflate, max_message_size=max_message_size
        )
        leftover, eof = proto.trailing_data
        if leftover:
            codec.receive_data(leftover)
        if eof:
            codec.receive_data(b"")
        protocol = WebSocketProtocol13(
            self,
            codec,
            subprotocol=accept.subprotocol,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
        )
        self.protocol = protocol
        try:
            attaching = protocol.attach(stream)
            if attaching is not None:
                self._task = asyncio.current_task()
                await attaching
        except asyncio.CancelledError:
            self.protocol = None
            self._fail_connect(WebSocketClosedError("connection attempt cancelled"), None)
            raise
        except Exception as exc:
            self.protocol = None
            self._fail_connect(exc, None)
            return
        finally:
            self._task = None
        if not future.done():
            future.set_result(self)
        protocol.start_pinging()
        protocol.start()

    def _fail_connect(self, error: BaseException, cause: BaseException | None) -> None:
        if cause is not None:
            error.__cause__ = cause
        self._closed = True
        future = self.connect_future
        if not future.done():
            future.set_exception(error)
        self._wake_readers()

    async def _handshake(
        self, handshake: ClientHandshake, resolver: Resolver | None
    ) -> tuple[IOStream, HTTP1ClientProtocol, Response]:
        request = self.request
        parts = urllib.parse.urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"unsupported WebSocket URL scheme {parts.scheme!r}")
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in {request.url!r}")
        port = parts.port or _DEFAULT_PORTS[scheme]
        tls = scheme in ("wss", "https")
        client = TCPClient(resolver=resolver)
        try:
            stream = await client.connect(
                host,
                port,
                af=socket.AF_UNSPEC if request.allow_ipv6 is not False else socket.AF_INET,
                ssl_options=_ssl_options(request) if tls else None,
                source_ip=request.network_interface,
                timeout=request.connect_timeout,
            )
        except TyphoonTimeoutError as exc:
            raise HTTPTimeoutError(str(exc)) from exc
        except StreamClosedError as exc:
            # As Tornado's client does: the cause (connection refused, ...) is the error.
            if exc.real_error is None:
                raise HTTPStreamClosedError("Stream closed") from exc
            raise exc.real_error from None
        finally:
            client.close()
        try:
            proto = HTTP1ClientProtocol()
            head = proto.send_request(
                "GET", _target(parts), self._headers(parts, handshake), end=True
            )
            stream.write(head)
            response = await _read_response(stream, proto)
        except BaseException:
            stream.close()
            raise
        return stream, proto, response

    def _headers(self, parts: urllib.parse.SplitResult, handshake: ClientHandshake) -> HTTPHeaders:
        request = self.request
        headers = HTTPHeaders()
        for name, value in request.headers.get_all():
            headers.add(name, value)
        if "Host" not in headers:
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme.lower()]:
                host = f"{host}:{parts.port}"
            headers["Host"] = host
        if request.user_agent and "User-Agent" not in headers:
            headers["User-Agent"] = request.user_agent
        username = request.auth_username or urllib.parse.unquote(parts.username or "")
        if username and "Authorization" not in headers:
            password = request.auth_password or urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(encode_username_password(username, password))
            headers["Authorization"] = "Basic " + token.decode("ascii")
        for name, value in handshake.request_headers():
            headers[name] = value
        return headers

    # --- messages ---------------------------------------------------------------------

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Deliver a message to the callback, a waiting reader, or the queue of one."""
        callback = self._on_message_callback
        if callback is not None:
            callback(message)
            return None
        readers = self._readers
        while readers:
            reader = readers.popleft()
            if not reader.done():
                reader.set_result(message)
                return None
        self._inbox.append(message)
        room = self._room = asyncio.get_running_loop().create_future()
        return room

    def read_message(
        self, callback: Callable[[asyncio.Future[str | bytes | None]], None] | None = None
    ) -> asyncio.Future[str | bytes | None]:
        """Return a future for the next message; it resolves to ``None`` once closed.

        Only for connections opened without ``on_message_callback``. ``callback``, if
        given, is called with the future when it resolves.
        """
        future: asyncio.Future[str | bytes | None] = asyncio.get_running_loop().create_future()
        if self._inbox:
            future.set_result(self._inbox.popleft())
            room = self._room
            if room is not None and not self._inbox:
                self._room = None
                if not room.done():
                    room.set_result(None)
        elif self._closed:
            future.set_result(None)
        else:
            self._readers.append(future)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def _wake_readers(self) -> None:
        readers = self._readers
        while readers:
            reader = readers.popleft()
            if not reader.done():
                reader.set_result(None)
        room = self._room
        if room is not None:
            self._room = None
            if not room.done():
                room.set_result(None)

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> asyncio.Future[None]:
        """Send a message (see :meth:`typhoon.websocket.WebSocketHandler.write_message`).

        Raises:
            WebSocketClosedError: the connection is not open.
        """
        protocol = self.protocol
        if protocol is None:
            raise WebSocketClosedError("the WebSocket connection is not open")
        return protocol.write_message(message, binary)

    def ping(self, data: str | bytes = b"") -> None:
        """Send a Ping carrying ``data`` (at most 125 bytes).

        Raises:
            WebSocketClosedError: the connection is closing or closed.
        """
        protocol = self.protocol
        if protocol is None or protocol.is_closing():
            raise WebSocketClosedError("the WebSocket connection is not open")
        protocol.write_ping(utf8(data))

    def on_ping(self, data: bytes) -> None:
        """A Ping arrived from the server (already answered); override to observe it."""

    def on_pong(self, data: bytes) -> None:
        """A Pong arrived from the server; override to observe it."""

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol the server selected, or ``None``."""
        protocol = self.protocol
        return protocol.selected_subprotocol if protocol is not None else None

    # --- closing ----------------------------------------------------------------------

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake; a connection attempt in progress is abandoned."""
        task = self._task
        if task is not None:
            task.cancel()
        protocol = self.protocol
        if protocol is not None:
            protocol.close(code, reason)

    def on_ws_connection_close(self, close_code: int | None, close_reason: str | None) -> None:
        """Called by the connection once it has closed: readers get ``None``."""
        self.close_code = close_code
        self.close_reason = close_reason
        self._closed = True
        callback = self._on_message_callback
        if callback is not None:
            try:
                callback(None)
            except Exception:
                app_log.error("Exception in on_message_callback", exc_info=True)
        self._wake_readers()

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Log an exception raised by a callback (the connection then closes, 1011)."""
        app_log.error(
            "Uncaught exception in a WebSocket client callback: %s",
            value,
            exc_info=(typ, value, tb),  # type: ignore[arg-type]
        )


def _target(parts: urllib.parse.SplitResult) -> str:
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return target


async def _read_response(stream: IOStream, proto: HTTP1ClientProtocol) -> Response:
    """Read until the final response head (interim 1xx responses are skipped)."""
    while True:
        event = proto.next_event()
        if event is NEED_DATA:
            try:
                data = await stream.read_bytes(65536, partial=True)
            except OSError:
                data = b""
            proto.receive_data(data)
            continue
        if isinstance(event, InformationalResponse):
            continue
        if isinstance(event, ConnectionClosed):
            raise HTTPStreamClosedError("Connection closed before the handshake response")
        if isinstance(event, Response):
            if event.status_code == 101:
                return event
            if event.status_code >= 300:
                raise HTTPClientError(event.status_code)
            raise WebSocketHandshakeError(
                f"Non-websocket response: {event.status_code}", status_code=event.status_code
            )
        raise WebSocketHandshakeError(f"unexpected {type(event).__name__} before the response")
