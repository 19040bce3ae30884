"""typhoon.asgi both ways, over loopback sockets.

* ``ASGIContainer``: a real Starlette application (HTTP, WebSocket, lifespan) mounted in
  a typhoon ``Application``, driven by typhoon's HTTP client, ``requests``, the
  ``websockets`` library and raw sockets; hand-written ASGI applications for the error
  paths.
* ``asgi_app``: a typhoon ``Application`` (``WebSocketHandler`` included) served by
  uvicorn, in process and in a subprocess, driven by the same clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import typhoon
import uvicorn
import websockets
from _asgi_app import EchoBase, routes
from _asgi_echo import chat_with_echo, check_routes, check_streamed_upload
from _httphelpers import WAIT, RawClient, get, run_in_thread, serve
from _websocket_net import RawClient as RawWebSocket
from _wshelpers import raw_frame
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from typhoon.asgi import ASGIContainer, ASGIError, Message, Receive, Scope, Send, asgi_app
from typhoon.errors import PluginError
from typhoon.httpclient import AsyncHTTPClient, HTTPRequest
from typhoon.netutil import bind_sockets
from typhoon.web import Application, FallbackHandler, RequestHandler
from typhoon.websocket import websocket_connect

# --- a Starlette application ----------------------------------------------------------------


class Record:
    """What the Starlette application saw, and a gate its streaming route waits on."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.gate = asyncio.Event()
        self.disconnected: asyncio.Future[int] = asyncio.get_running_loop().create_future()


def make_starlette(record: Record) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        record.events.append("startup")
        yield {"greeting": "hello from the lifespan"}
        record.events.append("shutdown")

    async def hello(request: Request) -> Response:
        return PlainTextResponse(request.state.greeting)

    async def upload(request: Request) -> Response:
        pieces = size = 0
        digest = hashlib.sha256()
        async for chunk in request.stream():
            if chunk:
                pieces += 1
                size += len(chunk)
                digest.update(chunk)
        return JSONResponse({"pieces": pieces, "size": size, "sha256": digest.hexdigest()})

    async def form(request: Request) -> Response:
        # (Starlette's own form parser needs an extra package; the body is what matters.)
        fields = urllib.parse.parse_qsl((await request.body()).decode())
        return JSONResponse({"form": dict(fields), "query": dict(request.query_params)})

    async def show_scope(request: Request) -> Response:
        scope = request.scope
        return JSONResponse(
            {
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode("latin-1"),
                "query_string": scope["query_string"].decode("latin-1"),
                "root_path": scope["root_path"],
                "client": scope["client"],
                "server": scope["server"],
                "scheme": scope["scheme"],
                "http_version": scope["http_version"],
                "method": scope["method"],
                "asgi": scope["asgi"],
                "custom": request.headers.get("x-custom"),
            }
        )

    async def stream(request: Request) -> Response:
        async def pieces() -> AsyncIterator[bytes]:
            yield b"first\n"
            await record.gate.wait()
            yield b"second\n"

        return StreamingResponse(pieces(), media_type="text/plain")

    async def echo(websocket: WebSocket) -> None:
        offered = websocket.scope["subprotocols"]
        await websocket.accept(subprotocol=offered[0] if offered else None)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                record.events.append(("disconnect", message.get("code")))
                if not record.disconnected.done():
                    record.disconnected.set_result(message.get("code"))
                return
            text = message.get("text")
            if text == "close-me":
                await websocket.close(code=4001, reason="asked to")
                return
            if text is not None:
                await websocket.send_text("echo:" + text)
            else:
                await websocket.send_bytes(message["bytes"][::-1])

    async def refuse(websocket: WebSocket) -> None:
        await websocket.close()

    async def deny(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("go away", status_code=401))

    return Starlette(
        routes=[
            Route("/asgi/hello", hello),
            Route("/asgi/upload", upload, methods=["POST"]),
            Route("/asgi/form", form, methods=["POST"]),
            Route("/asgi/scope/{rest:path}", show_scope, methods=["GET", "DELETE"]),
            Route("/asgi/stream", stream),
            WebSocketRoute("/asgi/ws", echo),
            WebSocketRoute("/asgi/refuse", refuse),
            WebSocketRoute("/asgi/deny", deny),
        ],
        lifespan=lifespan,
    )


class Native(RequestHandler):
    def get(self) -> None:
        self.write("typhoon handler")


