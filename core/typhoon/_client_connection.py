"""Client connections: one HTTP/1.1 exchange at a time, pooled per origin between them.

Layer 4 (private to ``typhoon.simple_httpclient``): imports ``typhoon.http1proto`` (all
framing rules), ``typhoon.httputil``, ``typhoon.iostream``, ``typhoon.tcpclient``,
``typhoon._client_support``, ``typhoon._client_body``, ``typhoon.escape``,
``typhoon.errors`` and the standard library.

* :class:`Route` says how to reach an origin (directly, through a plain proxy, or
  through a ``CONNECT`` tunnel) and carries the key that pools connections.
* :func:`open_connection` makes a connection for a route.
* :class:`ClientConnection` runs one request/response exchange over its stream with an
  :class:`~typhoon.http1proto.HTTP1ClientProtocol`, handing the response body to a
  sink of :mod:`typhoon._client_body` (:class:`BodySink` for a final response,
  :class:`DrainSink` for one the client consumes itself).
* :class:`ConnectionPool` keeps idle keep-alive connections, a bounded number per
  route, each for a bounded time.
* :class:`Deadline` bounds an exchange in time at less cost than ``asyncio.timeout``.
"""

from __future__ import annotations

__all__ = [
    "ClientConnection",
    "ConnectionPool",
    "Deadline",
    "OutgoingRequest",
    "Route",
    "StaleConnectionError",
    "open_connection",
]

import asyncio
import inspect
import socket
import ssl
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Final

from typhoon._client_body import Sink
from typhoon._client_support import DigestChallenge, ProxyConfig, basic_credentials
from typhoon.errors import (
    HTTPClientError,
    HTTPInputError,
    HTTPStreamClosedError,
    StreamClosedError,
)
from typhoon.escape import utf8
from typhoon.http1proto import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    HTTP1ClientProtocol,
    InformationalResponse,
    Response,
    State,
)
from typhoon.httputil import HTTPHeaders
from typhoon.iostream import IOStream
from typhoon.tcpclient import TCPClient

#: Largest single read from the stream.
_READ_SIZE: Final = 65536
#: Seconds to wait for "100 Continue" before sending the body anyway (RFC 9110,
#: section 10.1.1: a client need not wait indefinitely).
_CONTINUE_WAIT: Final = 1.0

_IDLE: Final = State.IDLE


class StaleConnectionError(Exception):
    """A connection closed before a single byte of the response arrived.

    On a pooled connection this is the server having given up on it while idle; the
    request can be retried on a new connection when it is idempotent.
    """


