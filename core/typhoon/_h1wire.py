"""The HTTP/1.1 server connection as an asyncio protocol: the server's fast path.

Layer 4 (private to ``typhoon.httpserver``): imports :mod:`typhoon.http1proto`,
:mod:`typhoon.http1connection`, the private :mod:`typhoon._h1context`,
:mod:`typhoon._h1request` and :mod:`typhoon._h1settings`, :mod:`typhoon.httputil`,
:mod:`typhoon.iostream`, :mod:`typhoon.concurrent`, :mod:`typhoon.errors`,
:mod:`typhoon.log` and the standard library.

Strategy. :class:`WireServerConnection` is the protocol of the accepted socket's
transport: ``data_received`` feeds :class:`~typhoon.http1proto.HTTP1ServerProtocol`
and the events it returns are dispatched to the application's delegates in the same
call, so a request that arrives in one segment and is answered synchronously costs one
pass through Python and one ``send``. There is no stream, no read future and no task
per request. The protocol object decides everything about HTTP (framing, limits,
keep-alive, pipelining order); this module adds the deadlines, flow control, output
batching and the delegate calls.

Deadlines are totals per phase and cost nothing per request: one timer per connection
stays armed at the earliest deadline that may matter, and when it fires it either acts
or re-arms for the current deadline. The head phase (``header_timeout``) starts when
the connection waits for a request, so an idle keep-alive connection and a client
trickling its head are cut by the same deadline; the body phase starts with the body.

Output is sent once per turn of the event loop: what a connection writes waits until
every event the loop's current turn delivered has been dispatched, then each connection
hands its bytes to its transport in one piece (pipelined responses, and a response
written in parts, leave in one ``send``). Under load this answers a batch of clients
together, which lets a client woken by its response find the next responses already
sent instead of being woken again for each. On asyncio's own loops the last callback of
a turn sends at once (the loop's queue of ready callbacks is empty), so a lone request
costs no extra turn; on other loops one callback per turn sends. A connection whose
waiting output reaches 64 KiB sends it at once, so the transport's flow control sees
large bodies as they are written.

Back pressure: while a delegate's awaitable is pending, or the application has not
finished its response, nothing more is parsed; received bytes wait in the protocol
object and reading stops once a chunk's worth is waiting. Writes return futures that
are already resolved unless the transport asked us to pause.

Each request gets a :class:`~typhoon._h1request.WireRequestConnection`, an
:class:`~typhoon.http1connection.HTTP1Connection` whose methods act on this protocol;
its ``detach`` turns the transport into an :class:`~typhoon.iostream.IOStream` (for
WebSocket), handing over any bytes already received.
"""

from __future__ import annotations

__all__ = ["WireServerConnection"]

import asyncio
from typing import Any, Final, cast

from typhoon._h1context import RequestContext
from typhoon._h1request import WireRequestConnection, adopt_transport
from typhoon._h1settings import CALLBACK_CONTEXT, ServerSettings
from typhoon._headers import HTTPHeaders
from typhoon.concurrent import convert_yielded
from typhoon.errors import HTTPInputError, StreamClosedError
from typhoon.http1connection import (
    TIMEOUT_RESPONSE,
    GzipMessageDelegate,
    closed_future,
    error_response,
)
from typhoon.http1proto import (
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    HTTP1ServerProtocol,
    State,
)
from typhoon.httputil import (
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    _server_request,
)
from typhoon.iostream import IOStream
from typhoon.log import app_log, gen_log

# Deadline phases.
_NONE: Final = 0
_HEAD: Final = 1
_BODY: Final = 2

_IDLE: Final = State.IDLE
_DONE: Final = State.DONE
_MUST_CLOSE: Final = State.MUST_CLOSE
_SWITCHED: Final = State.SWITCHED_PROTOCOL

#: After an error response, how long to keep reading (and discarding) before the close,
#: so the client reads the response instead of a reset (RFC 9112, section 9.6).
_LINGER_SECONDS: Final = 2.0
#: ... and how many bytes at most.
_LINGER_BYTES: Final = 1024 * 1024
_tuple_new: Final = tuple.__new__

#: How long ``close`` lets a graceful close (TLS close_notify) take before aborting.
_CLOSE_GRACE: Final = 1.0
#: Output waiting for the end of the loop's turn is sent at once when it reaches this.
_OUT_LIMIT: Final = 64 * 1024


