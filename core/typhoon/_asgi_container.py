"""ASGI applications inside typhoon: :class:`ASGIContainer`, its HTTP exchanges and lifespan.

Layer 4 (private to :mod:`typhoon.asgi`). Imports :mod:`typhoon._asgi_common`,
:mod:`typhoon._asgi_wscontainer` (the WebSocket scope), :mod:`typhoon.httputil`,
:mod:`typhoon.wsproto`, :mod:`typhoon.errors`, :mod:`typhoon.log`, the package root
(for :data:`typhoon.hookimpl`) and the standard library.

Strategy. Each request becomes one task running the application with a fresh scope.
The request body reaches ``receive`` piece by piece as the server reads it, through a
channel that holds one piece at a time: the server waits for the application to take a
piece before it reads more, so an upload is never buffered whole unless the
application does so. ``send`` writes each response message to the connection and
returns when the transport has room again (back-pressure towards the application).
The response head is held until the first body message, so a body that comes in one
message is sent with a ``Content-Length`` instead of chunked.

The container owns every task it starts: :meth:`ASGIContainer.shutdown` gives them a
grace period, cancels the rest and waits for them, then ends the lifespan.
"""

from __future__ import annotations

__all__ = ["ASGIContainer"]

import asyncio
import collections
import http.client
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import typhoon
from typhoon._asgi_common import (
    ASGIApp,
    Message,
    Scope,
    asgi_headers,
    asgi_version,
    check_status,
    header_fields,
    is_websocket_upgrade,
    log_access,
    split_target,
)
from typhoon._asgi_wscontainer import WebSocketSession
from typhoon.errors import ASGIError, HTTPOutputError, StreamClosedError
from typhoon.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from typhoon.log import app_log, gen_log
from typhoon.wsproto import DEFAULT_MAX_MESSAGE_SIZE

_ERROR_BODY = b"Internal Server Error"
_LIFESPAN_MODES = ("auto", "on", "off")


