"""typhoon applications under ASGI servers: :func:`asgi_app` and its connections.

Layer 4 (private to :mod:`typhoon.asgi`). Imports :mod:`typhoon._asgi_common`,
:mod:`typhoon.httputil`, :mod:`typhoon.wsproto` (close-code rules),
:mod:`typhoon.errors`, :mod:`typhoon.log` and the standard library. The application is
used through the ``HTTPServerConnectionDelegate`` interface (plus its ``startup`` and
``shutdown`` coroutines when it has them), so nothing here imports the web layer.

Each ASGI call plays the part of one connection of typhoon's own server. The request
head becomes the delegate's ``headers_received``, each ``http.request`` message a
``data_received`` (awaited when it returns an awaitable, so a streaming handler pushes
back on the ASGI server), and the end of the body its ``finish``. The response the
application writes through the request's connection becomes ASGI messages, sent in
order by one task per call; the futures the connection returns resolve when ``send``
returned, which carries the ASGI server's flow control back to the handler.

A WebSocket scope is offered to the application as an upgrade request. A 101 response
becomes ``websocket.accept``; any other response refuses the handshake (with
``websocket.http.response`` when the server supports it, else ``websocket.close``,
which servers answer with 403). After the accept, ``typhoon.websocket`` drives the
handler through :class:`ASGIWebSocketConnection`'s message interface: the ASGI server
owns the framing, so whole messages go in and out.
"""

from __future__ import annotations

__all__ = [
    "ASGIAdapter",
    "ASGIWebSocketConnection",
    "WebSocketReceiver",
    "asgi_app",
]

import asyncio
import base64
import collections
import http.client
import inspect
import os
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from typhoon._asgi_common import Message, Receive, Scope, Send
from typhoon.errors import ASGIError, HTTPInputError, HTTPOutputError, StreamClosedError
from typhoon.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from typhoon.log import app_log, gen_log

#: The largest request body accepted by default (as ``HTTPServer``'s ``max_body_size``).
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024
#: Seconds a WebSocket closed by the handler waits for the server's ``disconnect``.
CLOSE_TIMEOUT = 5.0

# Response fields the ASGI server writes itself: the framing (RFC 9112, section 6.1),
# and Date and Server, which describe the server and may appear only once (RFC 9110,
# sections 6.6.1 and 10.2.4); ASGI servers add their own.
_SERVER_FIELDS = frozenset({"transfer-encoding", "date", "server"})
# Handshake fields of a 101 that ASGI carries in ``websocket.accept`` keys, or that the
# server computes.
_HANDSHAKE_FIELDS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "content-length",
        "content-type",
        "date",
        "server",
    }
)


class _Context:
    """What a request learns about its "connection": ``remote_ip``, ``protocol``, ``address``."""

    __slots__ = ("address", "protocol", "remote_ip")

    def __init__(self, scope: Scope) -> None:
        client = scope.get("client")
        self.address: tuple[str, int] | None = (
            (str(client[0]), int(client[1] or 0)) if client else None
        )
        self.remote_ip: str | None = str(client[0]) if client else None
        self.protocol = "https" if scope.get("scheme") in ("https", "wss") else "http"

    def __str__(self) -> str:
        return self.remote_ip or "(unknown)"