@contextlib.asynccontextmanager
async def starlette_in_typhoon(
    mount: str = "rule", **options: Any
) -> AsyncIterator[tuple[int, Record, Application]]:
    """Starlette mounted in a typhoon Application (lifespan tied to it), on loopback."""
    record = Record()
    container = ASGIContainer(make_starlette(record), **options)
    target: Any = (
        (r"/asgi/.*", container)
        if mount == "rule"
        else (r"/asgi/.*", FallbackHandler, {"fallback": container})
    )
    application = Application(
        [(r"/native", Native), target], plugins=[container], load_entrypoints=False
    )
    await application.startup()
    try:
        async with serve(application) as (_, port):
            yield port, record, application
    finally:
        record.gate.set()
        await application.shutdown()


@contextlib.asynccontextmanager
async def http_client() -> AsyncIterator[AsyncHTTPClient]:
    client = AsyncHTTPClient(force_instance=True)
    try:
        yield client
    finally:
        client.close()


# --- ASGIContainer: HTTP ----------------------------------------------------------------------


@pytest.mark.parametrize("mount", ["rule", "fallback"])
async def test_starlette_routes_lifespan_state_and_native_handlers(mount: str) -> None:
    async with starlette_in_typhoon(mount) as (port, record, _), http_client() as client:
        assert record.events == ["startup"]
        hello = await client.fetch(f"http://127.0.0.1:{port}/asgi/hello")
        assert hello.body == b"hello from the lifespan"
        assert hello.headers["Content-Length"] == str(len(hello.body))
        assert hello.headers["Content-Type"] == "text/plain; charset=utf-8"
        native = await client.fetch(f"http://127.0.0.1:{port}/native")
        assert native.body == b"typhoon handler"
        missing = await client.fetch(f"http://127.0.0.1:{port}/asgi/nothing", raise_error=False)
        assert missing.code == 404
        assert missing.body == b"Not Found"
    assert record.events == ["startup", "shutdown"]