# --- routes and opening -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """How to reach an origin.

    ``proxy`` without ``tunnel`` is a plain proxy (requests in absolute form, one
    connection for every http origin); with ``tunnel`` the proxy opens a ``CONNECT``
    tunnel and TLS runs through it. ``key`` identifies interchangeable connections.
    """

    scheme: str
    host: str
    port: int
    tls: ssl.SSLContext | None = None
    tls_key: Hashable = None
    proxy: ProxyConfig | None = None
    tunnel: bool = False
    source_ip: str | None = None
    af: socket.AddressFamily = socket.AF_UNSPEC
    key: Hashable = field(init=False, compare=False)

    def __post_init__(self) -> None:
        proxy = self.proxy
        if proxy is not None and not self.tunnel:
            key: Hashable = ("proxy", proxy, self.source_ip, self.af)
        else:
            key = (self.scheme, self.host, self.port, self.tls_key, proxy, self.source_ip, self.af)
        object.__setattr__(self, "key", key)


async def open_connection(
    tcp_client: TCPClient,
    route: Route,
    *,
    max_buffer_size: int | None,
    max_header_size: int | None,
    max_body_size: int | None,
    user_agent: str,
) -> ClientConnection:
    """Connect as ``route`` says and return the new connection.

    Raises:
        OSError: connecting failed.
        ssl.SSLError: the TLS handshake failed (an untrusted certificate included).
        HTTPClientError: the proxy refused the ``CONNECT`` (code 599).
    """
    proxy = route.proxy
    if proxy is None:
        stream = await tcp_client.connect(
            route.host,
            route.port,
            af=route.af,
            ssl_options=route.tls,
            max_buffer_size=max_buffer_size,
            source_ip=route.source_ip,
        )
    elif not route.tunnel:
        stream = await _connect_proxy(tcp_client, route, proxy, max_buffer_size)
    else:
        stream = await _open_tunnel(
            tcp_client, route, proxy, max_buffer_size, max_header_size, user_agent
        )
    stream.set_nodelay(True)
    return ClientConnection(stream, route.key, max_header_size, max_body_size)


async def _connect_proxy(
    tcp_client: TCPClient, route: Route, proxy: ProxyConfig, max_buffer_size: int | None
) -> IOStream:
    return await tcp_client.connect(
        proxy.host,
        proxy.port,
        af=route.af,
        max_buffer_size=max_buffer_size,
        source_ip=route.source_ip,
    )


async def _open_tunnel(
    tcp_client: TCPClient,
    route: Route,
    proxy: ProxyConfig,
    max_buffer_size: int | None,
    max_header_size: int | None,
    user_agent: str,
) -> IOStream:
    """Open a ``CONNECT`` tunnel (RFC 9110, section 9.3.6) and start TLS through it."""
    host = f"[{route.host}]" if ":" in route.host else route.host
    target = f"{host}:{route.port}"
    authorization = None
    if proxy.username is not None and proxy.auth_mode == "basic":
        authorization = basic_credentials(proxy.username, proxy.password or "")
    for attempt in range(2):
        stream = await _connect_proxy(tcp_client, route, proxy, max_buffer_size)
        try:
            proto = HTTP1ClientProtocol(max_header_size=max_header_size)
            headers = HTTPHeaders()
            headers["Host"] = target
            headers["User-Agent"] = user_agent
            if authorization is not None:
                headers["Proxy-Authorization"] = authorization
            await stream.write(proto.send_request("CONNECT", target, headers, end=True))
            response = await _read_head(stream, proto)
            if 200 <= response.status_code < 300:
                leftover, _eof = proto.trailing_data
                if leftover:
                    raise HTTPInputError("proxy sent data before the TLS handshake")
                assert route.tls is not None
                tls_stream: IOStream = await stream.start_tls(
                    False, ssl_options=route.tls, server_hostname=route.host
                )
                return tls_stream
            if (
                response.status_code == 407
                and attempt == 0
                and proxy.auth_mode == "digest"
                and proxy.username is not None
            ):
                challenge = DigestChallenge.from_headers(
                    response.headers.get_list("Proxy-Authenticate")
                )
                if challenge is not None:
                    authorization = challenge.authorization(
                        proxy.username, proxy.password or "", "CONNECT", target, None
                    )
                    stream.close()
                    continue
            raise HTTPClientError(
                599,
                f"proxy refused CONNECT to {target}: {response.status_code} {response.reason}",
            )
        except BaseException:
            stream.close()
            raise
    raise AssertionError("unreachable: the second attempt returns or raises")


async def _read_head(stream: IOStream, proto: HTTP1ClientProtocol) -> Response:
    while True:
        event = proto.next_event()
        if event is NEED_DATA:
            proto.receive_data(await _read(stream))
        elif type(event) is Response:
            return event
        elif type(event) is ConnectionClosed:
            raise HTTPStreamClosedError("proxy closed the connection")
        elif type(event) is not InformationalResponse:
            raise HTTPInputError(f"unexpected {type(event).__name__} from the proxy")


async def _read(stream: IOStream) -> bytes:
    """The next bytes from ``stream``; ``b""`` at a clean end of input."""
    try:
        return await stream.read_bytes(_READ_SIZE, partial=True)
    except StreamClosedError:
        if stream.error is not None:
            raise
        return b""


# --- one connection ---------------------------------------------------------------------


@dataclass(slots=True)
class OutgoingRequest:
    """What goes on the wire for one exchange (headers already complete)."""

    method: str
    target: str
    headers: HTTPHeaders
    body: bytes | None = None
    body_producer: Callable[[Callable[[bytes], Awaitable[None]]], Any] | None = None
    expect_continue: bool = False


class ClientConnection:
    """A connection to one route, carrying one exchange at a time.

    ``reusable`` is true between exchanges while the connection can carry another
    request; ``requests`` counts the exchanges it has carried.
    """

    __slots__ = ("_sink", "idle_since", "key", "proto", "requests", "reusable", "stream")

    def __init__(
        self,
        stream: IOStream,
        key: Hashable,
        max_header_size: int | None,
        max_body_size: int | None,
    ) -> None:
        self.stream = stream
        self.key = key
        self.proto = HTTP1ClientProtocol(
            max_header_size=max_header_size, max_body_size=max_body_size
        )
        self.requests = 0
        self.reusable = True
        self.idle_since = 0.0
        self._sink: Sink | None = None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.reusable = False
        self.stream.close()

    def healthy(self) -> bool:
        """Whether an idle connection can take a request: open, and nothing unread.

        Bytes arriving on an idle connection (a late ``408``, garbage) would be
        mistaken for the next response, so such a connection is not reused.
        """
        stream = self.stream
        return not stream.closed() and stream.statistics().read_buffer_size == 0

    async def exchange(
        self, request: OutgoingRequest, choose_sink: Callable[[Response], Sink]
    ) -> tuple[Response, Sink]:
        """Send ``request`` and read its response into the sink ``choose_sink`` picks.

        Afterwards :attr:`reusable` says whether the connection may be pooled.

        Raises:
            StaleConnectionError: the connection closed before any response byte.
            HTTPStreamClosedError: it closed in the middle of the response.
            HTTPInputError: the response is malformed or over a limit.
            HTTPOutputError: the request cannot be sent (invalid header, method, ...).
        """
        self.requests += 1
        self.reusable = False
        stream = self.stream
        proto = self.proto
        has_body = request.body is not None or request.body_producer is not None
        waiting = request.expect_continue and has_body
        write_failed = False
        try:
            if has_body and (waiting or request.body_producer is not None):
                await stream.write(
                    proto.send_request(request.method, request.target, request.headers)
                )
                if not waiting:
                    await self._send_body(request)
            else:
                await stream.write(
                    proto.send_request(
                        request.method,
                        request.target,
                        request.headers,
                        body=request.body or b"",
                        end=True,
                    )
                )
        except StreamClosedError as exc:
            if self.requests > 1:
                raise StaleConnectionError("connection closed before the request was sent") from exc
            # The server may have answered before closing (413, 401, ...): read on.
            write_failed = True
        deadline = asyncio.get_running_loop().time() + _CONTINUE_WAIT if waiting else 0.0
        try:
            return await self._receive(request, choose_sink, waiting, write_failed, deadline)
        except BaseException:
            sink = self._sink
            if sink is not None:
                sink.abandon()
            raise
        finally:
            self._sink = None

    async def _receive(
        self,
        request: OutgoingRequest,
        choose_sink: Callable[[Response], Sink],
        waiting: bool,
        write_failed: bool,
        deadline: float,
    ) -> tuple[Response, Sink]:
        stream = self.stream
        proto = self.proto
        received = False
        eof = False
        response: Response | None = None
        sink: Sink | None = None
        while True:
            event = proto.next_event()
            kind = type(event)
            if event is NEED_DATA:
                if eof:
                    raise HTTPStreamClosedError("Connection closed in the middle of the response")
                if waiting:
                    data, waiting = await self._read_or_continue(request, deadline)
                else:
                    try:
                        data = await _read(stream)
                    except StreamClosedError as exc:
                        if not received:
                            raise StaleConnectionError("connection reset") from exc
                        raise HTTPStreamClosedError("Connection reset") from exc
                if data:
                    received = True
                else:
                    eof = True
                proto.receive_data(data)
            elif kind is Data:
                assert sink is not None
                if not sink.data(event.data):  # type: ignore[union-attr]
                    self.stream.close()
                    assert response is not None
                    return response, sink
                if sink.pending is not None:
                    await sink.wait()
            elif kind is Response:
                response = event  # type: ignore[assignment]
                assert response is not None
                if waiting:
                    # A final answer before "100 Continue": the body is never sent,
                    # so the connection cannot carry another request.
                    waiting = False
                    write_failed = True
                sink = self._sink = choose_sink(response)
                sink.head(response)
            elif kind is EndOfMessage:
                assert sink is not None
                assert response is not None
                sink.finish()
                if sink.pending is not None:
                    await sink.wait()
                # Bytes after the end of the response were not asked for: they must
                # never be read as the response to a later request (RFC 9112, section
                # 9.3.2: a desynchronised connection is closed, not reused).
                self.reusable = (
                    not write_failed
                    and proto.keep_alive
                    and proto.their_state is _IDLE
                    and proto.our_state is _IDLE
                    and not proto.trailing_data[0]
                )
                return response, sink
            elif kind is InformationalResponse:
                if waiting and event.status_code == 100:  # type: ignore[union-attr]
                    waiting = False
                    write_failed = not await self._send_body_safely(request)
            elif kind is ConnectionClosed:
                if not received:
                    raise StaleConnectionError("connection closed before the response")
                raise HTTPStreamClosedError("Connection closed before the response")
            else:
                raise HTTPStreamClosedError(f"unexpected state of the connection: {event!r}")

    async def _read_or_continue(
        self, request: OutgoingRequest, deadline: float
    ) -> tuple[bytes, bool]:
        """Read while waiting for ``100 Continue``; send the body once the wait is over.

        Returns the bytes read and whether the client is still waiting.
        """
        stream = self.stream
        try:
            read = stream.read_bytes(_READ_SIZE, partial=True)
        except StreamClosedError:
            return b"", True
        remaining = deadline - asyncio.get_running_loop().time()
        waiting = True
        if remaining <= 0 or not (await asyncio.wait({read}, timeout=remaining))[0]:
            waiting = False
            await self._send_body_safely(request)
        try:
            return await read, waiting
        except StreamClosedError:
            if stream.error is not None:
                raise HTTPStreamClosedError("Connection reset") from stream.error
            return b"", waiting

    async def _send_body_safely(self, request: OutgoingRequest) -> bool:
        try:
            await self._send_body(request)
        except StreamClosedError:
            return False
        return True

    async def _send_body(self, request: OutgoingRequest) -> None:
        stream = self.stream
        proto = self.proto
        producer = request.body_producer
        if producer is None:
            await stream.write(proto.send_data(request.body or b"") + proto.send_end())
            return

        def write(chunk: bytes) -> asyncio.Future[None]:
            return stream.write(proto.send_data(utf8(chunk)))

        result = producer(write)
        if inspect.isawaitable(result):
            await result
        await stream.write(proto.send_end())


class Deadline:
    """Cancels the current task at a deadline: ``asyncio.timeout_at`` for the hot path.

    The same rules as ``asyncio.timeout``: :meth:`expired` is true only when this
    deadline caused the cancellation and nobody else cancelled the task meanwhile
    (their cancellation then wins).
    """

    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        task = asyncio.current_task(loop)
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._handle = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def expired(self) -> bool:
        """Whether the deadline passed (call once, while handling the cancellation)."""
        return self._fired and self._task.uncancel() <= self._cancelling

    def cancel(self) -> None:
        """The guarded work is over: the deadline no longer applies."""
        self._handle.cancel()


# --- the pool ---------------------------------------------------------------------------


class ConnectionPool:
    """Idle keep-alive connections by route key.

    At most ``max_per_key`` idle connections are kept per key (the oldest is closed
    to make room) and none longer than ``idle_timeout`` seconds. The most recently
    used connection is handed out first, so surplus ones age out.
    """

    def __init__(self, max_per_key: int, idle_timeout: float) -> None:
        self._idle: dict[Hashable, list[ClientConnection]] = {}
        self._max_per_key = max_per_key
        self._idle_timeout = idle_timeout
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._closed = False

    def __len__(self) -> int:
        return sum(len(connections) for connections in self._idle.values())

    def take(self, key: Hashable, now: float) -> ClientConnection | None:
        """An idle healthy connection for ``key``, or ``None``."""
        connections = self._idle.get(key)
        while connections:
            conn = connections.pop()
            if not connections:
                del self._idle[key]
            if now - conn.idle_since < self._idle_timeout and conn.healthy():
                return conn
            conn.close()
        return None

    def put(self, conn: ClientConnection, now: float) -> None:
        """Keep ``conn`` for reuse, or close it if it cannot be reused."""
        if self._closed or not conn.reusable or self._max_per_key <= 0 or self._idle_timeout <= 0:
            conn.close()
            return
        conn.idle_since = now
        connections = self._idle.get(conn.key)
        if connections is None:
            connections = self._idle[conn.key] = []
        elif len(connections) >= self._max_per_key:
            connections.pop(0).close()
        connections.append(conn)
        if self._sweep_handle is None:
            loop = asyncio.get_running_loop()
            self._sweep_handle = loop.call_at(now + self._idle_timeout, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle for ``idle_timeout``; run again for the rest."""
        self._sweep_handle = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        oldest: float | None = None
        for key in list(self._idle):
            kept = []
            for conn in self._idle[key]:
                if now - conn.idle_since >= self._idle_timeout or conn.stream.closed():
                    conn.close()
                else:
                    kept.append(conn)
                    if oldest is None or conn.idle_since < oldest:
                        oldest = conn.idle_since
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if oldest is not None:
            self._sweep_handle = loop.call_at(oldest + self._idle_timeout, self._sweep)

    def close(self) -> list[ClientConnection]:
        """Close every idle connection and refuse new ones; returns those closed."""
        self._closed = True
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        closed = [conn for connections in self._idle.values() for conn in connections]
        self._idle.clear()
        for conn in closed:
            conn.close()
        return closed
