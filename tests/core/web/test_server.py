"""Applications behind the real HTTP server, over loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
from http import HTTPStatus
from typing import Any

from typhoon import hookimpl
from typhoon.httpserver import HTTPServer
from typhoon.netutil import bind_sockets
from typhoon.web import Application, RequestHandler, stream_request_body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def exchange(port: int, raw: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw request bytes, read until the server closes the connection."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        await writer.wait_closed()


def split_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class Json(RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0)
        self.write({"message": "Hello, world"})


class Form(RequestHandler):
    def post(self) -> None:
        upload = self.request.files["doc"][0]
        self.write(
            {
                "name": self.get_body_argument("name"),
                "file": upload.filename,
                "size": len(upload.body),
            }
        )


class Chunks(RequestHandler):
    async def get(self) -> None:
        for part in ("a", "b", "c"):
            self.write(part * 3)
            await self.flush()


def serve(app: Application) -> tuple[HTTPServer, int]:
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


def make_app(**settings: Any) -> Application:
    return Application(
        [("/", Hello), ("/json", Json), ("/form", Form), ("/chunks", Chunks)],
        load_entrypoints=False,
        **settings,
    )


async def test_hello_and_json_over_one_keep_alive_connection() -> None:
    server, port = serve(make_app())
    try:
        raw = (
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        data = await exchange(port, raw)
        first, _, second = data.partition(b"Hello, world")
        status, headers, _ = split_response(first)
        assert (status, headers["content-length"]) == (200, "12")
        status, headers, body = split_response(second)
        assert status == 200
        assert headers["content-type"] == "application/json; charset=UTF-8"
        assert body == b'{"message": "Hello, world"}'
    finally:
        server.stop()
        await server.close_all_connections()


async def test_multipart_upload_and_chunked_response() -> None:
    server, port = serve(make_app())
    try:
        body = (
            b'--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\nreport\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="doc"; filename="r.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n" + b"x" * 1000 + b"\r\n--XX--\r\n"
        )
        raw = (
            b"POST /form HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=XX\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        status, _, response = split_response(await exchange(port, raw))
        assert status == 200
        assert response == b'{"name": "report", "file": "r.txt", "size": 1000}'
        raw = b"GET /chunks HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        status, headers, response = split_response(await exchange(port, raw))
        assert headers["transfer-encoding"] == "chunked"
        assert b"aaa" in response
        assert b"ccc" in response
    finally:
        server.stop()
        await server.close_all_connections()


@stream_request_body
class Sink(RequestHandler):
    def prepare(self) -> None:
        self.received = 0
        self.pieces = 0

    async def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        self.pieces += 1
        await asyncio.sleep(0)

    def put(self) -> None:
        self.write({"received": self.received})


async def test_streamed_request_body_over_a_socket() -> None:
    app = Application([("/sink", Sink)], load_entrypoints=False)
    server, port = serve(app)
    try:
        payload = b"z" * 300_000
        raw = (
            b"PUT /sink HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
        )
        status, _, body = split_response(await exchange(port, raw))
        assert (status, body) == (200, b'{"received": 300000}')
    finally:
        server.stop()
        await server.close_all_connections()


async def test_listen_waits_for_plugin_startup_and_shutdown_stops_serving() -> None:
    state: dict[str, Any] = {}

    class Pool:
        @hookimpl
        async def startup(self, app: Any) -> None:
            await asyncio.sleep(0.05)
            state["pool"] = "ready"

        @hookimpl
        def shutdown(self, app: Any) -> None:
            state["pool"] = "closed"

    class UsesPool(RequestHandler):
        def get(self) -> None:
            self.write(state.get("pool", "missing"))

    app = Application([("/", UsesPool)], plugins=[Pool()], load_entrypoints=False)
    port = free_port()
    app.listen(port, "127.0.0.1")
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    for _ in range(100):
        try:
            data = await exchange(port, raw, timeout=2)
            break
        except ConnectionRefusedError:
            await asyncio.sleep(0.02)
    assert split_response(data)[2] == b"ready"
    await app.shutdown()
    assert state["pool"] == "closed"
    try:
        await exchange(port, raw, timeout=1)
    except ConnectionRefusedError:
        refused = True
    else:
        refused = False
    assert refused


async def test_listen_without_lifecycle_plugins_accepts_at_once() -> None:
    app = make_app()
    port = free_port()
    server = app.listen(port, "127.0.0.1")
    try:
        raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        assert split_response(await exchange(port, raw))[2] == b"Hello, world"
    finally:
        await app.shutdown()
        await server.close_all_connections()


async def test_startup_failure_is_logged_and_nothing_is_served(caplog: Any) -> None:
    class Broken:
        @hookimpl
        def startup(self, app: Any) -> None:
            raise RuntimeError("database unreachable")

    app = Application([("/", Hello)], plugins=[Broken()], load_entrypoints=False)
    port = free_port()
    app.listen(port, "127.0.0.1")
    for _ in range(50):
        await asyncio.sleep(0.01)
        if "database unreachable" in caplog.text:
            break
    assert "startup failed" in caplog.text
    try:
        await exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", timeout=1)
    except ConnectionRefusedError:
        refused = True
    else:
        refused = False
    assert refused


async def test_client_leaving_mid_response_is_not_a_server_error(caplog: Any) -> None:
    finished = asyncio.Event()

    class Slow(RequestHandler):
        async def get(self) -> None:
            self.write("first")
            await self.flush()
            await asyncio.sleep(0.1)
            for _ in range(50):
                self.write("x" * 65536)
                await self.flush()

        def on_finish(self) -> None:
            finished.set()

    caplog.set_level(logging.INFO, logger="typhoon")
    server, port = serve(Application([("/", Slow)], load_entrypoints=False))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        await reader.readuntil(b"first")
        writer.transport.abort()
        await asyncio.wait_for(finished.wait(), 5)
    finally:
        server.stop()
        await server.close_all_connections()
    assert "Client closed the connection during GET /" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_set_status_takes_http_status_members() -> None:
    class Created(RequestHandler):
        def post(self) -> None:
            self.set_status(HTTPStatus.CREATED)
            self.write("made")

    server, port = serve(Application([("/", Created)], load_entrypoints=False))
    try:
        raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        data = await exchange(port, raw)
    finally:
        server.stop()
        await server.close_all_connections()
    assert data.startswith(b"HTTP/1.1 201 Created\r\n")
    assert split_response(data)[2] == b"made"


async def test_methods_of_the_application_s_own_reach_its_handler() -> None:
    # Any token is a method (RFC 9110, section 9.1): the handler decides, so one it adds
    # to SUPPORTED_METHODS runs, and one it does not know gets 405, not a parser error.
    class Brewer(RequestHandler):
        SUPPORTED_METHODS = (*RequestHandler.SUPPORTED_METHODS, "BREW")

        def brew(self) -> None:
            self.write({"method": self.request.method, "body": self.request.body.decode()})

    server, port = serve(Application([("/pot", Brewer)], load_entrypoints=False))
    try:
        brewed = await exchange(
            port,
            b"BREW /pot HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\ntea",
        )
        refused = await exchange(
            port, b"STEEP /pot HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
    finally:
        server.stop()
        await server.close_all_connections()
    status, _, body = split_response(brewed)
    assert (status, body) == (200, b'{"method": "BREW", "body": "tea"}')
    assert split_response(refused)[0] == 405