@pytest.mark.parametrize(("mount", "streamed"), [("rule", True), ("fallback", False)])
async def test_request_body_reaches_the_application(mount: str, streamed: bool) -> None:
    body = bytes(range(256)) * (16 * 1024)  # 4 MiB
    async with starlette_in_typhoon(mount) as (port, _, _), http_client() as client:
        response = await client.fetch(
            f"http://127.0.0.1:{port}/asgi/upload",
            method="POST",
            body=body,
            headers={"Content-Type": "application/octet-stream"},
        )
    data = json.loads(response.body)
    assert data["size"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    if streamed:
        # As a routing target the body reaches the application as the server reads it.
        assert data["pieces"] > 1
    else:
        # Behind FallbackHandler the request was read whole first.
        assert data["pieces"] == 1


async def test_form_and_query_through_requests() -> None:
    async with starlette_in_typhoon() as (port, _, _):
        response = await run_in_thread(
            requests.post, f"http://127.0.0.1:{port}/asgi/form?x=1", data={"a": "b c"}
        )
    assert response.json() == {"form": {"a": "b c"}, "query": {"x": "1"}}


async def test_http_scope_fields() -> None:
    async with starlette_in_typhoon(root_path="/mounted") as (port, _, _):
        client = await RawClient.connect(port)
        try:
            response = await client.request(
                get("/asgi/scope/caf%C3%A9%20x?q=%20&r=1", extra="X-Custom: yes\r\n")
            )
            local_port = client.writer.get_extra_info("sockname")[1]
        finally:
            await client.close()
    data = response.json()
    assert data["path"] == "/asgi/scope/café x"
    assert data["raw_path"] == "/asgi/scope/caf%C3%A9%20x"
    assert data["query_string"] == "q=%20&r=1"
    assert data["root_path"] == "/mounted"
    assert data["client"] == ["127.0.0.1", local_port]
    assert data["server"] == ["127.0.0.1", port]
    assert data["scheme"] == "http"
    assert data["http_version"] == "1.1"
    assert data["method"] == "GET"
    assert data["asgi"]["version"] == "3.0"
    assert data["custom"] == "yes"


async def test_streaming_response_streams() -> None:
    async with starlette_in_typhoon() as (port, record, _), http_client() as client:
        received: list[bytes] = []
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_chunk(chunk: bytes) -> None:
            received.append(chunk)
            if not first.done():
                first.set_result(None)

        fetch = asyncio.ensure_future(
            client.fetch(
                HTTPRequest(f"http://127.0.0.1:{port}/asgi/stream", streaming_callback=on_chunk)
            )
        )
        await asyncio.wait_for(first, WAIT)
        # The first piece arrived while the application waits for the gate.
        assert b"".join(received) == b"first\n"
        record.gate.set()
        response = await asyncio.wait_for(fetch, WAIT)
    assert b"".join(received) == b"first\nsecond\n"
    assert response.headers["Transfer-Encoding"] == "chunked"


# --- ASGIContainer: WebSocket -----------------------------------------------------------------


async def test_websocket_echo_subprotocol_and_close_codes() -> None:
    async with starlette_in_typhoon() as (port, record, _):
        url = f"ws://127.0.0.1:{port}/asgi/ws"
        async with websockets.connect(url, subprotocols=["chat", "other"]) as ws:
            assert ws.subprotocol == "chat"
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "echo:hello"
            await ws.send(b"\x01\x02\x03")
            assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x03\x02\x01"
            await ws.close(code=4000, reason="client done")
        assert await asyncio.wait_for(record.disconnected, WAIT) == 4000
        # The application closes with a code and reason of its own.
        async with websockets.connect(url) as ws:
            await ws.send("close-me")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4001
        assert closed.value.rcvd.reason == "asked to"


async def test_websocket_refusals() -> None:
    async with starlette_in_typhoon() as (port, _, _):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://127.0.0.1:{port}/asgi/refuse"):
                pass
        assert refused.value.response.status_code == 403
        with pytest.raises(websockets.InvalidStatus) as denied:
            async with websockets.connect(f"ws://127.0.0.1:{port}/asgi/deny"):
                pass
        assert denied.value.response.status_code == 401
        assert denied.value.response.body == b"go away"


async def test_websocket_bad_handshake_never_reaches_the_application() -> None:
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    container = ASGIContainer(app, lifespan="off")
    async with serve(container) as (_, port):
        raw = await RawWebSocket.connect(port)
        try:
            status, _ = await raw.handshake("/", key="too-short")
            assert status == 400
        finally:
            await raw.aclose()
        raw = await RawWebSocket.connect(port)
        try:
            status, headers = await raw.request(
                b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
            )
            assert status == 426
            assert headers["sec-websocket-version"] == "13"
        finally:
            await raw.aclose()
    assert called == []


async def test_websocket_strict_rfc_6455_under_the_application() -> None:
    async with starlette_in_typhoon() as (port, record, _):
        raw = await RawWebSocket.connect(port)
        try:
            status, _ = await raw.handshake("/asgi/ws")
            assert status == 101
            # RFC 6455, section 5.1: a client frame must be masked.
            raw.send(raw_frame(0x1, b"unmasked", mask=None))
            await raw.expect_close(1002)
        finally:
            await raw.aclose()
        assert await asyncio.wait_for(record.disconnected, WAIT) == 1002


async def test_websocket_compression_when_enabled() -> None:
    options: dict[str, Any] = {"websocket_compression_options": {}}
    async with (
        starlette_in_typhoon(**options) as (port, _, _),
        websockets.connect(f"ws://127.0.0.1:{port}/asgi/ws") as ws,
    ):
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        text = "compressible " * 5000
        await ws.send(text)
        assert await asyncio.wait_for(ws.recv(), WAIT) == "echo:" + text


async def test_websocket_message_size_limit() -> None:
    async with starlette_in_typhoon(websocket_max_message_size=1000) as (port, record, _):
        async with websockets.connect(f"ws://127.0.0.1:{port}/asgi/ws") as ws:
            await ws.send("x" * 2000)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        assert await asyncio.wait_for(record.disconnected, WAIT) == 1009


async def test_shutdown_closes_websockets_with_going_away() -> None:
    record = Record()
    container = ASGIContainer(make_starlette(record), shutdown_timeout=2.0)
    application = Application(
        [(r"/asgi/.*", container)], plugins=[container], load_entrypoints=False
    )
    await application.startup()
    async with (
        serve(application) as (_, port),
        websockets.connect(f"ws://127.0.0.1:{port}/asgi/ws") as ws,
    ):
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "echo:ping"
        await asyncio.wait_for(application.shutdown(), WAIT)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    assert record.events[-2:] == [("disconnect", 1001), "shutdown"]


# --- ASGIContainer: hand-written applications for the error paths ----------------------------


def asgi(handler: Any) -> ASGIContainer:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await handler(scope, receive, send)

    return ASGIContainer(app, lifespan="off")


async def start(send: Send, status: int = 200, headers: list[Any] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})