class ASGIContainer(HTTPServerConnectionDelegate):
    """Serves an ASGI 3 application (HTTP, WebSocket and lifespan) from typhoon's server.

    Mount it in an ``Application`` as a routing target, ``(r"/api/.*", container)``,
    which streams request bodies to the application, or as a ``FallbackHandler``'s
    ``fallback``; or serve it alone with ``HTTPServer(container)``. Register it as a
    plugin of the application, ``Application(..., plugins=[container])``, to tie the
    ASGI lifespan to the application's :meth:`startup` and :meth:`shutdown`; without an
    application, call those two methods yourself.

    Args:
        asgi_app: the ASGI 3 application (``async def app(scope, receive, send)``).
        root_path: the ``root_path`` of every scope: the prefix the application is
            mounted under (``path`` still holds the whole path, as ASGI servers give it).
        lifespan: ``"auto"`` runs the lifespan protocol and carries on without it when
            the application does not support it; ``"on"`` makes that an error;
            ``"off"`` never sends lifespan events.
        websocket_max_message_size: the largest incoming WebSocket message, in bytes
            (10 MiB by default); larger ones close the connection with 1009.
        websocket_compression_options: a dict, as for
            ``WebSocketHandler.get_compression_options``, to accept permessage-deflate
            (RFC 7692); ``None`` (the default) refuses it.
        shutdown_timeout: seconds :meth:`shutdown` lets requests in progress finish (and
            WebSocket applications react to the server's close) before cancelling them.

    The scopes carry ``client`` and ``server`` addresses, ``scheme`` (``https`` / ``wss``
    behind TLS or trusted proxy headers) and the lifespan ``state`` (a shallow copy per
    connection). WebSocket scopes offer the ``websocket.http.response`` extension, so an
    application may refuse a handshake with a response of its own.
    """

    def __init__(
        self,
        asgi_app: ASGIApp,
        *,
        root_path: str = "",
        lifespan: str = "auto",
        websocket_max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        websocket_compression_options: Mapping[str, Any] | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        if lifespan not in _LIFESPAN_MODES:
            raise ValueError(f"lifespan must be one of {_LIFESPAN_MODES}, not {lifespan!r}")
        self.asgi_app = asgi_app
        self.root_path = root_path
        self.lifespan = lifespan
        self.websocket_max_message_size = websocket_max_message_size
        self.websocket_compression_options = (
            dict(websocket_compression_options)
            if websocket_compression_options is not None
            else None
        )
        self.shutdown_timeout = shutdown_timeout
        #: The lifespan state the application filled in at startup (ASGI "state"
        #: extension); each connection's scope gets a shallow copy.
        self.state: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sessions: set[WebSocketSession] = set()
        self._lifespan: _Lifespan | None = None

    # --- entry points -------------------------------------------------------------------

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """The delegate of a new request: it starts the application when the head arrives."""
        return _Exchange(self, request_conn)

    def __call__(self, request: HTTPServerRequest) -> None:
        """Serve a request that was read whole (the ``FallbackHandler`` interface)."""
        assert request.connection is not None
        exchange = _Exchange(self, request.connection)
        start_line = RequestStartLine(request.method or "GET", request.uri or "/", request.version)
        exchange.headers_received(start_line, request.headers)
        if request.body:
            exchange.data_received(request.body)
        exchange.finish()

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _base_scope(self, kind: str, connection: Any, target: str, headers: HTTPHeaders) -> Scope:
        context = getattr(connection, "context", None)
        scheme = getattr(context, "protocol", None) or "http"
        if kind == "websocket":
            scheme = "wss" if scheme == "https" else "ws"
        path, raw_path, query = split_target(target)
        scope: Scope = {
            "type": kind,
            "asgi": asgi_version(),
            "scheme": scheme,
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "root_path": self.root_path,
            "headers": asgi_headers(headers),
            "client": _client_address(context),
            "server": _server_address(connection),
        }
        if self._lifespan is not None and self._lifespan.started:
            scope["state"] = dict(self.state)
        return scope

    # --- lifespan -----------------------------------------------------------------------

    @typhoon.hookimpl
    async def startup(self) -> None:
        """Send ``lifespan.startup`` and wait for the application's answer.

        Also the ``startup`` hook when the container is registered as a plugin.

        Raises:
            ASGIError: the application answered ``lifespan.startup.failed``, or (with
                ``lifespan="on"``) does not support the lifespan protocol.
        """
        if self.lifespan == "off" or self._lifespan is not None:
            return
        lifespan = self._lifespan = _Lifespan(self)
        try:
            await lifespan.start()
        except BaseException:
            self._lifespan = None
            raise

    @typhoon.hookimpl
    async def shutdown(self) -> None:
        """End the requests and WebSocket connections in progress, then the lifespan.

        Requests get ``shutdown_timeout`` seconds to finish; WebSocket connections are
        closed with 1001 (going away), which their applications see as
        ``websocket.disconnect``; whatever is still running then is cancelled. Then
        ``lifespan.shutdown`` is sent and answered. Also the ``shutdown`` hook when the
        container is registered as a plugin.

        Raises:
            ASGIError: the application answered ``lifespan.shutdown.failed``.
        """
        for session in list(self._sessions):
            session.going_away()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.shutdown_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.stop()


def _client_address(context: Any) -> list[Any] | None:
    remote_ip = getattr(context, "remote_ip", None)
    if not remote_ip:
        return None
    address = getattr(context, "address", None)
    if isinstance(address, tuple) and len(address) >= 2 and address[0] == remote_ip:
        return [remote_ip, int(address[1])]
    # Taken from proxy headers: the client's port is unknown.
    return [remote_ip, 0]


def _server_address(connection: Any) -> list[Any] | None:
    stream = getattr(connection, "stream", None)
    get_extra_info = getattr(stream, "get_extra_info", None)
    sockname = get_extra_info("sockname") if get_extra_info is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return [str(sockname[0]), int(sockname[1])]
    if isinstance(sockname, str) and sockname:
        return [sockname, None]
    return None


class _BodyChannel:
    """The request body on its way from the connection to ``receive``, one piece at a time."""

    __slots__ = ("_pieces", "_waiter", "ended", "lost")

    def __init__(self) -> None:
        self._pieces: collections.deque[tuple[bytes, asyncio.Future[None] | None]] = (
            collections.deque()
        )
        self._waiter: asyncio.Future[None] | None = None
        self.ended = False
        self.lost = False

    def feed(self, chunk: bytes, flow_control: bool) -> asyncio.Future[None] | None:
        """Queue a piece; with ``flow_control``, return a future resolved once it is taken."""
        taken: asyncio.Future[None] | None = None
        if flow_control:
            taken = asyncio.get_running_loop().create_future()
        self._pieces.append((chunk, taken))
        self._wake()
        return taken

    def end(self) -> None:
        """The body is complete."""
        self.ended = True
        self._wake()

    def lose(self) -> None:
        """The connection closed before the body was complete."""
        self.lost = True
        self.release()
        self._wake()

    def release(self) -> None:
        """Let the server read on: nobody will take the pieces still queued."""
        while self._pieces:
            _, taken = self._pieces.popleft()
            if taken is not None and not taken.done():
                taken.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> tuple[bytes, bool] | None:
        """The next piece and whether more follow, or ``None`` when the client left."""
        while True:
            if self.lost:
                return None
            if self._pieces:
                chunk, taken = self._pieces.popleft()
                if taken is not None and not taken.done():
                    taken.set_result(None)
                return chunk, bool(self._pieces) or not self.ended
            if self.ended:
                return b"", False
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class _Exchange(HTTPMessageDelegate):
    """One request: an HTTP scope run as a task, or the start of a WebSocket session."""

    def __init__(self, container: ASGIContainer, connection: HTTPConnection) -> None:
        self.container = container
        self.connection: Any = connection
        self.start = time.monotonic()
        self.method = "GET"
        self.uri = "/"
        self.remote_ip: str | None = getattr(
            getattr(connection, "context", None), "remote_ip", None
        )
        self.headers = HTTPHeaders()
        self.version = "HTTP/1.1"
        self.websocket = False
        self.body = _BodyChannel()
        self.body_read = False
        self.task: asyncio.Task[None] | None = None
        # Response state.
        self.status = 0
        self.response_headers: list[tuple[str, str]] | None = None
        self.head_written = False
        self.complete = False
        self.disconnected = False
        self.done: asyncio.Future[None] | None = None

    # --- the request, from the connection ---------------------------------------------

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, RequestStartLine)
        self.method, self.uri, self.version = start_line
        self.headers = headers
        if is_websocket_upgrade(self.method, headers):
            # The session starts once the (empty) request is complete.
            self.websocket = True
            return None
        self.connection.set_close_callback(self._connection_lost)
        self.done = asyncio.get_running_loop().create_future()
        self.task = self.container._spawn(self._run())
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self.websocket or self.task is None or self.task.done():
            return None
        return self.body.feed(chunk, flow_control=True)

    def finish(self) -> None:
        if self.websocket:
            self._start_websocket()
            return
        self.body.end()

    def on_connection_close(self) -> None:
        self._connection_lost()

    def _connection_lost(self) -> None:
        if self.disconnected:
            return
        self.disconnected = True
        self.body.lose()
        self._resolve_done()

    def _resolve_done(self) -> None:
        done = self.done
        if done is not None and not done.done():
            done.set_result(None)

    def _start_websocket(self) -> None:
        container = self.container
        scope = container._base_scope("websocket", self.connection, self.uri, self.headers)
        scope["http_version"] = self.version.partition("/")[2] or "1.1"
        scope["extensions"] = {"websocket.http.response": {}}
        session = WebSocketSession(
            container.asgi_app,
            scope,
            self.connection,
            self.method,
            self.version,
            self.headers,
            max_message_size=container.websocket_max_message_size,
            compression_options=container.websocket_compression_options,
            summary=(self.method, self.uri, self.remote_ip, self.start),
        )
        container._sessions.add(session)
        task = container._spawn(session.run())
        task.add_done_callback(lambda _: container._sessions.discard(session))

    # --- the application ------------------------------------------------------------------

    async def _run(self) -> None:
        container = self.container
        scope = container._base_scope("http", self.connection, self.uri, self.headers)
        scope["http_version"] = self.version.partition("/")[2] or "1.1"
        scope["method"] = self.method
        scope["extensions"] = {}
        try:
            await container.asgi_app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            self._cut()
            raise
        except Exception:
            app_log.error(
                "Uncaught exception in ASGI application: %s %s (%s)",
                self.method,
                self.uri,
                self.remote_ip,
                exc_info=True,
            )
            self._end_badly()
        else:
            if not self.complete and not self.disconnected:
                app_log.error(
                    "ASGI application returned without completing its response to %s %s",
                    self.method,
                    self.uri,
                )
                self._end_badly()
        finally:
            self.body.release()
            self._resolve_done()

    def _end_badly(self) -> None:
        """A 500 page when nothing was sent yet; otherwise cut the response short."""
        if self.complete or self.disconnected:
            return
        if self.head_written:
            self._cut()
            return
        headers = HTTPHeaders()
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = str(len(_ERROR_BODY))
        self.complete = True
        connection = self.connection
        connection.set_close_callback(None)
        connection.write_headers(
            ResponseStartLine("HTTP/1.1", 500, "Internal Server Error"), headers, _ERROR_BODY
        )
        connection.finish()
        log_access(500, self.method, self.uri, self.remote_ip, self.start)

    def _cut(self) -> None:
        """Close the connection under an unfinished response (the client sees it cut)."""
        if self.complete or self.disconnected:
            return
        self.complete = True
        connection = self.connection
        connection.set_close_callback(None)
        connection.close()
        log_access(self.status or 500, self.method, self.uri, self.remote_ip, self.start)

    async def _receive(self) -> Message:
        if not self.body_read:
            piece = await self.body.take()
            if piece is not None:
                chunk, more = piece
                self.body_read = not more
                return {"type": "http.request", "body": chunk, "more_body": more}
            self.body_read = True
        # The body was read: the next event is the end of the connection (or of the
        # response, after which the application has nothing left to hear).
        done = self.done
        if done is not None and not done.done():
            await asyncio.shield(done)
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            if self.response_headers is not None:
                raise ASGIError("http.response.start sent twice")
            self.status = check_status(message.get("status"), "http.response.start")
            self.response_headers = header_fields(
                message.get("headers") or (), "http.response.start"
            )
            return
        if kind != "http.response.body":
            raise ASGIError(f"unexpected message {kind!r} in an HTTP scope")
        if self.response_headers is None:
            raise ASGIError("http.response.body before http.response.start")
        if self.complete:
            raise ASGIError("http.response.body after the response was complete")
        if self.disconnected:
            raise StreamClosedError()
        body = message.get("body", b"")
        if not isinstance(body, bytes | bytearray | memoryview):
            raise ASGIError(f"http.response.body: body must be bytes, not {type(body).__name__}")
        body = bytes(body)
        more = bool(message.get("more_body", False))
        connection = self.connection
        try:
            if not self.head_written:
                future = self._write_head(body, more)
            elif body:
                future = connection.write(body)
            else:
                future = None
            if not more:
                self.complete = True
                connection.set_close_callback(None)
                connection.finish()
        except HTTPOutputError as exc:
            # The response breaks HTTP framing (a body on a 204, more bytes than the
            # declared Content-Length, ...).
            self._cut()
            raise ASGIError(f"invalid HTTP response: {exc}") from exc
        if not more:
            log_access(self.status, self.method, self.uri, self.remote_ip, self.start)
            self._resolve_done()
        if future is not None and not future.done():
            await future
        elif future is not None and future.exception() is not None:
            raise StreamClosedError(future.exception())

    def _write_head(self, body: bytes, more: bool) -> asyncio.Future[None]:
        fields = self.response_headers
        assert fields is not None
        headers = HTTPHeaders()
        for name, value in fields:
            headers.add(name, value)
        status = self.status
        if (
            not more
            and "Content-Length" not in headers
            and "Transfer-Encoding" not in headers
            and status not in (204, 304)
            and self.method != "HEAD"
        ):
            headers["Content-Length"] = str(len(body))
        self.head_written = True
        reason = http.client.responses.get(status, "")
        future: asyncio.Future[None] = self.connection.write_headers(
            ResponseStartLine("HTTP/1.1", status, reason), headers, body
        )
        return future