class WireServerConnection(asyncio.BufferedProtocol, RequestContext):
    """One server-side HTTP/1.1 connection, driven by its transport's callbacks.

    This is the ``server_conn`` object delegates receive in ``start_request``, and the
    connection context (``remote_ip``, ``protocol``) its requests read.
    """

    __slots__ = (
        "_body_timeout",
        "_busy",
        "_closed_waiter",
        "_closing",
        "_deadline",
        "_drain_waiters",
        "_in_loop",
        "_lingering",
        "_msg",
        "_msg_open",
        "_out",
        "_out_size",
        "_parked",
        "_phase",
        "_proto",
        "_queued",
        "_read_paused",
        "_req",
        "_settings",
        "_timer",
        "_timer_at",
        "_transport",
        "_waiting",
        "_write_paused",
    )

    def __init__(
        self,
        settings: ServerSettings,
        address: Any,
        family: int,
        protocol: str,
        trusted_downstream: frozenset[str],
    ) -> None:
        RequestContext.__init__(self, address, family, protocol, trusted_downstream)
        self._settings = settings
        self._transport: asyncio.Transport | None = None
        self._proto = HTTP1ServerProtocol(
            max_header_size=settings.max_header_size,
            max_body_size=settings.max_body_size,
            chunk_size=settings.chunk_size,
            no_keep_alive=settings.no_keep_alive,
        )
        self._req: WireRequestConnection | None = None
        self._msg: HTTPMessageDelegate | None = None
        # A request's message is being received (head seen, end not yet).
        self._msg_open = False
        # A delegate's awaitable is pending: nothing is dispatched until it completes.
        self._busy = False
        # Inside _process: events are being dispatched.
        self._in_loop = False
        # The protocol object waits for our response (or a detach) before parsing on.
        self._parked = False
        # The connection is closing (or closed, or detached): dispatch nothing more.
        self._closing = False
        # After an error response: reading and discarding until the close.
        self._lingering = False
        # Bytes written and not yet given to the transport (sent at the end of the
        # loop's turn), their total size, and whether the server's flush queue has us.
        self._out: list[bytes] | None = None
        self._out_size = 0
        self._queued = False
        self._phase = _NONE
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._read_paused = False
        self._write_paused = False
        self._waiting = 0
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        self._closed_waiter: asyncio.Future[None] | None = None
        self._body_timeout = settings.body_timeout

    @property
    def server(self) -> HTTPServerConnectionDelegate:
        """The server this connection belongs to (its connection delegate)."""
        return self._settings.delegate

    @property
    def context(self) -> WireServerConnection:
        """The connection context: this object (``remote_ip``, ``protocol``, ``address``)."""
        return self

    # --- asyncio protocol callbacks --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, so
        # this is a cast, not an isinstance check.
        self._transport = cast(asyncio.Transport, transport)
        self._settings.connections.add(self)
        if self._settings.draining:
            self._close()
            return
        self._process()

    def get_buffer(self, sizehint: int) -> memoryview:
        # One read buffer serves every connection of the server: the transport fills it
        # and calls buffer_updated at once, and the bytes are copied out at their size.
        # (Reading into fresh 256 KiB buffers that are then shrunk in place pins a heap
        # page per idle connection that keeps its last request.)
        return self._settings.read_view

    def buffer_updated(self, nbytes: int) -> None:
        # data_received, inlined: this runs once per request.
        data = self._settings.read_view[:nbytes].tobytes()
        if self._closing:
            if self._lingering:
                self._waiting += nbytes
                if self._waiting > _LINGER_BYTES:
                    self._end_linger()
            return
        self._proto.receive_data(data)
        if self._busy or self._in_loop or self._parked:
            self._hold(nbytes)
            return
        self._process()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            if self._lingering:
                self._waiting += len(data)
                if self._waiting > _LINGER_BYTES:
                    self._end_linger()
            return
        self._proto.receive_data(data)
        if self._busy or self._in_loop or self._parked:
            self._hold(len(data))
            return
        self._process()

    def eof_received(self) -> bool | None:
        if self._closing:
            if self._lingering:
                self._end_linger()
            return None
        self._proto.receive_data(b"")
        # Requests received in full are still dispatched (and answered if the answer
        # is immediate); then the connection closes, as a stream would, so that the
        # application learns of the close (set_close_callback, on_connection_close).
        self._process()
        self._close()
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closing = True
        self._out = None  # unsendable now
        self._lingering = False
        self._disarm()
        self._release_writers(exc)
        settings = self._settings
        settings.connections.discard(self)
        req = self._req
        msg = self._msg
        self._req = None
        self._msg = None
        if req is not None and not req._finished:
            req._finished = True
            if msg is not None and self._msg_open:
                self._msg_open = False
                try:
                    msg.on_connection_close()
                except Exception:
                    app_log.error("Exception in on_connection_close", exc_info=True)
            callback = req._close_callback
            if callback is not None:
                req._close_callback = None
                try:
                    callback()
                except Exception:
                    app_log.error("Exception in connection close callback", exc_info=True)
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._transport is not None:
            self._transport = None
            try:
                settings.delegate.on_close(self)
            except Exception:
                app_log.error("Exception in on_close", exc_info=True)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_writers(None)

    # --- the dispatch loop -----------------------------------------------------------

    def _hold(self, size: int) -> None:
        """Bytes arrived while parsing is suspended: stop reading once enough wait."""
        self._waiting += size
        if self._waiting > self._settings.chunk_size and not self._read_paused:
            transport = self._transport
            if transport is not None:
                self._read_paused = True
                transport.pause_reading()

    def _resume(self) -> None:
        """Carry on dispatching (scheduled after a response finished outside a pass)."""
        if not self._closing:
            self._process()

    def _process(self) -> None:
        """Dispatch every event the received bytes allow, in order.

        Callers make sure the connection is not closing.
        """
        if self._busy or self._in_loop:
            return
        self._in_loop = True
        self._parked = False
        self._waiting = 0
        proto = self._proto
        result: Any = None
        try:
            while True:
                event = proto._next_head()
                if event is NEED_DATA:
                    if self._msg_open or self._read_paused or self._settings.draining:
                        self._need_data()
                    elif self._phase != _HEAD:
                        # Waiting for the next request: its head deadline starts now,
                        # and the last exchange's objects are let go (an idle
                        # keep-alive connection holds no request).
                        self._phase = _HEAD
                        self._req = None
                        self._msg = None
                        settings = self._settings
                        timeout = settings.header_timeout
                        if timeout is not None:
                            deadline = settings.clock() + timeout
                            self._deadline = deadline
                            if self._timer is None or self._timer_at > deadline:
                                self._arm(deadline)
                    return
                kind = type(event)
                if kind is tuple:
                    # A new request: a request connection and a delegate for it.
                    method, target, version, headers, _, _, _ = event  # type: ignore[misc, str-unpack]
                    settings = self._settings
                    req = WireRequestConnection(self, method == "HEAD")
                    self._req = req
                    self._phase = _NONE
                    self._body_timeout = settings.body_timeout
                    complete = proto._their_state is _DONE
                    msg: Any = None
                    whole = settings.whole_request
                    callback = settings.callback
                    if complete and (whole is not None or callback is not None):
                        # A request without a body is whole: a plain request callback
                        # gets it at once, and so does the application's shortcut,
                        # which hands back a delegate when the message should still be
                        # delivered piece by piece.
                        self._msg = None
                        self._msg_open = False
                        request = _server_request(
                            method,
                            target,
                            version,
                            headers,
                            req,
                            self,
                            self.remote_ip,
                            self.protocol,
                            cast(HTTPHeaders, headers)._as_list,
                        )
                        if whole is not None:
                            msg = whole(request)
                        elif callback is not None:
                            callback(request)
                        if msg is None:
                            if self._closing:
                                return
                            continue
                    else:
                        msg = settings.start_request(self, req)
                        if settings.decompress:
                            msg = GzipMessageDelegate(
                                msg, settings.chunk_size, settings.max_body_size
                            )
                    self._msg_open = True
                    self._msg = msg
                    # RequestStartLine(method, target, version), built without the
                    # namedtuple constructor's Python-level frame.
                    start_line = _tuple_new(RequestStartLine, (method, target, version))
                    result = msg.headers_received(start_line, headers)
                    if complete:
                        if result is not None:
                            # The end of the message is delivered once it completes.
                            proto._defer_end()
                        else:
                            self._msg_open = False
                            msg.finish()
                            if self._closing:
                                return
                            continue
                elif kind is Data:
                    result = self._msg.data_received(event.data)  # type: ignore[union-attr]
                elif kind is EndOfMessage:
                    self._phase = _NONE
                    self._msg_open = False
                    self._msg.finish()  # type: ignore[union-attr]
                    if self._closing:
                        return
                    continue
                elif event is PAUSED:
                    # Our response (or a detach after a protocol switch) comes first.
                    self._parked = True
                    return
                else:
                    # ConnectionClosed: the client closed between requests.
                    self._close()
                    return
                if result is not None:
                    # Flow control: nothing more is dispatched until it completes.
                    self._await(result)
                    return
                if self._closing:
                    return
        except HTTPInputError as exc:
            # From the protocol object, or from body decoding and parsing.
            self._reject(exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._in_loop = False
            if self._settings.flush_queue:
                self._settings.flush_soon()

    def _await(self, result: Any) -> None:
        try:
            future = convert_yielded(result)
        except Exception as exc:
            self._fail(exc)
            return
        self._busy = True
        future.add_done_callback(self._delegate_done)

    def _delegate_done(self, future: asyncio.Future[Any]) -> None:
        self._busy = False
        if future.cancelled():
            self._close()
            return
        exc = future.exception()
        if self._closing:
            return
        if exc is not None:
            if isinstance(exc, HTTPInputError):
                self._reject(exc)
            else:
                self._fail(exc)
            return
        self._resume_reading()
        self._process()

    def _need_data(self) -> None:
        settings = self._settings
        proto = self._proto
        if self._msg_open:
            # Waiting for body bytes.
            if proto.client_waiting_for_continue and proto.our_state is _IDLE:
                # RFC 9110, section 10.1.1: ask for the body now that the request
                # passed its checks (a declared oversize body already got 413).
                self._collect(proto.send_continue())
            if self._phase != _BODY:
                self._phase = _BODY
                timeout = self._body_timeout
                if timeout is not None:
                    self._set_deadline(timeout)
        else:
            if settings.draining and not proto.trailing_data[0]:
                # Graceful shutdown: an idle connection closes now.
                self._close()
                return
            if self._phase != _HEAD:
                self._phase = _HEAD
                self._req = None
                self._msg = None
                timeout = settings.header_timeout
                if timeout is not None:
                    self._set_deadline(timeout)
        if self._read_paused:
            self._resume_reading()

    # --- deadlines -------------------------------------------------------------------

    def _set_deadline(self, timeout: float) -> None:
        deadline = self._settings.clock() + timeout
        self._deadline = deadline
        if self._timer is None or self._timer_at > deadline:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        """(Re)schedule the timer for ``deadline``, earlier than it is set for now."""
        timer = self._timer
        if timer is not None:
            timer.cancel()
        self._timer_at = deadline
        self._timer = self._settings.loop.call_at(
            deadline, self._on_timer, context=CALLBACK_CONTEXT
        )

    def _disarm(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _on_timer(self) -> None:
        self._timer = None
        if self._lingering:
            self._end_linger()
            return
        phase = self._phase
        if self._closing or phase == _NONE:
            return
        loop = self._settings.loop
        if loop.time() < self._deadline:
            self._timer_at = self._deadline
            self._timer = loop.call_at(self._deadline, self._on_timer, context=CALLBACK_CONTEXT)
            return
        proto = self._proto
        if phase == _HEAD and not proto.trailing_data[0]:
            # An idle keep-alive connection: close quietly (RFC 9112, section 9.5).
            self._close()
            return
        gen_log.info(
            "Timeout reading the request %s from %s",
            "head" if phase == _HEAD else "body",
            self.remote_ip,
        )
        if proto.our_state is _IDLE:
            self._write_now(TIMEOUT_RESPONSE)
        self._linger()

    # --- errors and closing ----------------------------------------------------------

    def _reject(self, exc: HTTPInputError) -> None:
        """Answer a protocol violation (or a limit) with its status, then close."""
        if self._closing:
            return
        gen_log.info("Malformed HTTP message from %s: %s", self.remote_ip, exc)
        proto = self._proto
        if proto.our_state is _IDLE:
            self._write_now(error_response(proto, exc.status_code))
        self._linger()

    def _fail(self, exc: BaseException) -> None:
        """The application raised: log it, answer 500 if nothing was sent, close."""
        if self._closing:
            return
        app_log.error("Uncaught exception serving %s", self.remote_ip, exc_info=exc)
        proto = self._proto
        if proto.our_state is _IDLE and proto.their_state is not _SWITCHED:
            self._write_now(error_response(proto, 500))
        self._linger()

    def _write_now(self, data: bytes) -> None:
        """Send ``data`` now, after anything written before it."""
        out = self._out
        if out is not None:
            out.append(data)
            self._flush()
            return
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _linger(self) -> None:
        """Close after an error response without losing it to a reset.

        Closing with unread request bytes in the kernel's buffer makes it send a reset,
        which can destroy the response before the client reads it. So: send our FIN,
        keep reading and discarding for a bounded time and size, then close.
        """
        transport = self._transport
        if transport is None or self._closing:
            return
        self._flush()
        self._closing = True
        self._lingering = True
        self._waiting = 0
        self._resume_reading()
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                transport.abort()
                return
        loop = self._settings.loop
        self._disarm()
        self._timer_at = loop.time() + _LINGER_SECONDS
        self._timer = loop.call_at(self._timer_at, self._on_timer, context=CALLBACK_CONTEXT)

    def _end_linger(self) -> None:
        """Lingering is over: close, or abort if the client is not reading our response."""
        self._lingering = False
        transport = self._transport
        if transport is None:
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    def _abort(self) -> None:
        """Cut the connection: what was written goes first, the rest of the exchange never."""
        self._flush()
        self._closing = True
        transport = self._transport
        if transport is not None:
            transport.abort()

    def _close(self) -> None:
        """Close after sending what was written."""
        self._closing = True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._flush()
            transport.close()

    # --- writing ---------------------------------------------------------------------

    def _collect(self, data: bytes) -> None:
        """Queue ``data`` for the end of the loop's turn (or send now past the limit)."""
        out = self._out
        if out is None:
            self._out = [data]
            size = len(data)
            if not self._queued:
                self._queued = True
                self._settings.flush_queue.append(self)
        else:
            out.append(data)
            size = self._out_size + len(data)
        self._out_size = size
        if size >= _OUT_LIMIT:
            self._flush()
        elif not self._in_loop:
            # Written from outside a dispatch pass (a task, a timer): no pass end sees it.
            self._settings.flush_soon()

    def _flush(self) -> None:
        """Give the transport what was collected, in one piece."""
        out = self._out
        if out is None:
            return
        self._out = None
        self._out_size = 0
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _send(self, data: bytes) -> asyncio.Future[None]:
        """Send ``data`` in order with the rest; the future says when to write more."""
        if data:
            if not self._in_loop and self._transport is None:
                return closed_future()
            self._collect(data)
        if self._write_paused:
            future: asyncio.Future[None] = self._settings.loop.create_future()
            waiters = self._drain_waiters
            if waiters is None:
                waiters = self._drain_waiters = []
            waiters.append(future)
            return future
        return self._settings.done

    def _release_writers(self, exc: BaseException | None) -> None:
        waiters = self._drain_waiters
        if not waiters:
            return
        self._drain_waiters = None
        for future in waiters:
            if future.done():
                continue
            if self._transport is None or exc is not None:
                future.set_exception(StreamClosedError(real_error=exc))
                future.exception()
            else:
                future.set_result(None)

    def _resume_reading(self) -> None:
        if self._read_paused:
            self._read_paused = False
            transport = self._transport
            if transport is not None:
                transport.resume_reading()

    def _change_body_timeout(self, timeout: float) -> None:
        self._body_timeout = timeout
        if self._phase == _BODY:
            self._set_deadline(timeout)

    def _detach(self, req: WireRequestConnection) -> IOStream:
        transport = self._transport
        if req is not self._req or transport is None or self._closing:
            raise StreamClosedError()
        self._flush()
        self._closing = True
        self._disarm()
        self._req = None
        self._msg = None
        self._msg_open = False
        self._settings.connections.discard(self)
        leftover, eof = self._proto.trailing_data
        self._transport = None
        stream = adopt_transport(transport)
        protocol = stream.connection_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        if leftover:
            protocol.data_received(leftover)
        if eof:
            protocol.eof_received()
        try:
            self._settings.delegate.on_close(self)
        except Exception:
            app_log.error("Exception in on_close", exc_info=True)
        return stream

    # --- server-wide control ---------------------------------------------------------

    def is_idle(self) -> bool:
        """True when no request is in progress."""
        return not self._msg_open and (self._req is None or self._req._finished)

    def start_draining(self) -> None:
        """Graceful shutdown: close now if idle, else after the current exchange."""
        if self._closing:
            return
        if self.is_idle() and not self._busy and not self._proto.trailing_data[0]:
            self._close()

    async def close(self) -> None:
        """Close the connection (abruptly if a request is in progress) and wait for it."""
        transport = self._transport
        if transport is None:
            return
        waiter = self._closed_waiter
        if waiter is None:
            waiter = self._closed_waiter = self._settings.loop.create_future()
        if self.is_idle() and not self._lingering:
            self._close()
            try:
                # A TLS close waits for the client's close_notify; do not wait long.
                await asyncio.wait_for(asyncio.shield(waiter), _CLOSE_GRACE)
                return
            except TimeoutError:
                # No close_notify in time: fall through and abort.
                pass
        self._abort()
        await waiter