async def test_failures_before_the_response_answer_500(caplog: pytest.LogCaptureFixture) -> None:
    async def raises(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("application bug")

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    async def bad_header(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send, 200, [(b"x-bad", b"a\r\ninjected: yes")])

    async def body_first(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.body", "body": b"x"})

    async def twice(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send)
        await start(send)

    async def informational(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send, 103)

    cases = [
        (raises, "application bug"),
        (silent, "without completing"),
        (bad_header, "invalid characters"),
        (body_first, "before http.response.start"),
        (twice, "sent twice"),
        (informational, "from 200 to 599"),
    ]
    for handler, message in cases:
        caplog.clear()
        async with serve(asgi(handler)) as (_, port):
            client = await RawClient.connect(port)
            try:
                response = await client.request(get("/"))
            finally:
                await client.close()
        assert response.status == 500, message
        assert response.body == b"Internal Server Error"
        assert all(name.lower() != "injected" for name, _ in response.headers)
        assert message in caplog.text


async def test_failure_after_the_head_cuts_the_response() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("mid-stream failure")

    async with serve(asgi(app)) as (_, port):
        client = await RawClient.connect(port)
        try:
            await client.send(get("/"))
            raw = await client.read_to_end()
        finally:
            await client.close()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"partial" in raw
    assert not raw.endswith(b"0\r\n\r\n")


async def test_send_after_complete_and_sized_single_body() -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await start(send, 201, [(b"content-type", b"text/plain")])
        await send({"type": "http.response.body", "body": b"done"})
        try:
            await send({"type": "http.response.body", "body": b"more"})
        except ASGIError as exc:
            errors.append(exc)

    async with serve(asgi(app)) as (_, port):
        client = await RawClient.connect(port)
        try:
            response = await client.request(get("/"))
        finally:
            await client.close()
    assert response.status == 201
    assert response.header("Content-Length") == "4"
    assert response.body == b"done"
    for _ in range(50):
        if errors:
            break
        await asyncio.sleep(0.01)
    assert errors
    assert "after the response" in str(errors[0])


async def test_disconnect_reaches_a_waiting_application() -> None:
    received: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    waiting = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        assert first == {"type": "http.request", "body": b"", "more_body": False}
        waiting.set()
        received.set_result(await receive())

    async with serve(asgi(app)) as (_, port):
        client = await RawClient.connect(port)
        await client.send(get("/"))
        await asyncio.wait_for(waiting.wait(), WAIT)
        await client.close()
        assert await asyncio.wait_for(received, WAIT) == {"type": "http.disconnect"}


# --- ASGIContainer: lifespan -----------------------------------------------------------------


async def test_lifespan_startup_failure_stops_the_application() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    container = ASGIContainer(app)
    application = Application([], plugins=[container], load_entrypoints=False)
    with pytest.raises(PluginError) as failed:
        await application.startup()
    assert isinstance(failed.value.__cause__, ASGIError)
    assert "no database" in str(failed.value.__cause__)


async def test_lifespan_auto_on_and_off() -> None:
    seen: list[str] = []

    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        if scope["type"] != "http":
            raise ValueError("only http here")
        await receive()
        await start(send)
        await send({"type": "http.response.body", "body": b"fine"})

    auto = ASGIContainer(http_only)
    await auto.startup()  # "auto": goes on without lifespan
    async with serve(auto) as (_, port):
        client = await RawClient.connect(port)
        try:
            assert (await client.request(get("/"))).body == b"fine"
        finally:
            await client.close()
    await auto.shutdown()
    assert seen == ["lifespan", "http"]
    with pytest.raises(ASGIError, match="does not support"):
        await ASGIContainer(http_only, lifespan="on").startup()
    seen.clear()
    off = ASGIContainer(http_only, lifespan="off")
    await off.startup()
    await off.shutdown()
    assert seen == []


async def test_lifespan_state_is_copied_per_request() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["counter"] = 0
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope["state"]["counter"] += 1
        await receive()
        await start(send)
        await send({"type": "http.response.body", "body": str(scope["state"]["counter"]).encode()})

    container = ASGIContainer(app)
    await container.startup()
    try:
        async with serve(container) as (_, port):
            client = await RawClient.connect(port)
            try:
                assert (await client.request(get("/"))).body == b"1"
                assert (await client.request(get("/"))).body == b"1"
            finally:
                await client.close()
    finally:
        await container.shutdown()
    assert container.state == {"counter": 0}


# --- asgi_app: a typhoon Application under uvicorn ------------------------------------------


class Echo(EchoBase):
    instances: ClassVar[list[Echo]] = []
    closed: ClassVar[asyncio.Future[tuple[int | None, str | None]] | None] = None

    def open(self) -> None:
        Echo.instances.append(self)
        self.set_nodelay(True)

    def on_close(self) -> None:
        closed = Echo.closed
        if closed is not None and not closed.done():
            closed.set_result((self.close_code, self.close_reason))


class Events:
    """A plugin recording the application's lifecycle hooks."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @typhoon.hookimpl
    async def startup(self, app: Any) -> None:
        self.calls.append("startup")

    @typhoon.hookimpl
    async def shutdown(self, app: Any) -> None:
        self.calls.append("shutdown")


def typhoon_app(events: Events) -> Application:
    return Application(routes(Echo), plugins=[events], load_entrypoints=False)


@contextlib.asynccontextmanager
async def under_uvicorn(app: Any, **adapter: Any) -> AsyncIterator[int]:
    """Serve ``asgi_app(app)`` with uvicorn on this event loop; yield the port."""
    [sock] = bind_sockets(0, "127.0.0.1")
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(asgi_app(app, **adapter), log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        for _ in range(int(WAIT / 0.01)):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)
        sock.close()


async def test_http_under_uvicorn() -> None:
    events = Events()
    async with under_uvicorn(typhoon_app(events)) as port, http_client() as client:
        assert events.calls == ["startup"]
        response = await client.fetch(f"http://127.0.0.1:{port}/info?q=x%20y")
        data = json.loads(response.body)
        assert data["path"] == "/info"
        assert data["query"] == "x y"
        assert data["remote_ip"] == "127.0.0.1"
        assert data["protocol"] == "http"
        assert data["host"] == f"127.0.0.1:{port}"
        assert data["version"] == "HTTP/1.1"
        assert response.headers.get_list("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
        # Date and Server come from uvicorn, once each.
        assert len(response.headers.get_list("Date")) == 1
        assert response.headers.get_list("Server") == ["uvicorn"]
        await check_routes(f"http://127.0.0.1:{port}", client)
    assert events.calls == ["startup", "shutdown"]


async def test_streamed_request_body_and_size_limit_under_uvicorn() -> None:
    async with under_uvicorn(typhoon_app(Events())) as port, http_client() as client:
        await check_streamed_upload(f"http://127.0.0.1:{port}", client)
    async with under_uvicorn(typhoon_app(Events()), max_body_size=1000) as port:
        too_big = await run_in_thread(
            requests.put, f"http://127.0.0.1:{port}/upload", data=b"x" * 5000
        )
        assert too_big.status_code == 413


async def test_lifespan_protocol_of_the_adapter() -> None:
    """The lifespan conversation an ASGI server has with asgi_app, message by message."""

    class Broken:
        @typhoon.hookimpl
        def startup(self, app: Any) -> None:
            raise RuntimeError("cannot start")

    async def converse(application: Application, messages: list[str]) -> list[Message]:
        incoming: list[Message] = [{"type": kind} for kind in messages]
        sent: list[Message] = []

        async def receive() -> Message:
            return incoming.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        await asyncio.wait_for(asgi_app(application)(scope, receive, send), WAIT)
        return sent

    events = Events()
    working = Application([], plugins=[events], load_entrypoints=False)
    sent = await converse(working, ["lifespan.startup", "lifespan.shutdown"])
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert events.calls == ["startup", "shutdown"]
    broken = Application([], plugins=[Broken()], load_entrypoints=False)
    [failed] = await converse(broken, ["lifespan.startup"])
    assert failed["type"] == "lifespan.startup.failed"
    assert "cannot start" in failed["message"]


async def test_websocket_handler_under_uvicorn() -> None:
    Echo.instances.clear()
    Echo.closed = asyncio.get_running_loop().create_future()
    async with under_uvicorn(typhoon_app(Events())) as port:
        url = f"ws://127.0.0.1:{port}/ws"
        await chat_with_echo(url)
        assert await asyncio.wait_for(Echo.closed, WAIT) == (4000, "client leaving")
        [handler] = Echo.instances
        assert handler.ws_connection is None
        assert handler.selected_subprotocol == "chat"


async def test_websocket_handler_closes_and_fails_under_uvicorn() -> None:
    async with under_uvicorn(typhoon_app(Events())) as port:
        url = f"ws://127.0.0.1:{port}/ws"
        Echo.closed = asyncio.get_running_loop().create_future()
        async with websockets.connect(url) as ws:
            await ws.send("bye")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")
        await asyncio.wait_for(Echo.closed, WAIT)
        async with websockets.connect(url) as ws:
            await ws.send("fail")
            with pytest.raises(websockets.ConnectionClosed) as failed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert failed.value.rcvd is not None
        assert failed.value.rcvd.code == 1011


async def test_websocket_refusals_under_uvicorn() -> None:
    async with under_uvicorn(typhoon_app(Events())) as port:
        # A cross-origin page is refused by check_origin.
        with pytest.raises(websockets.InvalidStatus) as cross:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws", origin=websockets.Origin("http://evil.example")
            ):
                pass
        assert cross.value.response.status_code == 403
        # A path without a WebSocket handler answers its own status.
        with pytest.raises(websockets.InvalidStatus) as missing:
            async with websockets.connect(f"ws://127.0.0.1:{port}/missing"):
                pass
        assert missing.value.response.status_code == 404


async def test_typhoon_client_against_typhoon_handler_under_uvicorn() -> None:
    async with under_uvicorn(typhoon_app(Events())) as port:
        connection = await asyncio.wait_for(
            websocket_connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["x"]), WAIT
        )
        try:
            assert connection.selected_subprotocol == "x"
            await connection.write_message("round trip")
            assert await asyncio.wait_for(connection.read_message(), WAIT) == "echo:round trip"
        finally:
            connection.close()
        assert await asyncio.wait_for(connection.read_message(), WAIT) is None


_SERVED_MODULE = """
from typhoon.asgi import asgi_app
from typhoon.web import Application, RequestHandler
from typhoon.websocket import WebSocketHandler


class Hello(RequestHandler):
    def get(self):
        self.write("hello from a uvicorn process")


class Echo(WebSocketHandler):
    def on_message(self, message):
        self.write_message(message)


app = asgi_app(Application([(r"/", Hello), (r"/ws", Echo)], load_entrypoints=False))
"""


async def test_uvicorn_subprocess(tmp_path: Path) -> None:
    (tmp_path / "served_app.py").write_text(textwrap.dedent(_SERVED_MODULE))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(tmp_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "on",
        "--log-level",
        "warning",
        "served_app:app",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * WAIT
        async with http_client() as client:
            while loop.time() < deadline and process.poll() is None:
                try:
                    response = await client.fetch(f"http://127.0.0.1:{port}/")
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                body = response.body
                break
        assert body == b"hello from a uvicorn process", process.poll()
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send("across processes")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "across processes"
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), WAIT)
        except TimeoutError:
            process.kill()
            await asyncio.to_thread(process.wait)
        assert process.stderr is not None
        errors = process.stderr.read().decode(errors="replace")
        process.stderr.close()
    assert "Traceback" not in errors, errors


async def test_unknown_scope_type_is_refused() -> None:
    adapter = asgi_app(Application([], load_entrypoints=False))

    async def receive() -> Message:
        return {}

    async def send(message: Message) -> None:
        return None

    with pytest.raises(ASGIError, match="unsupported ASGI scope type"):
        await adapter({"type": "telepathy"}, receive, send)


async def test_disconnect_is_noticed_under_uvicorn() -> None:
    """A client that leaves while its handler waits makes on_connection_close run."""
    left: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    entered = asyncio.Event()

    class LongPoll(RequestHandler):
        async def get(self) -> None:
            entered.set()
            await asyncio.sleep(WAIT)

        def on_connection_close(self) -> None:
            if not left.done():
                left.set_result(None)

    application = Application([(r"/poll", LongPoll)], load_entrypoints=False)
    async with under_uvicorn(application) as port:
        client = await RawClient.connect(port)
        await client.send(get("/poll"))
        await asyncio.wait_for(entered.wait(), WAIT)
        await client.close()
        await asyncio.wait_for(left, WAIT)