class _Lifespan:
    """The application's ``lifespan`` scope, running for as long as the container is up."""

    def __init__(self, container: ASGIContainer) -> None:
        self.container = container
        self.started = False
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._startup: asyncio.Future[str | None] = loop.create_future()
        self._shutdown: asyncio.Future[str | None] = loop.create_future()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        container = self.container
        scope: Scope = {"type": "lifespan", "asgi": asgi_version(), "state": container.state}
        self._events.put_nowait({"type": "lifespan.startup"})
        self._task = asyncio.ensure_future(container.asgi_app(scope, self._receive, self._send))
        waiting: set[asyncio.Future[Any]] = {self._task, self._startup}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self._startup.done():
            failure = self._startup.result()
            if failure is not None:
                await self._end_task()
                raise ASGIError(f"ASGI lifespan startup failed: {failure}")
            self.started = True
            return
        # The application ended without answering: it does not do lifespan.
        task = self._task
        error = task.exception() if not task.cancelled() else None
        if container.lifespan == "on":
            raise ASGIError(
                "the ASGI application does not support the lifespan protocol"
            ) from error
        gen_log.info(
            "ASGI application does not support the lifespan protocol (%s); going on without it",
            error or "returned at once",
        )

    async def stop(self) -> None:
        task = self._task
        if task is None or task.done() or not self.started:
            if task is not None:
                await self._end_task()
            return
        self._events.put_nowait({"type": "lifespan.shutdown"})
        waiting: set[asyncio.Future[Any]] = {task, self._shutdown}
        await asyncio.wait(
            waiting,
            timeout=self.container.shutdown_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        failure = self._shutdown.result() if self._shutdown.done() else None
        await self._end_task()
        if failure is not None:
            raise ASGIError(f"ASGI lifespan shutdown failed: {failure}")

    async def _end_task(self) -> None:
        """Let the application's lifespan call return (briefly), else cancel it."""
        task = self._task
        if task is None:
            return
        if not task.done():
            await asyncio.wait({task}, timeout=self.container.shutdown_timeout)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        error = None if task.cancelled() else task.exception()
        if error is not None and self.started:
            app_log.error("ASGI lifespan ended with an exception", exc_info=error)

    async def _receive(self) -> Message:
        return await self._events.get()

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            outcome, failure = self._startup, None
        elif kind == "lifespan.startup.failed":
            outcome, failure = self._startup, str(message.get("message", "")) or "(no message)"
        elif kind == "lifespan.shutdown.complete":
            outcome, failure = self._shutdown, None
        elif kind == "lifespan.shutdown.failed":
            outcome, failure = self._shutdown, str(message.get("message", "")) or "(no message)"
        else:
            raise ASGIError(f"unexpected message {kind!r} in the lifespan scope")
        if outcome.done():
            raise ASGIError(f"{kind} sent twice or out of order")
        outcome.set_result(failure)
