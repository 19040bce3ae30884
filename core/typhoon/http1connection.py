"""HTTP/1.x connections: one request/response exchange over a stream, and the server loop.

Layer 4 (http): imports :mod:`typhoon.http1proto` (all framing rules),
:mod:`typhoon.httputil`, :mod:`typhoon.iostream`, :mod:`typhoon.concurrent`,
:mod:`typhoon.errors`, :mod:`typhoon.log` and the standard library.

* :class:`HTTP1ConnectionParameters`: limits, timeouts and options shared by both roles.
* :class:`HTTP1Connection`: one exchange over an :class:`~typhoon.iostream.IOStream`, as
  a client (write a request, read the response) or as a server (read a request, write
  the response). The application writes through it (it is the
  :class:`~typhoon.httputil.HTTPConnection` of Tornado's delegate interfaces).
* :class:`HTTP1ServerConnection`: serves requests on one stream, one
  :class:`HTTP1Connection` after another, until the peer or the application ends it.

Strategy. No HTTP rule lives here: the sans-IO protocol objects of
:mod:`typhoon.http1proto` parse, validate and frame; this module moves bytes between
them and the stream, applies the deadlines and calls the delegates. Reads take what
the stream has (``read_bytes(..., partial=True)``); bytes read past the end of the
exchange (a pipelined request, the first bytes of a WebSocket after a 101) are handed
back to the stream when the exchange ends or the stream is detached, so the next
reader sees them in order. Deadlines are totals per phase, not per read: the head
must be complete within ``header_timeout`` of the first read, the body within
``body_timeout``.

``typhoon.httpserver.HTTPServer`` does not go through streams on its fast path: it runs
the same protocol objects directly on the asyncio transport (``typhoon._h1wire``) and
hands out :class:`HTTP1Connection` objects of the same interface.
"""

from __future__ import annotations

__all__ = [
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "HTTP1ServerConnection",
    "HTTPInputError",
    "HTTPOutputError",
]

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from typhoon.concurrent import convert_yielded
from typhoon.errors import HTTPInputError, HTTPOutputError, StreamClosedError
from typhoon.http1proto import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    HTTP1ClientProtocol,
    HTTP1ServerProtocol,
    InformationalResponse,
    Request,
    Response,
    State,
)
from typhoon.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from typhoon.iostream import BaseIOStream, UnsatisfiableReadError
from typhoon.log import app_log, gen_log

#: Default largest body piece handed to a delegate, and largest read.
_DEFAULT_CHUNK_SIZE = 64 * 1024
#: Default largest request or response head.
_DEFAULT_MAX_HEADER_SIZE = 64 * 1024
#: Default body limit when neither the parameters nor the stream give one (Tornado's).
_DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024
#: How long ``HTTP1ServerConnection.close`` waits for the socket to close.
_CLOSE_GRACE = 1.0
#: Methods whose requests carry content: a client request without a body still frames one.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

#: Sent when a request is not complete within its deadline (RFC 9110, section 15.5.9).
TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def _whole(size: float | None) -> int | None:
    """A size option as an ``int`` (``None`` stays ``None``)."""
    return None if size is None else int(size)


class HTTP1ConnectionParameters:
    """Options of an HTTP/1.x connection, shared by every exchange on it.

    Args:
        no_keep_alive: close the connection after each exchange.
        chunk_size: largest body piece passed to ``data_received`` (64 KiB).
        max_header_size: largest message head, in bytes (64 KiB). A server answers a
            larger one with 431, or 414 when the request line alone is too long.
        header_timeout: seconds for a server to wait for a request and receive its
            whole head (the idle keep-alive timeout as well: a slow client cannot hold
            the connection by trickling bytes); for a client, to receive a response
            head. ``None``: no limit.
        max_body_size: largest body (default: the stream's ``max_buffer_size``, 100 MiB).
            A server answers a larger one with 413, before reading it when its length
            is declared.
        body_timeout: seconds to receive the whole body. ``None``: no limit.
        decompress: decode ``Content-Encoding: gzip`` bodies as they arrive; the size
            limit then applies to the decoded bytes as well.
    """

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        header_timeout: float | None = None,
        max_body_size: int | None = None,
        body_timeout: float | None = None,
        decompress: bool = False,
    ) -> None:
        # Stored as exactly bool, int and float: a size given as 1e9 or a flag as 1 means
        # the same to the pure-Python and the compiled protocol modules.
        self.no_keep_alive = bool(no_keep_alive)
        self.chunk_size = _whole(chunk_size) or _DEFAULT_CHUNK_SIZE
        self.max_header_size = _whole(max_header_size) or _DEFAULT_MAX_HEADER_SIZE
        self.header_timeout = None if header_timeout is None else float(header_timeout)
        self.max_body_size = _whole(max_body_size)
        self.body_timeout = None if body_timeout is None else float(body_timeout)
        self.decompress = bool(decompress)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