def _request_head(scope: Scope, version: str) -> tuple[RequestStartLine, HTTPHeaders]:
    raw_path = scope.get("raw_path")
    if raw_path:
        target = bytes(raw_path).decode("latin-1")
    else:
        target = urllib.parse.quote(scope.get("path") or "/", safe="/%!$&'()*+,;=:@~")
    query = scope.get("query_string") or b""
    if query:
        target += "?" + bytes(query).decode("latin-1")
    headers = HTTPHeaders()
    for name, value in scope.get("headers") or ():
        headers.add(bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
    if "Host" not in headers:
        # HTTP/2 servers pass ":authority" as Host; without either, name the server.
        server = scope.get("server")
        if server:
            host, port = server[0], server[1]
            headers["Host"] = f"{host}:{port}" if port is not None else str(host)
    method = scope.get("method", "GET")
    return RequestStartLine(method, target, version), headers


async def _settle(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


class _Outbox:
    """ASGI messages waiting for ``send``, sent in order by one task.

    Each queued message may carry a future that resolves once ``send`` returned for it
    (and fails with :class:`StreamClosedError` when the server reports the client
    gone, or when an earlier send failed).
    """

    def __init__(self, send: Send, on_lost: Callable[[BaseException], None]) -> None:
        self._send = send
        self._on_lost = on_lost
        self._queue: collections.deque[tuple[Message, asyncio.Future[None]]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.Future[None] | None = None
        self.failure: BaseException | None = None

    def put(self, message: Message) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self.failure is not None:
            future.set_exception(StreamClosedError(self.failure))
            future.exception()
            return future
        self._queue.append((message, future))
        if self._task is None:
            self._task = loop.create_task(self._pump())
        return future

    def last_pending(self) -> tuple[Message, asyncio.Future[None]] | None:
        """The newest message not yet handed to ``send`` (it may still be changed), and
        its future."""
        return self._queue[-1] if self._queue else None

    async def _pump(self) -> None:
        queue = self._queue
        try:
            while queue:
                message, future = queue[0]
                try:
                    await self._send(message)
                except (OSError, ASGIError) as exc:
                    # The client is gone (ASGI 2.4: send raises an OSError), or the
                    # server refused the message.
                    self._fail(exc)
                    return
                queue.popleft()
                if not future.done():
                    future.set_result(None)
        finally:
            self._task = None
            idle = self._idle
            if idle is not None and not idle.done():
                idle.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(StreamClosedError(exc))
                future.exception()
        self._on_lost(exc)

    async def drain(self) -> None:
        """Wait until every queued message was sent (or sending failed)."""
        while self._task is not None:
            self._idle = asyncio.get_running_loop().create_future()
            await self._idle

    async def aclose(self) -> None:
        """Stop sending; messages still queued are dropped."""
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.cancel()


class _HTTPConnection(HTTPConnection):
    """The request connection of an ``http`` scope: the response becomes ASGI messages."""

    def __init__(self, send: Send, context: _Context) -> None:
        self.context = context
        self.outbox = _Outbox(send, self._lost)
        self.started = False
        self.complete = False
        self.lost = False
        self.status = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._close_callback: Callable[[], object] | None = None

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Queue ``http.response.start`` (and the first body piece)."""
        assert isinstance(start_line, ResponseStartLine)
        if self.started:
            raise HTTPOutputError("the response head was already written")
        code = start_line.code
        if code < 200:
            raise HTTPOutputError(f"an ASGI http scope cannot send a {code} response")
        self.started = True
        self.status = code
        fields = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.get_all()
            if name.lower() not in _SERVER_FIELDS
        ]
        self.outbox.put({"type": "http.response.start", "status": code, "headers": fields})
        return self.outbox.put(
            {"type": "http.response.body", "body": chunk or b"", "more_body": True}
        )

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Queue a piece of the body."""
        if not self.started or self.complete:
            raise HTTPOutputError("write() outside of a response")
        return self.outbox.put({"type": "http.response.body", "body": chunk, "more_body": True})

    def finish(self) -> asyncio.Future[None]:  # type: ignore[override]
        """Mark the response complete (the last queued body message says so)."""
        if not self.started:
            raise HTTPOutputError("finish() before the response head")
        if self.complete:
            return self.done
        self.complete = True
        self._close_callback = None
        pending = self.outbox.last_pending()
        if pending is not None and pending[0].get("type") == "http.response.body":
            # Not sent yet: it becomes the last body message.
            pending[0]["more_body"] = False
            last = pending[1]
        else:
            last = self.outbox.put({"type": "http.response.body", "body": b"", "more_body": False})
        last.add_done_callback(self._sent)
        return self.done

    def _sent(self, last: asyncio.Future[None]) -> None:
        if not last.cancelled():
            last.exception()
        if not self.done.done():
            self.done.set_result(None)

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` if the client leaves before the response is complete."""
        self._close_callback = None if self.complete else callback

    def close(self) -> None:
        """Give up on the response: the ASGI call ends and the server drops the client."""
        self.complete = True
        self._lost(StreamClosedError())

    def detach(self) -> Any:
        """Not possible under ASGI: the server owns the socket."""
        raise HTTPOutputError("an ASGI connection cannot be detached")

    def _lost(self, exc: BaseException) -> None:
        if self.lost:
            return
        self.lost = True
        callback, self._close_callback = self._close_callback, None
        if callback is not None:
            try:
                callback()
            except Exception:
                app_log.error("Exception in a connection close callback", exc_info=True)
        if not self.done.done():
            self.done.set_result(None)


class WebSocketReceiver(Protocol):
    """What :class:`ASGIWebSocketConnection` delivers incoming traffic to."""

    def on_asgi_message(self, data: str | bytes) -> Awaitable[None] | None:
        """A whole message arrived; an awaitable delays the next one until it is done."""

    def on_asgi_close(self, code: int | None, reason: str | None) -> None:
        """The connection ended (once); ``code`` and ``reason`` are the peer's, if known."""


class ASGIWebSocketConnection(HTTPConnection):
    """The connection of a WebSocket handshake that came through an ASGI server.

    Until the handshake is answered it is an ordinary request connection: writing a 101
    accepts (``websocket.accept``, with the ``Sec-WebSocket-Protocol`` the handler
    chose and its other headers); any other status refuses. Afterwards the handler's
    protocol object talks to it in whole messages: :meth:`attach`,
    :meth:`start_receiving`, :meth:`send_message`, :meth:`send_close`.
    """

    def __init__(self, send: Send, receive: Receive, context: _Context, scope: Scope) -> None:
        self.context = context
        self._receive = receive
        self._scope = scope
        self.outbox = _Outbox(send, self._lost)
        loop = asyncio.get_running_loop()
        #: Resolves with True once accepted, False once refused.
        self.decided: asyncio.Future[bool] = loop.create_future()
        self._ready: asyncio.Future[None] = loop.create_future()
        self._receiver: WebSocketReceiver | None = None
        self._close_callback: Callable[[], object] | None = None
        self._refusing = False
        self._refused_done = False
        self.close_sent = False
        self.closed = False

    # --- the handshake answer (HTTPConnection) ----------------------------------------

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        """Accept (a 101 response) or refuse (any other status) the handshake."""
        assert isinstance(start_line, ResponseStartLine)
        if self.decided.done():
            raise HTTPOutputError("the WebSocket handshake was already answered")
        code = start_line.code
        if code == 101:
            extra = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in headers.get_all()
                if name.lower() not in _HANDSHAKE_FIELDS
            ]
            message: Message = {"type": "websocket.accept", "headers": extra}
            subprotocol = headers.get("Sec-WebSocket-Protocol")
            if subprotocol is not None:
                message["subprotocol"] = subprotocol
            self.decided.set_result(True)
            return self.outbox.put(message)
        self.decided.set_result(False)
        extensions = self._scope.get("extensions") or {}
        if "websocket.http.response" not in extensions:
            # Without the extension the only refusal is a close, answered with 403.
            self._refused_done = True
            return self.outbox.put({"type": "websocket.close", "code": 1000})
        self._refusing = True
        fields = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.get_all()
            if name.lower() not in _SERVER_FIELDS
        ]
        self.outbox.put(
            {"type": "websocket.http.response.start", "status": code, "headers": fields}
        )
        return self.outbox.put(
            {"type": "websocket.http.response.body", "body": chunk or b"", "more_body": True}
        )

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """A piece of a refusal's body."""
        if not self._refusing or self._refused_done:
            raise HTTPOutputError("no HTTP response body on this WebSocket connection")
        return self.outbox.put(
            {"type": "websocket.http.response.body", "body": chunk, "more_body": True}
        )

    def finish(self) -> asyncio.Future[None]:  # type: ignore[override]
        """End the handshake answer."""
        self._close_callback = None
        if self._refusing and not self._refused_done:
            self._refused_done = True
            pending = self.outbox.last_pending()
            if pending is not None and pending[0].get("type") == "websocket.http.response.body":
                pending[0]["more_body"] = False
            else:
                self.outbox.put(
                    {"type": "websocket.http.response.body", "body": b"", "more_body": False}
                )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` if the client leaves before the handshake is answered."""
        self._close_callback = callback

    def detach(self) -> Any:
        """Not possible under ASGI: use the message interface after the accept."""
        raise HTTPOutputError("an ASGI WebSocket connection cannot be detached")

    # --- the message interface (after the accept) ---------------------------------

    def attach(self, receiver: WebSocketReceiver) -> None:
        """Name the object that gets the incoming messages and the close."""
        self._receiver = receiver

    def start_receiving(self) -> None:
        """Begin delivering messages (the handler's ``open`` is done)."""
        if not self._ready.done():
            self._ready.set_result(None)

    def send_message(self, data: str | bytes) -> asyncio.Future[None]:
        """Queue a text (``str``) or binary (``bytes``) message.

        Raises:
            StreamClosedError: the connection is closing or closed.
        """
        if self.close_sent or self.closed:
            raise StreamClosedError()
        if isinstance(data, str):
            return self.outbox.put({"type": "websocket.send", "text": data})
        return self.outbox.put({"type": "websocket.send", "bytes": data})

    def send_close(self, code: int, reason: str) -> None:
        """Queue ``websocket.close``; the server runs the closing handshake."""
        if self.close_sent or self.closed:
            return
        self.close_sent = True
        self.outbox.put({"type": "websocket.close", "code": code, "reason": reason})

    def close(self) -> None:
        """End the connection now: the ASGI call returns and the server drops it."""
        self._lost(StreamClosedError())

    def _lost(self, exc: BaseException) -> None:
        if self.closed:
            return
        callback, self._close_callback = self._close_callback, None
        if callback is not None and not self.decided.done():
            try:
                callback()
            except Exception:
                app_log.error("Exception in a connection close callback", exc_info=True)
        self._closed(None, None)

    def _closed(self, code: int | None, reason: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        if not self._ready.done():
            self._ready.set_result(None)
        receiver = self._receiver
        if receiver is not None:
            try:
                receiver.on_asgi_close(code, reason)
            except Exception:
                app_log.error("Exception in the WebSocket close callback", exc_info=True)

    async def run(self) -> None:
        """Serve the connection until it ends (called by the adapter once per scope)."""
        try:
            accepted = await self.decided
            if not accepted:
                await self.outbox.drain()
                return
            await self._ready
            while not self.closed:
                if self.close_sent:
                    try:
                        async with asyncio.timeout(CLOSE_TIMEOUT):
                            message = await self._receive()
                    except TimeoutError:
                        gen_log.info("ASGI server did not report the WebSocket close in time")
                        self._closed(None, None)
                        break
                else:
                    message = await self._receive()
                kind = message.get("type")
                if kind == "websocket.receive":
                    text = message.get("text")
                    data: str | bytes = (
                        text if text is not None else bytes(message.get("bytes") or b"")
                    )
                    receiver = self._receiver
                    if receiver is not None:
                        await _settle(receiver.on_asgi_message(data))
                elif kind == "websocket.disconnect":
                    code = message.get("code")
                    reason = message.get("reason")
                    self._closed(
                        int(code) if code is not None else None, str(reason) if reason else None
                    )
            await self.outbox.drain()
        finally:
            await self.outbox.aclose()


class ASGIAdapter:
    """An ASGI 3 application serving a typhoon ``Application`` (see :func:`asgi_app`)."""

    def __init__(
        self,
        application: HTTPServerConnectionDelegate,
        *,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.application = application
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI scope: ``http``, ``websocket`` or ``lifespan``."""
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ASGIError(f"unsupported ASGI scope type {kind!r}")

    # --- lifespan ---------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                step, done = "startup", "lifespan.startup.complete"
            elif kind == "lifespan.shutdown":
                step, done = "shutdown", "lifespan.shutdown.complete"
            else:
                raise ASGIError(f"unexpected lifespan message {kind!r}")
            method = getattr(self.application, step, None)
            try:
                if method is not None:
                    result = method()
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                app_log.error("Application %s failed", step, exc_info=True)
                await send({"type": f"lifespan.{step}.failed", "message": repr(exc)})
                return
            await send({"type": done})
            if step == "shutdown":
                return

    # --- http -----------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = "HTTP/" + str(scope.get("http_version") or "1.1")
        start_line, headers = _request_head(scope, version)
        context = _Context(scope)
        connection = _HTTPConnection(send, context)
        limit = self.max_body_size
        declared = headers.get("Content-Length")
        if (
            limit is not None
            and declared is not None
            and declared.isdigit()
            and int(declared) > limit
        ):
            # RFC 9110, section 15.5.14: refuse before reading a body this large.
            await self._plain_error(connection, 413)
            return
        delegate = self.application.start_request(connection, connection)
        try:
            try:
                await _settle(delegate.headers_received(start_line, headers))
                received = 0
                while True:
                    message = await receive()
                    kind = message.get("type")
                    if kind == "http.disconnect":
                        delegate.on_connection_close()
                        connection._lost(StreamClosedError())
                        return
                    if kind != "http.request":
                        continue
                    body = message.get("body") or b""
                    if body:
                        received += len(body)
                        if limit is not None and received > limit:
                            delegate.on_connection_close()
                            await self._plain_error(connection, 413)
                            return
                        await _settle(delegate.data_received(bytes(body)))
                    if not message.get("more_body", False):
                        delegate.finish()
                        break
            except HTTPInputError as exc:
                gen_log.info("Malformed request from %s: %s", context, exc)
                delegate.on_connection_close()
                await self._plain_error(connection, exc.status_code)
                return
            await self._wait_for_response(connection, receive)
        finally:
            await connection.outbox.aclose()
            try:
                self.application.on_close(connection)
            except Exception:
                app_log.error("Exception in on_close", exc_info=True)

    async def _wait_for_response(self, connection: _HTTPConnection, receive: Receive) -> None:
        """Wait until the response is sent, noticing a client that leaves meanwhile."""
        if connection.complete or connection.done.done():
            # Nothing left but sending: a client that left makes a send fail.
            await connection.outbox.drain()
            return
        listener = asyncio.ensure_future(receive())
        try:
            waiting: set[asyncio.Future[Any]] = {listener, connection.done}
            while not connection.done.done():
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if listener.done() and not connection.done.done():
                    if listener.result().get("type") == "http.disconnect":
                        connection._lost(StreamClosedError())
                        break
                    listener = asyncio.ensure_future(receive())
                    waiting = {listener, connection.done}
            await connection.outbox.drain()
        finally:
            if not listener.done():
                listener.cancel()
                await asyncio.wait({listener})

    async def _plain_error(self, connection: _HTTPConnection, status: int) -> None:
        if connection.started:
            connection.close()
            return
        body = f"{status}: {http.client.responses.get(status, 'Error')}".encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = str(len(body))
        connection.write_headers(ResponseStartLine("HTTP/1.1", status, ""), headers, body)
        connection.finish()
        await connection.outbox.drain()

    # --- websocket ------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message.get("type") != "websocket.connect":
            return
        # The ASGI server validated the handshake (on HTTP/1.1 or HTTP/2); the handler
        # sees it as the HTTP/1.1 upgrade it would get from typhoon's own server.
        start_line, headers = _request_head(scope, "HTTP/1.1")
        start_line = start_line._replace(method="GET")
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Version"] = "13"
        if "Sec-WebSocket-Key" not in headers:
            headers["Sec-WebSocket-Key"] = base64.b64encode(os.urandom(16)).decode("ascii")
        if "Sec-WebSocket-Extensions" in headers:
            # Compression is the ASGI server's business, negotiated before we ran.
            del headers["Sec-WebSocket-Extensions"]
        context = _Context(scope)
        connection = ASGIWebSocketConnection(send, receive, context, scope)
        delegate: HTTPMessageDelegate = self.application.start_request(connection, connection)
        try:
            await _settle(delegate.headers_received(start_line, headers))
            delegate.finish()
            await connection.run()
        finally:
            try:
                self.application.on_close(connection)
            except Exception:
                app_log.error("Exception in on_close", exc_info=True)


def asgi_app(
    application: HTTPServerConnectionDelegate,
    *,
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
) -> ASGIAdapter:
    """Expose a typhoon ``Application`` as an ASGI 3 application.

    Run it under any ASGI server, for example ``uvicorn module:app`` with
    ``app = asgi_app(Application([...]))``. HTTP requests are routed and run as by
    typhoon's own server (streaming request bodies included); ``WebSocketHandler``
    endpoints work over the server's WebSocket support; the ``lifespan`` protocol runs
    the application's ``startup`` and ``shutdown`` (the plugins' hooks).

    ``max_body_size`` bounds request bodies (413 beyond it), like
    ``HTTPServer(max_body_size=...)``; ``None`` removes the limit.

    Differences from typhoon's server: framing, keep-alive, timeouts, TLS and
    WebSocket compression and pings are the ASGI server's; the reason phrase of a
    response is not carried by ASGI; ``WebSocketHandler.ping`` sends nothing and
    ``on_pong`` is never called (the server keeps the connection alive itself).
    """
    return ASGIAdapter(application, max_body_size=max_body_size)
