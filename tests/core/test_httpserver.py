"""Tests for typhoon.httpserver.HTTPServer over real loopback sockets.

Most behaviour tests run twice: on the default transport path and on the stream path
(a subclass overriding ``handle_stream``), which must behave the same. Malformed
requests are written as raw bytes; curl, requests and an h11-based client act as real
clients; TLS uses trustme certificates.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import socket
import ssl
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import h11
import pytest
import requests
import trustme
from _httphelpers import (
    MODES,
    WAIT,
    RawClient,
    StreamModeServer,
    describe,
    get,
    hello,
    respond,
    run_in_thread,
    serve,
)
from typhoon.errors import HTTPOutputError
from typhoon.http1connection import HTTP1Connection
from typhoon.httpserver import HTTPServer
from typhoon.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from typhoon.iostream import IOStream, SSLIOStream, StreamClosedError
from typhoon.netutil import bind_unix_socket

# --- basic exchanges ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_request_attributes(mode: str) -> None:
    async with serve(describe, mode) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(
            b"GET /a/b?x=1&y=2&x=3 HTTP/1.1\r\nHost: example.com:8080\r\nX-Thing: v\r\n\r\n"
        )
        await client.close()
    assert response.status == 200
    info = response.json()
    assert info["method"] == "GET"
    assert info["uri"] == "/a/b?x=1&y=2&x=3"
    assert info["path"] == "/a/b"
    assert info["query"] == "x=1&y=2&x=3"
    assert info["arguments"] == {"x": ["1", "3"], "y": ["2"]}
    assert info["version"] == "HTTP/1.1"
    assert info["remote_ip"] == "127.0.0.1"
    assert info["protocol"] == "http"
    assert info["host"] == "example.com:8080"
    assert info["headers"]["X-Thing"] == "v"


@pytest.mark.parametrize("mode", MODES)
async def test_absolute_form_target(mode: str) -> None:
    async with serve(describe, mode) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(
            b"GET http://other.example/p?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n"
        )
        await client.close()
    info = response.json()
    assert (info["path"], info["query"], info["host"]) == ("/p", "q=1", "other.example")


@pytest.mark.parametrize("mode", MODES)
async def test_post_bodies_content_length_and_chunked(mode: str) -> None:
    async with serve(describe, mode) as (_server, port):
        client = await RawClient.connect(port)
        plain = await client.request(
            b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded"
            b"\r\nContent-Length: 7\r\n\r\na=1&b=2"
        )
        chunked = await client.request(
            b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
        await client.close()
    assert plain.json()["body"] == "a=1&b=2"
    assert plain.json()["arguments"] == {"a": ["1"], "b": ["2"]}
    assert chunked.json()["body"] == "hello world"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_response_body_pieces_may_be_any_bytes_like_object(mode: str, kind: type) -> None:
    def handle(request: HTTPServerRequest) -> None:
        connection = request.connection
        assert connection is not None
        headers = HTTPHeaders({"Content-Length": "11"})
        start = ResponseStartLine("HTTP/1.1", 200, "OK")
        connection.write_headers(start, headers, kind(b"hello"))
        connection.write(kind(b" world"))
        connection.finish()

    async with serve(handle, mode) as (_server, port):
        client = await RawClient.connect(port)
        first = await client.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        second = await client.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        await client.close()
    assert (first.status, first.body) == (200, b"hello world")
    assert (second.status, second.body) == (200, b"hello world")


@pytest.mark.parametrize("mode", MODES)
async def test_keep_alive_reuses_connection(mode: str) -> None:
    seen: list[object] = []

    def app(request: HTTPServerRequest) -> None:
        seen.append(request.server_connection)
        respond(request, request.path.encode())

    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        first = await client.request(get("/one"))
        second = await client.request(get("/two"))
        await client.close()
    assert (first.body, second.body) == (b"/one", b"/two")
    assert first.header("Connection") is None
    assert len(seen) == 2
    assert seen[0] is seen[1]


@pytest.mark.parametrize("mode", MODES)
async def test_pipelined_responses_keep_request_order(mode: str) -> None:
    async def slow_then_fast(request: HTTPServerRequest) -> None:
        # The first request is answered last in time; its response must still be first.
        if request.path == "/slow":
            await asyncio.sleep(0.1)
        respond(request, request.path.encode())

    def app(request: HTTPServerRequest) -> None:
        asyncio.get_running_loop().create_task(slow_then_fast(request))

    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(get("/slow") + get("/fast") + get("/third"))
        bodies = [(await client.read_response()).body for _ in range(3)]
        await client.close()
    assert bodies == [b"/slow", b"/fast", b"/third"]


@pytest.mark.parametrize("mode", MODES)
async def test_http10_closes_unless_keep_alive(mode: str) -> None:
    async with serve(hello, mode) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(b"GET / HTTP/1.0\r\n\r\n")
        assert response.version == "HTTP/1.1"
        assert response.header("Connection") == "close"
        assert await client.is_closed_by_server()
        await client.close()

        client = await RawClient.connect(port)
        response = await client.request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert response.header("Connection") == "keep-alive"
        again = await client.request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert again.body == b"Hello, world!"
        await client.close()


@pytest.mark.parametrize("mode", MODES)
async def test_connection_close_from_client(mode: str) -> None:
    async with serve(hello, mode) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get(extra="Connection: close\r\n"))
        assert response.header("Connection") == "close"
        assert await client.is_closed_by_server()
        await client.close()


@pytest.mark.parametrize("mode", MODES)
async def test_no_keep_alive_option(mode: str) -> None:
    async with serve(hello, mode, no_keep_alive=True) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get())
        assert response.header("Connection") == "close"
        assert await client.is_closed_by_server()
        await client.close()


@pytest.mark.parametrize("mode", MODES)
async def test_chunked_response_when_length_unknown(mode: str) -> None:
    async def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert conn is not None
        await conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders())
        await conn.write(b"part one, ")
        await asyncio.sleep(0.01)
        await conn.write(b"part two")
        conn.finish()

    def start(request: HTTPServerRequest) -> None:
        asyncio.get_running_loop().create_task(app(request))

    async with serve(start, mode) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get())
        second = await client.request(get())
        await client.close()
    assert response.chunked
    assert response.body == b"part one, part two"
    assert second.body == b"part one, part two"


@pytest.mark.parametrize("mode", MODES)
async def test_head_204_304_have_no_body(mode: str) -> None:
    def app(request: HTTPServerRequest) -> None:
        if request.path == "/204":
            assert request.connection is not None
            request.connection.write_headers(
                ResponseStartLine("HTTP/1.1", 204, "No Content"), HTTPHeaders()
            )
            request.connection.finish()
        elif request.path == "/304":
            assert request.connection is not None
            request.connection.write_headers(
                ResponseStartLine("HTTP/1.1", 304, "Not Modified"), HTTPHeaders({"Etag": '"x"'})
            )
            request.connection.finish()
        else:
            # A HEAD answer keeps the GET's Content-Length but sends no body.
            headers = HTTPHeaders({"Content-Length": "13"})
            assert request.connection is not None
            request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
            request.connection.finish()

    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
        head = await client.read_response(head_only=True)
        no_content = await client.request(get("/204"))
        not_modified = await client.request(get("/304"))
        # Nothing extra was sent: the next response starts right after.
        await client.send(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
        final = await client.read_response(head_only=True)
        await client.close()
    assert head.status == 200
    assert head.header("Content-Length") == "13"
    assert no_content.status == 204
    assert no_content.header("Content-Length") is None
    assert not_modified.status == 304
    assert not_modified.header("Etag") == '"x"'
    assert final.status == 200


@pytest.mark.parametrize("mode", MODES)
async def test_leading_empty_lines_are_ignored(mode: str) -> None:
    async with serve(hello, mode) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(b"\r\n\r\n" + get())
        await client.close()
    assert response.status == 200


# --- the delegate interface ---------------------------------------------------------------


class Recorder(HTTPMessageDelegate):
    """Records the calls of one request; answers once the body is complete."""

    def __init__(self, log: list[Any], conn: HTTPConnection, pause: float = 0.0) -> None:
        self.log = log
        self.conn = conn
        self.pause = pause

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        self.log.append(("headers", start_line, headers.get("Content-Length")))
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.log.append(("data", len(chunk)))
        if self.pause:
            return asyncio.sleep(self.pause)
        return None

    def finish(self) -> None:
        self.log.append(("finish",))
        self.conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders({"Content-Length": "2"}), b"ok"
        )
        self.conn.finish()

    def on_connection_close(self) -> None:
        self.log.append(("closed",))


class RecordingApp(HTTPServerConnectionDelegate):
    def __init__(self, pause: float = 0.0) -> None:
        self.log: list[Any] = []
        self.pause = pause

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Recorder:
        return Recorder(self.log, request_conn, self.pause)


@pytest.mark.parametrize("mode", MODES)
async def test_delegate_gets_body_in_chunks_with_flow_control(mode: str) -> None:
    app = RecordingApp(pause=0.01)
    body = b"x" * 10_000
    async with serve(app, mode, chunk_size=4096) as (server, port):
        client = await RawClient.connect(port)
        response = await client.request(
            b"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10000\r\n\r\n" + body
        )
        assert len(server._connections) == 1
        await client.close()
        for _ in range(100):
            if not server._connections:
                break
            await asyncio.sleep(0.01)
    assert response.body == b"ok"
    kinds = [entry[0] for entry in app.log]
    assert kinds[0] == "headers"
    assert kinds[-1] == "finish"
    sizes = [entry[1] for entry in app.log if entry[0] == "data"]
    assert sum(sizes) == 10_000
    assert max(sizes) <= 4096
    assert app.log[0][1] == RequestStartLine("PUT", "/up", "HTTP/1.1")
    # The server forgets the connection once the client closed it.
    assert not server._connections


@pytest.mark.parametrize("mode", MODES)
async def test_on_connection_close_when_client_leaves_mid_body(mode: str) -> None:
    app = RecordingApp()
    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
        await asyncio.sleep(0.05)
        await client.close()
        for _ in range(200):
            if ("closed",) in app.log:
                break
            await asyncio.sleep(0.01)
    assert ("closed",) in app.log
    assert ("finish",) not in app.log


@pytest.mark.parametrize("mode", MODES)
async def test_close_callback_when_client_leaves_before_response(mode: str) -> None:
    called = asyncio.Event()

    def app(request: HTTPServerRequest) -> None:
        assert request.connection is not None
        request.connection.set_close_callback(called.set)  # type: ignore[attr-defined]

    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(get())
        await asyncio.sleep(0.05)
        await client.close()
        await asyncio.wait_for(called.wait(), WAIT)


@pytest.mark.parametrize("mode", MODES)
async def test_application_exception_answers_500_and_closes(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    def app(request: HTTPServerRequest) -> None:
        raise RuntimeError("boom")

    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        with caplog.at_level(logging.ERROR, logger="typhoon.application"):
            await client.send(get())
            data = await client.read_to_end()
        await client.close()
    if mode == "transport":
        assert data.startswith(b"HTTP/1.1 500 ")
    else:
        # The stream path closes without an answer, as Tornado does.
        assert data == b"" or data.startswith(b"HTTP/1.1 500 ")
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


# --- Expect: 100-continue and limits ------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_expect_100_continue(mode: str) -> None:
    async with serve(describe, mode) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await client.read_response()
        assert interim.status == 100
        await client.send(b"hello")
        final = await client.read_response()
        await client.close()
    assert final.status == 200
    assert final.json()["body"] == "hello"


@pytest.mark.parametrize("mode", MODES)
async def test_declared_oversize_body_gets_413_without_100(mode: str) -> None:
    async with serve(describe, mode, max_body_size=1000) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n"
        )
        data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 413 ")
    assert b" 100 " not in data.split(b"\r\n")[0]
    assert b"Connection: close" in data


@pytest.mark.parametrize("mode", MODES)
async def test_oversize_body_refused_before_it_is_sent(mode: str) -> None:
    async with serve(describe, mode, max_body_size=1000) as (_server, port):
        client = await RawClient.connect(port)
        # The body is never sent: the answer must come from the declared length alone.
        await client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000000\r\n\r\n")
        response = await client.read_response()
        assert await client.is_closed_by_server()
        await client.close()
    assert response.status == 413


@pytest.mark.parametrize("mode", MODES)
async def test_chunked_body_cut_when_it_passes_the_limit(mode: str) -> None:
    async with serve(describe, mode, max_body_size=1000) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (600, b"y" * 600)
        await client.send(chunk + chunk)
        data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("mode", MODES)
async def test_set_max_body_size_per_request(mode: str) -> None:
    class App(HTTPServerConnectionDelegate):
        def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
            assert isinstance(request_conn, HTTP1Connection)
            request_conn.set_max_body_size(10)
            return Recorder([], request_conn)

    async with serve(App(), mode) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n")
        data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("mode", MODES)
async def test_header_block_over_limit_is_431(mode: str) -> None:
    async with serve(hello, mode, max_header_size=1024) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(get(extra="X-Big: " + "a" * 2000 + "\r\n"))
        data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 431 ")


async def test_request_line_over_limit_is_414() -> None:
    async with serve(hello, max_header_size=1024) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 414 ")


async def test_gzip_request_body_is_decoded() -> None:
    payload = b"decoded " * 100
    async with serve(describe, decompress_request=True) as (_server, port):
        client = await RawClient.connect(port)
        body = gzip.compress(payload)
        response = await client.request(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await client.close()
    info = response.json()
    assert info["body"] == payload.decode()
    assert info["headers"]["X-Consumed-Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in info["headers"]


async def test_gzip_bomb_is_cut_at_the_decoded_limit() -> None:
    # 10 MB of zeros compresses to about 10 KB: under the limit on the wire, far over
    # it decoded.
    bomb = gzip.compress(bytes(10_000_000))
    async with serve(describe, decompress_request=True, max_body_size=100_000) as (_s, port):
        client = await RawClient.connect(port)
        await client.send(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(bomb), bomb)
        )
        data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 413 ")


# --- request smuggling and malformed framing (FEATURES.md section 5, class 1) -------------

_BAD_REQUESTS = {
    "cl-and-te": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate-cl": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "same-cl-twice": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "cl-list": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
    "cl-plus": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc",
    "cl-minus": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\nabc",
    "cl-underscore": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1_0\r\n\r\nabcdefghij",
    "cl-hex": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc",
    "chunk-size-signed": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"+3\r\nabc\r\n0\r\n\r\n",
    "chunk-size-underscore": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n",
    "chunk-size-0x": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0x3\r\nabc\r\n0\r\n\r\n",
    "te-chunked-twice": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
    b"0\r\n\r\n",
    "te-http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bare-lf-line": b"GET / HTTP/1.1\nHost: h\r\n\r\n",
    "bare-lf-header": b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",
    "bare-cr": b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost: h\r\nX-Thing : y\r\n\r\n",
    "tab-before-colon": b"GET / HTTP/1.1\r\nHost: h\r\nX-Thing\t: y\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: h\r\nX-Thing: a\r\n  folded\r\n\r\n",
    "missing-host": b"GET / HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "bad-host": b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "double-space-request-line": b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n",
    "bad-chunk-terminator": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabcXX0\r\n\r\n",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(_BAD_REQUESTS))
async def test_malformed_framing_is_400_then_close(
    mode: str, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = RecordingApp()
    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        with caplog.at_level(logging.INFO, logger="typhoon.general"):
            await client.send(_BAD_REQUESTS[name] + get("/after"))
            data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 400 "), data[:80]
    assert b"Connection: close" in data
    # Exactly one response, and the pipelined request after it was never served.
    assert data.count(b"HTTP/1.1 ") == 1
    assert ("finish",) not in app.log
    # Class 10 (log flooding): at most one log line per bad request.
    lines = [r for r in caplog.records if r.name == "typhoon.general"]
    assert len(lines) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        # "identity" is no longer a registered coding; refused as malformed framing.
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    ],
)
async def test_unsupported_coding_method_version(
    mode: str, request_bytes: bytes, status: int
) -> None:
    async with serve(hello, mode) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(request_bytes)
        data = await client.read_to_end()
        await client.close()
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:80]


@pytest.mark.parametrize("mode", MODES)
async def test_response_is_not_lost_to_a_reset(mode: str) -> None:
    # The client keeps sending a large body after the server refused it: the 413 must
    # still reach the client (lingering close, RFC 9112 section 9.6).
    async with serve(describe, mode, max_body_size=1000) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await client.send(b"z" * 200_000)
        first = await asyncio.wait_for(client.reader.readuntil(b"\r\n"), WAIT)
        await client.close()
    assert first.startswith(b"HTTP/1.1 413 ")


# --- header and reason-phrase injection (class 2) -----------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_reason_phrase_injection_is_refused(mode: str) -> None:
    errors: list[BaseException] = []

    def app(request: HTTPServerRequest) -> None:
        try:
            respond(request, b"x", reason="OK\r\nSet-Cookie: evil=1")
        except HTTPOutputError as exc:
            errors.append(exc)
            respond(request, b"safe")

    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get())
        await client.close()
    assert errors
    assert response.body == b"safe"
    assert response.header("Set-Cookie") is None


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b"])
def test_header_value_injection_is_refused(value: str) -> None:
    headers = HTTPHeaders()
    with pytest.raises(HTTPOutputError):
        headers["X-Value"] = value
    with pytest.raises(HTTPOutputError):
        headers.add("X-Value", value)


# --- algorithmic complexity (class 3) -----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_many_repeated_headers_parse_in_linear_time(mode: str) -> None:
    lines = "".join("X-Repeat: v\r\n" for _ in range(5000))
    async with serve(describe, mode, max_header_size=200_000) as (_server, port):
        client = await RawClient.connect(port)
        started = time.perf_counter()
        response = await client.request(get(extra=lines))
        elapsed = time.perf_counter() - started
        await client.close()
    assert response.status == 200
    assert elapsed < 2.0


@pytest.mark.parametrize("mode", MODES)
async def test_head_trickled_byte_by_byte(mode: str) -> None:
    head = get(extra="X-Long: " + "v" * 3000 + "\r\n")
    async with serve(hello, mode) as (_server, port):
        client = await RawClient.connect(port)
        started = time.process_time()
        for i in range(len(head)):
            client.writer.write(head[i : i + 1])
            if i % 64 == 0:
                await client.writer.drain()
                await asyncio.sleep(0)
        response = await client.read_response()
        cpu = time.process_time() - started
        await client.close()
    assert response.status == 200
    # Linear work: a few thousand one-byte segments cost well under a second.
    assert cpu < 2.0


# --- deadlines ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_idle_connection_timeout_closes_quietly(mode: str) -> None:
    async with serve(hello, mode, idle_connection_timeout=0.3) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get())
        assert response.status == 200
        started = time.monotonic()
        data = await client.read_to_end(timeout=3)
        elapsed = time.monotonic() - started
        await client.close()
    assert data == b""
    assert 0.2 < elapsed < 2.0


@pytest.mark.parametrize("mode", MODES)
async def test_slowloris_head_is_cut_by_total_deadline(mode: str) -> None:
    async with serve(hello, mode, idle_connection_timeout=0.5) as (_server, port):
        client = await RawClient.connect(port)
        started = time.monotonic()
        head = get(extra="X-Slow: " + "s" * 100 + "\r\n")
        closed = False
        received = b""
        # One byte every 50 ms would take over 6 s; the head deadline is 0.5 s total.
        for i in range(len(head) - 1):
            try:
                await client.send(head[i : i + 1])
            except ConnectionError:
                closed = True
                break
            try:
                chunk = await asyncio.wait_for(client.reader.read(1024), 0.05)
            except TimeoutError:
                continue
            received += chunk
            if not chunk:
                closed = True
                break
            received += await client.read_to_end(timeout=2)
            closed = True
            break
        elapsed = time.monotonic() - started
        await client.close()
    assert closed
    assert elapsed < 2.0
    if mode == "transport":
        assert received.startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("mode", MODES)
async def test_body_timeout_is_a_total_for_the_body(mode: str) -> None:
    async with serve(describe, mode, body_timeout=0.5) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n")
        started = time.monotonic()
        closed = False
        received = b""
        for _ in range(60):
            try:
                await client.send(b"b")
                received += await asyncio.wait_for(client.reader.read(1024), 0.05)
            except TimeoutError:
                continue
            except ConnectionError:
                closed = True
                break
            received += await client.read_to_end(timeout=2)
            closed = True
            break
        elapsed = time.monotonic() - started
        await client.close()
    assert closed
    assert elapsed < 2.0
    assert received.startswith(b"HTTP/1.1 408 ")


async def test_slow_application_is_not_a_timeout() -> None:
    async def app(request: HTTPServerRequest) -> None:
        await asyncio.sleep(0.6)
        respond(request, b"late")

    def start(request: HTTPServerRequest) -> None:
        asyncio.get_running_loop().create_task(app(request))

    async with serve(start, idle_connection_timeout=0.3, body_timeout=0.3) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get())
        await client.close()
    assert response.body == b"late"


# --- graceful shutdown ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_shutdown_finishes_in_flight_and_closes_idle(mode: str) -> None:
    release = asyncio.Event()

    async def app(request: HTTPServerRequest) -> None:
        if request.path == "/slow":
            await release.wait()
        respond(request, request.path.encode())

    def start(request: HTTPServerRequest) -> None:
        asyncio.get_running_loop().create_task(app(request))

    async with serve(start, mode) as (server, port):
        idle = await RawClient.connect(port)
        assert (await idle.request(get("/warm"))).status == 200
        busy = await RawClient.connect(port)
        await busy.send(get("/slow"))
        await asyncio.sleep(0.05)
        shutdown = asyncio.get_running_loop().create_task(server.shutdown(timeout=5))
        assert await idle.is_closed_by_server(timeout=2)
        # No new connections are accepted.
        with pytest.raises(ConnectionRefusedError):
            await RawClient.connect(port)
        release.set()
        response = await busy.read_response()
        assert response.body == b"/slow"
        assert response.header("Connection") == "close"
        assert await busy.is_closed_by_server(timeout=2)
        await asyncio.wait_for(shutdown, WAIT)
        await idle.close()
        await busy.close()


@pytest.mark.parametrize("mode", MODES)
async def test_shutdown_deadline_closes_stuck_requests(mode: str) -> None:
    def app(request: HTTPServerRequest) -> None:
        # Never answers.
        return None

    async with serve(app, mode) as (server, port):
        client = await RawClient.connect(port)
        await client.send(get())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await asyncio.wait_for(server.shutdown(timeout=0.3), WAIT)
        assert time.monotonic() - started < 2.0
        assert await client.is_closed_by_server(timeout=2)
        await client.close()


@pytest.mark.parametrize("mode", MODES)
async def test_close_all_connections(mode: str) -> None:
    async with serve(hello, mode) as (server, port):
        clients = [await RawClient.connect(port) for _ in range(3)]
        for client in clients:
            assert (await client.request(get())).status == 200
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), WAIT)
        for client in clients:
            assert await client.is_closed_by_server(timeout=2)
            await client.close()


@pytest.mark.parametrize("turns", [0, 1])
@pytest.mark.parametrize("mode", MODES)
async def test_close_all_connections_closes_one_still_being_set_up(mode: str, turns: int) -> None:
    # A connection accepted just before the server closes (the same loop turn, or the
    # one before) is still being set up: it is closed by the time close_all_connections
    # returns, not left to the garbage collector.
    server = StreamModeServer(hello) if mode == "stream" else HTTPServer(hello)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=WAIT)
        accepted, address = listener.accept()
    with client:
        server._handle_connection(accepted, address)
        for _ in range(turns):
            await asyncio.sleep(0)
        server.stop()
        async with asyncio.timeout(WAIT):
            # Awaited in this task, not wrapped in another: no loop turn in between.
            await server.close_all_connections()
        assert accepted.fileno() == -1
        assert client.recv(1) == b""


# --- proxies, protocol, TLS ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_xheaders(mode: str) -> None:
    async with serve(describe, mode, xheaders=True, trusted_downstream=["10.0.0.9"]) as (
        _server,
        port,
    ):
        client = await RawClient.connect(port)
        real = await client.request(get(extra="X-Real-Ip: 192.0.2.7\r\n"))
        forwarded = await client.request(
            get(extra="X-Forwarded-For: 198.51.100.1, 203.0.113.5, 10.0.0.9\r\n")
        )
        scheme = await client.request(get(extra="X-Forwarded-Proto: http, https\r\n"))
        bad = await client.request(get(extra="X-Real-Ip: not-an-ip\r\nX-Scheme: gopher\r\n"))
        plain = await client.request(get())
        await client.close()
    assert real.json()["remote_ip"] == "192.0.2.7"
    assert forwarded.json()["remote_ip"] == "203.0.113.5"
    assert scheme.json()["protocol"] == "https"
    assert (bad.json()["remote_ip"], bad.json()["protocol"]) == ("127.0.0.1", "http")
    # Each request starts from the connection's own values again.
    assert (plain.json()["remote_ip"], plain.json()["protocol"]) == ("127.0.0.1", "http")


async def test_xheaders_off_ignores_headers() -> None:
    async with serve(describe) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get(extra="X-Real-Ip: 192.0.2.7\r\n"))
        await client.close()
    assert response.json()["remote_ip"] == "127.0.0.1"


async def test_protocol_option() -> None:
    async with serve(describe, protocol="https") as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(get())
        await client.close()
    assert response.json()["protocol"] == "https"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    directory = tmp_path_factory.mktemp("tls")
    ca_file = directory / "ca.pem"
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    return ca_file, cert_file, key_file


@pytest.mark.parametrize("mode", MODES)
async def test_tls(mode: str, tls_files: tuple[Path, Path, Path]) -> None:
    ca_file, cert_file, key_file = tls_files
    options = {"certfile": str(cert_file), "keyfile": str(key_file)}
    async with serve(describe, mode, ssl_options=options) as (_server, port):
        context = ssl.create_default_context(cafile=str(ca_file))
        client = await RawClient.connect(port, tls=context)
        first = await client.request(get("/secure"))
        second = await client.request(get("/again"))
        await client.close()
        session = requests.Session()
        try:
            response = await run_in_thread(
                session.get, f"https://localhost:{port}/r", verify=str(ca_file), timeout=WAIT
            )
        finally:
            session.close()
    assert first.json()["protocol"] == "https"
    assert second.json()["path"] == "/again"
    assert response.json()["protocol"] == "https"


async def test_tls_handshake_failure_never_reaches_the_app(
    tls_files: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _ca, cert_file, key_file = tls_files
    app = RecordingApp()
    options = {"certfile": str(cert_file), "keyfile": str(key_file)}
    async with serve(app, ssl_options=options) as (_server, port):
        client = await RawClient.connect(port)
        with caplog.at_level(logging.WARNING, logger="typhoon.general"):
            await client.send(get())
            data = await client.read_to_end()
        await client.close()
    assert not data.startswith(b"HTTP/")
    assert app.log == []


async def test_unix_socket(tmp_path: Path) -> None:
    server = HTTPServer(describe)
    path = str(tmp_path / "http.sock")
    server.add_socket(bind_unix_socket(path))
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        client = RawClient(reader, writer)
        response = await client.request(get())
        await client.close()
    finally:
        server.stop()
        await server.close_all_connections()
    assert response.json()["remote_ip"] == "0.0.0.0"


# --- taking the connection over (WebSocket-style upgrade) ---------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_detach_after_101_hands_over_early_bytes(mode: str) -> None:
    streams: list[IOStream] = []

    async def echo(stream: Any) -> None:
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(b"echo:" + line)
        except StreamClosedError:
            pass

    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert isinstance(conn, HTTP1Connection)
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"),
            HTTPHeaders({"Upgrade": "echo", "Connection": "Upgrade"}),
        )
        conn.finish()
        stream = conn.detach()
        assert isinstance(stream, IOStream)
        streams.append(stream)
        asyncio.get_running_loop().create_task(echo(stream))

    async with serve(app, mode) as (_server, port):
        client = await RawClient.connect(port)
        # The first line of the new protocol travels with the request itself.
        await client.send(
            b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nfirst\n"
        )
        switching = await client.read_response()
        assert switching.status == 101
        assert await asyncio.wait_for(client.reader.readline(), WAIT) == b"echo:first\n"
        await client.send(b"second\n")
        assert await asyncio.wait_for(client.reader.readline(), WAIT) == b"echo:second\n"
        await client.close()
        for stream in streams:
            stream.close()


async def test_detach_of_tls_connection(tls_files: tuple[Path, Path, Path]) -> None:
    ca_file, cert_file, key_file = tls_files
    detached: list[Any] = []

    async def talk(stream: Any) -> None:
        line = await stream.read_until(b"\n")
        await stream.write(b"tls:" + line)

    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert isinstance(conn, HTTP1Connection)
        conn.write_headers(
            ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"),
            HTTPHeaders({"Upgrade": "x", "Connection": "Upgrade"}),
        )
        conn.finish()
        stream = conn.detach()
        detached.append(stream)
        asyncio.get_running_loop().create_task(talk(stream))

    options = {"certfile": str(cert_file), "keyfile": str(key_file)}
    async with serve(app, ssl_options=options) as (_server, port):
        context = ssl.create_default_context(cafile=str(ca_file))
        client = await RawClient.connect(port, tls=context)
        await client.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
        assert (await client.read_response()).status == 101
        await client.send(b"hi\n")
        assert await asyncio.wait_for(client.reader.readline(), WAIT) == b"tls:hi\n"
        await client.close()
    assert isinstance(detached[0], SSLIOStream)
    detached[0].close()


# --- real clients -------------------------------------------------------------------------


async def _curl(*args: str) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        "/usr/bin/curl",
        "--silent",
        "--show-error",
        "--max-time",
        "5",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT * 2)
    assert process.returncode is not None
    return process.returncode, out, err


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="curl is not installed")
@pytest.mark.parametrize("mode", MODES)
async def test_curl(mode: str) -> None:
    async with serve(describe, mode) as (_server, port):
        base = f"http://127.0.0.1:{port}"
        code, out, err = await _curl(f"{base}/get?a=1")
        assert code == 0, err
        assert json.loads(out)["arguments"] == {"a": ["1"]}
        code, out, err = await _curl("--data", "x=1&y=2", f"{base}/post")
        assert code == 0, err
        assert json.loads(out)["arguments"] == {"x": ["1"], "y": ["2"]}
        code, out, err = await _curl("--http1.0", f"{base}/old")
        assert code == 0, err
        assert json.loads(out)["version"] == "HTTP/1.0"
        # Two URLs in one invocation share the keep-alive connection.
        code, out, err = await _curl("--verbose", f"{base}/one", f"{base}/two")
        assert code == 0, err
        assert b"Re-using existing connection" in err or b"Reusing existing" in err
        # A chunked upload with Expect: 100-continue.
        code, out, err = await _curl(
            "--header",
            "Transfer-Encoding: chunked",
            "--header",
            "Expect: 100-continue",
            "--data-binary",
            "chunked body",
            f"{base}/chunked",
        )
        assert code == 0, err
        assert json.loads(out)["body"] == "chunked body"
        code, out, err = await _curl("--head", f"{base}/head")
        assert code == 0, err
        assert out.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("mode", MODES)
async def test_requests_library(mode: str) -> None:
    async with serve(describe, mode) as (_server, port):
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        try:
            first = await run_in_thread(session.get, f"{base}/a", params={"q": "1"}, timeout=WAIT)
            posted = await run_in_thread(session.post, f"{base}/b", data={"k": "v"}, timeout=WAIT)

            def chunks() -> Any:
                yield b"streamed "
                yield b"upload"

            streamed = await run_in_thread(session.put, f"{base}/c", data=chunks(), timeout=WAIT)
        finally:
            session.close()
    assert first.status_code == 200
    assert first.json()["arguments"] == {"q": ["1"]}
    assert posted.json()["arguments"] == {"k": ["v"]}
    assert streamed.json()["body"] == "streamed upload"


def _h11_exchange(port: int, requests_to_send: list[h11.Request], bodies: list[bytes]) -> list[Any]:
    """A blocking h11 client: sends each request on one connection, validates the replies."""
    results: list[Any] = []
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        conn = h11.Connection(our_role=h11.CLIENT)
        for request, body in zip(requests_to_send, bodies, strict=True):
            data = conn.send(request)
            if body:
                data += conn.send(h11.Data(data=body))
            data += conn.send(h11.EndOfMessage())
            sock.sendall(data)
            response = None
            received = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(sock.recv(65536))
                    continue
                if isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    received += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            results.append((response, received))
            conn.start_next_cycle()
    return results


@pytest.mark.parametrize("mode", MODES)
async def test_h11_client(mode: str) -> None:
    def app(request: HTTPServerRequest) -> None:
        if request.path == "/chunked":
            assert request.connection is not None
            request.connection.write_headers(
                ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders(), b"chunk one "
            )
            request.connection.write(b"chunk two")
            request.connection.finish()
        else:
            describe(request)

    host = [("Host", "localhost")]
    async with serve(app, mode) as (_server, port):
        results = await run_in_thread(
            _h11_exchange,
            port,
            [
                h11.Request(method="GET", target="/plain", headers=host),
                h11.Request(method="GET", target="/chunked", headers=host),
                h11.Request(method="HEAD", target="/plain", headers=host),
                h11.Request(
                    method="POST",
                    target="/body",
                    headers=[*host, ("Content-Length", "4")],
                ),
            ],
            [b"", b"", b"", b"data"],
        )
    (plain, plain_body), (chunked, chunked_body), (head, head_body), (_post, post_body) = results
    assert plain.status_code == 200
    assert json.loads(plain_body)["path"] == "/plain"
    assert chunked_body == b"chunk one chunk two"
    assert (b"transfer-encoding", b"chunked") in chunked.headers
    assert head.status_code == 200
    assert head_body == b""
    assert json.loads(post_body)["body"] == "data"


# --- options ------------------------------------------------------------------------------


def test_constructor_keeps_tornado_options() -> None:
    server = HTTPServer(
        hello,
        no_keep_alive=True,
        xheaders=True,
        protocol="https",
        decompress_request=True,
        chunk_size=1000,
        max_header_size=2000,
        idle_connection_timeout=7,
        body_timeout=8,
        max_body_size=9000,
        max_buffer_size=10_000,
        trusted_downstream=["10.0.0.1"],
    )
    params = server.conn_params
    assert (params.no_keep_alive, params.decompress) == (True, True)
    assert (params.chunk_size, params.max_header_size) == (1000, 2000)
    assert (params.header_timeout, params.body_timeout, params.max_body_size) == (7, 8, 9000)
    assert server.xheaders
    assert server.protocol == "https"
    assert server.trusted_downstream == ["10.0.0.1"]
    assert server.max_buffer_size == 10_000
    assert HTTPServer(hello).conn_params.header_timeout == 3600


def test_missing_certificate_is_reported_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        HTTPServer(hello, ssl_options={"certfile": str(tmp_path / "none.pem")})


@pytest.mark.parametrize("mode", MODES)
async def test_size_options_given_as_floats_and_flags_as_ints(mode: str) -> None:
    options: dict[str, Any] = {
        "max_body_size": 1e6,
        "max_header_size": 65536.0,
        "chunk_size": 4096.0,
        "idle_connection_timeout": 30,
        "body_timeout": 10,
        "no_keep_alive": 1,
    }

    def limited(request: HTTPServerRequest) -> None:
        assert request.connection is not None
        request.connection.set_max_body_size(1e6)
        respond(request, b"ok")

    async with serve(limited, mode, **options) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        await client.close()
    assert (response.status, response.body) == (200, b"ok")
    assert ("Connection", "close") in response.headers