# --- helpers shared with typhoon._h1wire ------------------------------------------------


def error_response(proto: HTTP1ServerProtocol, status_code: int) -> bytes:
    """The bytes answering a rejected request: the status, no body, ``Connection: close``."""
    headers = HTTPHeaders()
    headers["Content-Length"] = "0"
    headers["Connection"] = "close"
    try:
        return proto.send_response(status_code, headers, end=True)
    except HTTPOutputError:
        return b"HTTP/1.1 %d Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" % status_code


class GzipMessageDelegate(HTTPMessageDelegate):
    """Wraps a delegate and decodes a gzip-coded body for it as it arrives.

    Only bodies with ``Content-Encoding: gzip`` are touched; their header is renamed
    to ``X-Consumed-Content-Encoding`` so the application knows what was undone.
    A body made of several gzip members is decoded whole; bytes after the last member
    that are not a complete member make it malformed (400). Decoding stops at
    ``max_body_size`` decoded bytes (a small compressed body can decode to
    gigabytes), answered like any oversize body with 413. A message without content
    (no body, or an empty one) has nothing to decode and passes as it is.
    """

    __slots__ = (
        "_chunk_size",
        "_coded",
        "_decoded",
        "_decompressor",
        "_delegate",
        "_max_body_size",
    )

    def __init__(self, delegate: HTTPMessageDelegate, chunk_size: int, max_body_size: int) -> None:
        self._delegate = delegate
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._decompressor: Any = None
        self._decoded = 0
        # Whether any coded byte arrived (an empty content is not a truncated one).
        self._coded = False

    def set_max_body_size(self, max_body_size: int) -> None:
        """Change the decoded-size limit (follows ``set_max_body_size`` on the connection)."""
        self._max_body_size = max_body_size

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        coding = headers.get("Content-Encoding")
        if coding is not None and coding.strip().lower() == "gzip":
            # 16 + MAX_WBITS: expect the gzip wrapper (RFC 1952), not a raw zlib stream.
            self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            headers.add("X-Consumed-Content-Encoding", coding)
            del headers["Content-Encoding"]
        return self._delegate.headers_received(start_line, headers)

    async def _deliver(self, chunk: bytes) -> None:
        limit = self._chunk_size
        while chunk:
            decompressor = self._decompressor
            if decompressor.eof:
                # RFC 1952, section 2.2: a gzip file is a series of members; bytes
                # after one member must be the next one (anything else fails to
                # decode here, or leaves it unfinished at the end of the body).
                decompressor = self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                decoded = decompressor.decompress(chunk, limit)
            except zlib.error as exc:
                raise HTTPInputError(f"invalid gzip data: {exc}") from exc
            await self._pass_on(decoded)
            # Past the end of a member, what was not consumed is in unused_data.
            chunk = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail

    async def _pass_on(self, decoded: bytes) -> None:
        if not decoded:
            return
        self._decoded += len(decoded)
        if self._decoded > self._max_body_size:
            raise HTTPInputError("decompressed body too large", status_code=413)
        result = self._delegate.data_received(decoded)
        if result is not None:
            await result

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._decompressor is None:
            return self._delegate.data_received(chunk)
        if chunk:
            self._coded = True
        return self._deliver(chunk)

    def finish(self) -> None:
        decompressor = self._decompressor
        if decompressor is not None and self._coded:
            tail = decompressor.flush()
            if tail:
                # The tail is at most one window (32 KiB); deliver it synchronously.
                self._decoded += len(tail)
                if self._decoded > self._max_body_size:
                    raise HTTPInputError("decompressed body too large", status_code=413)
                self._delegate.data_received(tail)
            if not decompressor.eof:
                raise HTTPInputError("invalid gzip data: truncated")
        self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()


def resolved_future() -> asyncio.Future[None]:
    """A future that is already resolved (what writes return when nothing is pending)."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def closed_future(error: BaseException | None = None) -> asyncio.Future[None]:
    """A future failed with StreamClosedError whose exception counts as retrieved."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_exception(StreamClosedError(real_error=error))
    future.exception()
    return future


def unread(stream: BaseIOStream, data: bytes) -> None:
    """Give ``data`` back to ``stream`` so that its next read returns it first.

    Bytes the stream received after ``data`` was read are taken out and put back
    behind it, which keeps the order.
    """
    if not data:
        return
    buffered = stream.statistics().read_buffer_size
    if buffered:
        later = stream.read_bytes(buffered, partial=True)
        data += later.result()
    stream.connection_protocol().data_received(data)


# --- one exchange over a stream ---------------------------------------------------------


class HTTP1Connection(HTTPConnection):
    """One HTTP/1.x request/response exchange over a stream.

    A client writes its request with :meth:`write_headers`, :meth:`write` and
    :meth:`finish`, then reads the response with :meth:`read_response`. A server reads
    the request with :meth:`read_response` (the name is Tornado's, for both roles) and
    the application answers through :meth:`write_headers`, :meth:`write` and
    :meth:`finish`. Create one per exchange; the same stream can carry the next one
    when :meth:`read_response` resolved to True.

    Args:
        stream: the connected stream.
        is_client: the role.
        params: the :class:`HTTP1ConnectionParameters` (defaults when None).
        context: an opaque object for the delegates; a server's carries ``remote_ip``
            and ``protocol``, read by :class:`~typhoon.httputil.HTTPServerRequest`.
    """

    def __init__(
        self,
        stream: BaseIOStream,
        is_client: bool,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        self.is_client = is_client
        self.stream: BaseIOStream | None = stream
        if params is None:
            params = HTTP1ConnectionParameters()
        self.params = params
        self.context = context
        self.no_keep_alive = params.no_keep_alive
        max_body = params.max_body_size
        if max_body is None:
            max_body = getattr(stream, "max_buffer_size", None) or _DEFAULT_MAX_BODY_SIZE
        self._max_body_size: int = max_body
        self._body_timeout = params.body_timeout
        self._proto: HTTP1ClientProtocol | HTTP1ServerProtocol
        if is_client:
            self._proto = HTTP1ClientProtocol(
                max_header_size=params.max_header_size,
                max_body_size=max_body,
                chunk_size=params.chunk_size,
            )
        else:
            self._proto = HTTP1ServerProtocol(
                max_header_size=params.max_header_size,
                max_body_size=max_body,
                chunk_size=params.chunk_size,
                no_keep_alive=params.no_keep_alive,
            )
        self._close_callback: Callable[[], object] | None = None
        self._finish_future: asyncio.Future[None] | None = None
        self._write_finished = False
        self._gzip: GzipMessageDelegate | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False
        self._phase_started = 0.0
        # Server side: answering a HEAD request, whose response has no content.
        self._head_request = False
        # Server side: close after this exchange (a graceful shutdown is under way).
        self._last_exchange = False
        stream.set_close_callback(self._on_connection_close)

    # --- reading ---------------------------------------------------------------------

    def read_response(self, delegate: HTTPMessageDelegate) -> Awaitable[bool]:
        """Read one message (the response on a client, the request on a server).

        The delegate receives ``headers_received``, ``data_received`` and ``finish``;
        if the connection closes first, ``on_connection_close``. The result is True
        when the stream can carry another exchange.

        Raises:
            StreamClosedError: the stream closed before a message began (a server
                then simply stops) or, on a client, before the response was complete.
        """
        proto = self._proto
        if (
            self.is_client
            and isinstance(proto, HTTP1ClientProtocol)
            and proto.our_state is State.IDLE
            and proto.their_state is State.IDLE
        ):
            # No request went through write_headers: the caller wrote one on the stream
            # itself, and the response is read as the answer to a GET.
            proto.expect_response()
        if self.params.decompress:
            self._gzip = GzipMessageDelegate(delegate, self.params.chunk_size, self._max_body_size)
            delegate = self._gzip
        return self._read_message(delegate)

    def _arm(self, timeout: float | None) -> None:
        self._disarm()
        if timeout is not None and self.stream is not None:
            loop = asyncio.get_running_loop()
            self._phase_started = loop.time()
            self._timer = loop.call_later(timeout, self._on_timeout)

    def _disarm(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _on_timeout(self) -> None:
        self._timer = None
        stream = self.stream
        if stream is None or stream.closed():
            return
        self._timed_out = True
        proto = self._proto
        gen_log.info("Timeout reading HTTP message from %s", self.context)
        if not self.is_client and proto.our_state is State.IDLE:
            started = proto.their_state is not State.IDLE or proto.trailing_data[0]
            if started:
                with contextlib.suppress(StreamClosedError):
                    stream.write(TIMEOUT_RESPONSE)
        stream.close()

    async def _read_more(self) -> None:
        stream = self.stream
        if stream is None:
            raise StreamClosedError()
        try:
            data = await stream.read_bytes(self.params.chunk_size, partial=True)
        except StreamClosedError:
            if self._timed_out or stream.error is not None:
                raise
            data = b""
        except UnsatisfiableReadError as exc:
            raise StreamClosedError(real_error=exc) from exc
        self._proto.receive_data(data)

    async def _read_message(self, delegate: HTTPMessageDelegate) -> bool:
        proto = self._proto
        need_delegate_close = False
        try:
            self._arm(self.params.header_timeout)
            while True:
                event = proto.next_event()
                if event is NEED_DATA:
                    await self._read_more()
                    continue
                if isinstance(event, InformationalResponse):
                    # RFC 9110, section 15.2: interim responses (100 Continue among
                    # them) reach the delegate; the final response follows.
                    result = delegate.headers_received(event.start_line, event.headers)
                    if result is not None:
                        await result
                    continue
                break
            self._disarm()
            if isinstance(event, ConnectionClosed) or event is PAUSED:
                if self.is_client:
                    raise StreamClosedError()
                self.close()
                return False
            assert isinstance(event, Request | Response)
            need_delegate_close = True
            if isinstance(event, Request):
                self._head_request = event.method == "HEAD"
            if not self.is_client:
                self._finish_future = asyncio.get_running_loop().create_future()
            result = delegate.headers_received(event.start_line, event.headers)
            if result is not None:
                await result
            if self.stream is None:
                # Detached in headers_received (a protocol switch).
                need_delegate_close = False
                return False
            body_timer_armed = False
            while True:
                event = proto.next_event()
                if type(event) is Data:
                    result = delegate.data_received(event.data)
                    if result is not None:
                        await result
                    continue
                if type(event) is EndOfMessage:
                    break
                if event is NEED_DATA:
                    if (
                        not self.is_client
                        and isinstance(proto, HTTP1ServerProtocol)
                        and proto.client_waiting_for_continue
                        and proto.our_state is State.IDLE
                    ):
                        # RFC 9110, section 10.1.1: the body is wanted (a declared
                        # oversize one was refused by next_event before this point).
                        await self._write_bytes(proto.send_continue())
                    if not body_timer_armed:
                        body_timer_armed = True
                        self._arm(self._body_timeout)
                    await self._read_more()
                    continue
                # PAUSED: a protocol switch (101 or CONNECT) ended the message.
                break
            self._disarm()
            need_delegate_close = False
            delegate.finish()
            if not self.is_client and self._finish_future is not None:
                await self._finish_future
            return self._exchange_done()
        except HTTPInputError as exc:
            gen_log.info("Malformed HTTP message from %s: %s", self.context, exc)
            stream = self.stream
            if (
                not self.is_client
                and stream is not None
                and not stream.closed()
                and isinstance(proto, HTTP1ServerProtocol)
                and proto.our_state is State.IDLE
            ):
                with contextlib.suppress(StreamClosedError):
                    await stream.write(error_response(proto, exc.status_code))
            self.close()
            return False
        except StreamClosedError:
            if not self.is_client or self._timed_out:
                self.close()
                return False
            raise
        except Exception:
            # A delegate failed: the message cannot be read to its end, so the stream
            # is closed (the delegate hears of it through on_connection_close).
            app_log.error(
                "Uncaught exception reading a message from %s", self.context, exc_info=True
            )
            self.close()
            return False
        finally:
            self._disarm()
            if need_delegate_close:
                delegate.on_connection_close()
            self._gzip = None
            self._close_callback = None

    def _exchange_done(self) -> bool:
        """After a complete exchange: hand back unread bytes; True when reusable."""
        stream = self.stream
        if stream is None or stream.closed():
            return False
        proto = self._proto
        keep = proto.keep_alive and not self._last_exchange
        if self.is_client:
            keep = keep and proto.our_state is State.IDLE
        else:
            keep = keep and proto.our_state is State.IDLE and proto.their_state is State.IDLE
        if not keep:
            if proto.our_state is State.SWITCHED_PROTOCOL:
                # The stream carries another protocol now; whoever switched owns it.
                unread(stream, proto.trailing_data[0])
                return False
            self.close()
            return False
        unread(stream, proto.trailing_data[0])
        return True

    # --- writing ---------------------------------------------------------------------

    def _write_bytes(self, data: bytes) -> asyncio.Future[None]:
        stream = self.stream
        if stream is None or stream.closed():
            return closed_future(None if stream is None else stream.error)
        if not data:
            return resolved_future()
        return stream.write(data)

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Write the message head (and the first piece of the body, if given).

        Framing headers are added as needed (``Content-Length`` or chunked,
        ``Connection``). The future resolves when the bytes are handed to the network.

        Raises:
            HTTPOutputError: the head is not valid here (a second response, CR/LF/NUL
                in the reason phrase, a body on a response that cannot have one...).
        """
        proto = self._proto
        if self.is_client:
            assert isinstance(start_line, RequestStartLine)
            assert isinstance(proto, HTTP1ClientProtocol)
            no_body = (
                chunk is None
                and start_line.method not in _BODY_METHODS
                and "Content-Length" not in headers
                and "Transfer-Encoding" not in headers
            )
            data = proto.send_request(
                start_line.method, start_line.path, headers, body=chunk or b"", end=no_body
            )
            self._write_finished = no_body
        else:
            assert isinstance(start_line, ResponseStartLine)
            assert isinstance(proto, HTTP1ServerProtocol)
            if self._last_exchange and "Connection" not in headers:
                # Graceful shutdown: the last response on this connection (the
                # application's headers object is left as it was).
                headers = headers.copy()
                headers["Connection"] = "close"
            data = proto.send_response(
                start_line.code,
                headers,
                reason=start_line.reason or None,
                body=b"" if self._head_request or chunk is None else chunk,
            )
        return self._write_bytes(data)

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Write a piece of the body; the future resolves once it is handed on.

        Raises:
            HTTPOutputError: more bytes than the declared ``Content-Length``, or a body
                on a message that cannot have one.
        """
        if self._head_request:
            # RFC 9110, section 9.3.2: the answer to HEAD has no content.
            return resolved_future()
        return self._write_bytes(self._proto.send_data(chunk))

    def finish(self) -> asyncio.Future[None]:  # type: ignore[override]
        """End the message (the last chunk of a chunked body).

        Returns a future resolved once the last bytes are handed on (Tornado's returns
        nothing; awaiting this one is optional).

        Raises:
            HTTPOutputError: fewer bytes were written than the declared ``Content-Length``.
        """
        proto = self._proto
        if self._write_finished or proto.our_state is State.SWITCHED_PROTOCOL:
            self._write_finished = True
            self._resolve_finish()
            return resolved_future()
        self._write_finished = True
        future = self._write_bytes(proto.send_end())
        if not self.is_client and proto.our_state is State.MUST_CLOSE:
            # Not reusable (the client asked to close, or its body was not read to
            # the end): the stream closes once the response is flushed.
            stream = self.stream
            if stream is not None:
                future.add_done_callback(lambda _f: stream.close())
        self._resolve_finish()
        return future

    def _resolve_finish(self) -> None:
        future = self._finish_future
        if future is not None and not future.done():
            future.set_result(None)

    # --- connection control ----------------------------------------------------------

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` if the connection closes before this exchange ends.

        Unlike ``HTTPMessageDelegate.on_connection_close`` (a close while the message
        is being received), this also covers a close while the response is written.
        """
        self._close_callback = callback

    def _on_connection_close(self) -> None:
        callback = self._close_callback
        if callback is not None:
            self._close_callback = None
            callback()
        self._resolve_finish()

    def close(self) -> None:
        """Close the stream; the exchange ends without a response if none was sent."""
        stream = self.stream
        if stream is not None:
            stream.close()
        self._resolve_finish()

    def detach(self) -> BaseIOStream:
        """Take the stream over: no more HTTP processing happens on it.

        For protocols that start with an HTTP handshake (WebSocket after a 101,
        tunnels after CONNECT). Bytes already received past the HTTP message are given
        back to the stream, so its next read returns them.

        Raises:
            StreamClosedError: the stream was already detached.
        """
        stream = self.stream
        if stream is None:
            raise StreamClosedError()
        self.stream = None
        self._disarm()
        self._close_callback = None
        stream.set_close_callback(None)
        unread(stream, self._proto.trailing_data[0])
        self._resolve_finish()
        return stream

    def set_body_timeout(self, timeout: float) -> None:
        """Change the body deadline of this exchange (seconds for the whole body)."""
        self._body_timeout = timeout
        if self._timer is not None and self._proto.their_state is State.SEND_BODY:
            loop = asyncio.get_running_loop()
            remaining = self._phase_started + timeout - loop.time()
            self._timer.cancel()
            self._timer = loop.call_later(max(remaining, 0.0), self._on_timeout)

    def set_max_body_size(self, max_body_size: float) -> None:
        """Change the body size limit of this exchange (before the body is read)."""
        limit = int(max_body_size)
        self._max_body_size = limit
        self._proto.set_max_body_size(limit)
        if self._gzip is not None:
            self._gzip.set_max_body_size(limit)


# --- the server loop over a stream ------------------------------------------------------


class HTTP1ServerConnection:
    """Serves HTTP/1.x requests on one stream until it closes.

    Each request gets its own :class:`HTTP1Connection`; ``delegate.start_request`` is
    called with this object and that connection, and ``delegate.on_close`` once when
    serving ends.

    Args:
        stream: the accepted connection.
        params: the :class:`HTTP1ConnectionParameters` (defaults when None).
        context: passed to each :class:`HTTP1Connection` (``remote_ip``, ``protocol``).
    """

    def __init__(
        self,
        stream: BaseIOStream,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        self.stream = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self.context = context
        self._serving_future: asyncio.Future[None] | None = None
        self._current: HTTP1Connection | None = None
        self._draining = False

    def start_serving(self, delegate: HTTPServerConnectionDelegate) -> None:
        """Start reading requests and passing them to ``delegate``."""
        #: The server this connection belongs to (its connection delegate).
        self.server = delegate
        future = convert_yielded(self._server_request_loop(delegate))
        self._serving_future = future
        future.add_done_callback(_log_unexpected)

    async def close(self) -> None:
        """Close the connection and wait until serving has stopped and the socket is
        closed (or, while written data still drains, at most a second)."""
        stream = self.stream
        stream.close()
        future = self._serving_future
        if future is not None:
            with contextlib.suppress(Exception):
                # A failure was already logged by the done callback.
                await future
        with contextlib.suppress(TimeoutError):
            # A stream still being set up closes its socket once set up.
            await asyncio.wait_for(stream.aclose(), _CLOSE_GRACE)

    def is_idle(self) -> bool:
        """True when no request is in progress (between requests, or not started)."""
        current = self._current
        return current is None or (
            current._proto.their_state is State.IDLE and not current._proto.trailing_data[0]
        )

    def start_draining(self) -> None:
        """Graceful shutdown: close now if idle, else after the exchange in progress.

        The response in progress, if not started yet, carries ``Connection: close``.
        """
        self._draining = True
        current = self._current
        if current is not None:
            current._last_exchange = True
        if self.is_idle():
            self.stream.close()

    async def _server_request_loop(self, delegate: HTTPServerConnectionDelegate) -> None:
        try:
            while True:
                if self._draining:
                    return
                conn = HTTP1Connection(self.stream, False, self.params, self.context)
                self._current = conn
                request_delegate = delegate.start_request(self, conn)
                try:
                    keep_going = await conn.read_response(request_delegate)
                except (StreamClosedError, UnsatisfiableReadError, asyncio.CancelledError):
                    return
                except HTTPInputError as exc:
                    # From the application's body parsing: answer like bad framing.
                    gen_log.info("Malformed HTTP request from %s: %s", self.context, exc)
                    conn.close()
                    return
                except Exception:
                    app_log.error("Uncaught exception serving %s", self.context, exc_info=True)
                    conn.close()
                    return
                if not keep_going:
                    return
                self._current = None
                await asyncio.sleep(0)
        finally:
            self._current = None
            delegate.on_close(self)


def _log_unexpected(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        app_log.error("Error in HTTP connection", exc_info=exc)
