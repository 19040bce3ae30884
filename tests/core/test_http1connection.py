"""Tests for typhoon.http1connection: HTTP1Connection in both roles over real streams,
HTTP1ServerConnection on a stream, the gzip body decoder and the request connection
that HTTPServer hands to applications.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from _httphelpers import WAIT, Collector, RawClient, describe, get, respond, serve
from typhoon.errors import HTTPInputError, HTTPOutputError, StreamClosedError
from typhoon.http1connection import (
    GzipMessageDelegate,
    HTTP1Connection,
    HTTP1ConnectionParameters,
    HTTP1ServerConnection,
    unread,
)
from typhoon.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from typhoon.iostream import IOStream
from typhoon.testing.streams import memory_stream_pair


async def _connect(port: int) -> IOStream:
    stream = IOStream(socket.socket())
    await asyncio.wait_for(stream.connect(("127.0.0.1", port)), WAIT)
    return stream


@asynccontextmanager
async def raw_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    """A scripted peer: ``handler`` gets each accepted connection, closed afterwards."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(run(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        # Let the closed transports release their sockets.
        await asyncio.sleep(0.01)


def _request_head(method: str = "GET", path: str = "/", **headers: str) -> tuple[Any, HTTPHeaders]:
    fields = HTTPHeaders({"Host": "localhost"})
    for name, value in headers.items():
        fields[name.replace("_", "-")] = value
    return RequestStartLine(method, path, "HTTP/1.1"), fields


# --- parameters ---------------------------------------------------------------------------


def test_parameters_defaults() -> None:
    params = HTTP1ConnectionParameters()
    assert params.no_keep_alive is False
    assert params.chunk_size == 65536
    assert params.max_header_size == 65536
    assert params.header_timeout is None
    assert params.max_body_size is None
    assert params.body_timeout is None
    assert params.decompress is False
    assert "chunk_size=65536" in repr(params)


# --- the client role ----------------------------------------------------------------------


async def test_client_exchanges_over_keep_alive() -> None:
    async with serve(describe) as (_server, port):
        stream = await _connect(port)
        results = []
        for path in ("/first?a=1", "/second"):
            conn = HTTP1Connection(stream, True)
            await conn.write_headers(*_request_head(path=path))
            conn.finish()
            delegate = Collector()
            reusable = await asyncio.wait_for(conn.read_response(delegate), WAIT)
            assert reusable
            assert delegate.finished
            results.append(delegate)
        stream.close()
    first, second = results
    assert first.heads[0].code == 200
    assert first.headers[0]["Content-Type"] == "application/json"
    assert b'"path": "/first"' in first.body
    assert b'"path": "/second"' in second.body


async def test_client_reads_the_response_to_a_request_written_on_the_stream() -> None:
    async with serve(describe) as (_server, port):
        stream = await _connect(port)
        for path in ("/one", "/two"):
            await stream.write(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            conn = HTTP1Connection(stream, True)
            delegate = Collector()
            assert await asyncio.wait_for(conn.read_response(delegate), WAIT) is True
            assert delegate.finished
            assert delegate.heads[0].code == 200
            assert f'"path": "{path}"'.encode() in delegate.body
        stream.close()


class Failing(Collector):
    """Raises from one delegate method."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where
        self.close_calls = 0

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        if self.where == "headers_received":
            raise ValueError("refused the head")
        return super().headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self.where == "data_received":
            raise ValueError("refused the body")
        return super().data_received(chunk)

    def on_connection_close(self) -> None:
        self.close_calls += 1
        super().on_connection_close()


@pytest.mark.parametrize("where", ["headers_received", "data_received"])
async def test_client_delegate_failure_is_logged_and_closes_the_stream(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(describe) as (_server, port):
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)
        await conn.write_headers(*_request_head())
        conn.finish()
        delegate = Failing(where)
        assert await asyncio.wait_for(conn.read_response(delegate), WAIT) is False
        assert stream.closed()
    assert delegate.close_calls == 1
    assert any(
        r.levelname == "ERROR" and r.exc_info and "refused the" in str(r.exc_info[1])
        for r in caplog.records
    )


async def test_client_chunked_request_body() -> None:
    async with serve(describe) as (_server, port):
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)
        await conn.write_headers(*_request_head("POST", "/up"))
        await conn.write(b"one ")
        await conn.write(b"two")
        conn.finish()
        delegate = Collector()
        await asyncio.wait_for(conn.read_response(delegate), WAIT)
        stream.close()
    assert b'"body": "one two"' in delegate.body
    assert b'"Transfer-Encoding": "chunked"' in delegate.body


async def test_client_reads_until_close() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nno length, ends at close")
        await writer.drain()
        writer.close()

    async with raw_server(peer) as port:
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)
        await conn.write_headers(*_request_head())
        conn.finish()
        delegate = Collector()
        reusable = await asyncio.wait_for(conn.read_response(delegate), WAIT)
        stream.close()
    assert reusable is False
    assert delegate.body == b"no length, ends at close"
    assert delegate.finished


async def test_client_interim_response_then_final() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await reader.readexactly(4)
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async with raw_server(peer) as port:
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)

        def on_head(start_line: Any, headers: HTTPHeaders) -> None:
            if start_line.code == 100:
                conn.write(b"body")
                conn.finish()

        await conn.write_headers(*_request_head("POST", Content_Length="4", Expect="100-continue"))
        delegate = Collector(on_head)
        await asyncio.wait_for(conn.read_response(delegate), WAIT)
        stream.close()
    assert [head.code for head in delegate.heads] == [100, 201]
    assert delegate.body == b"ok"


async def test_client_detach_after_101_keeps_early_bytes() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        # The first bytes of the new protocol travel with the 101.
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"
            b"greeting\n"
        )
        await writer.drain()
        line = await reader.readline()
        writer.write(b"echo:" + line)
        await writer.drain()
        writer.close()

    async with raw_server(peer) as port:
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)
        detached: list[Any] = []

        def on_head(start_line: Any, headers: HTTPHeaders) -> None:
            detached.append(conn.detach())

        await conn.write_headers(*_request_head(Connection="Upgrade", Upgrade="x"))
        conn.finish()
        delegate = Collector(on_head)
        assert await asyncio.wait_for(conn.read_response(delegate), WAIT) is False
        assert detached == [stream]
        assert await asyncio.wait_for(stream.read_until(b"\n"), WAIT) == b"greeting\n"
        await stream.write(b"hi\n")
        assert await asyncio.wait_for(stream.read_until(b"\n"), WAIT) == b"echo:hi\n"
        stream.close()
    assert not delegate.closed


async def test_client_malformed_response() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc")
        await writer.drain()

    async with raw_server(peer) as port:
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)
        await conn.write_headers(*_request_head())
        conn.finish()
        delegate = Collector()
        assert await asyncio.wait_for(conn.read_response(delegate), WAIT) is False
    assert stream.closed()
    assert not delegate.finished


async def test_client_connection_closed_before_response() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with raw_server(peer) as port:
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)
        await conn.write_headers(*_request_head())
        conn.finish()
        with pytest.raises(StreamClosedError):
            await asyncio.wait_for(conn.read_response(Collector()), WAIT)
        stream.close()


async def test_client_header_timeout() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        await asyncio.sleep(3)

    async with raw_server(peer) as port:
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True, HTTP1ConnectionParameters(header_timeout=0.3))
        await conn.write_headers(*_request_head())
        conn.finish()
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(conn.read_response(Collector()), WAIT) is False
        assert asyncio.get_running_loop().time() - started < 2
    assert stream.closed()


async def test_client_decompresses_gzip_response() -> None:
    payload = b"squeezed " * 1000
    packed = gzip.compress(payload)

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(packed), packed)
        )
        await writer.drain()

    async with raw_server(peer) as port:
        stream = await _connect(port)
        params = HTTP1ConnectionParameters(decompress=True, chunk_size=1024)
        conn = HTTP1Connection(stream, True, params)
        await conn.write_headers(*_request_head())
        conn.finish()
        delegate = Collector()
        await asyncio.wait_for(conn.read_response(delegate), WAIT)
        stream.close()
    assert delegate.body == payload
    assert delegate.headers[0]["X-Consumed-Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in delegate.headers[0]


async def test_client_head_request_without_body() -> None:
    async with serve(describe) as (_server, port):
        stream = await _connect(port)
        conn = HTTP1Connection(stream, True)
        await conn.write_headers(*_request_head("HEAD"))
        conn.finish()
        delegate = Collector()
        assert await asyncio.wait_for(conn.read_response(delegate), WAIT)
        stream.close()
    assert delegate.heads[0].code == 200
    assert int(delegate.headers[0]["Content-Length"]) > 0
    assert delegate.body == b""


async def test_client_refuses_bad_request_head() -> None:
    a, _b = memory_stream_pair()
    conn = HTTP1Connection(a, True)
    start_line, headers = _request_head(path="/a b")
    with pytest.raises(HTTPOutputError):
        conn.write_headers(start_line, headers)
    a.close()
    _b.close()


# --- the server role over a stream --------------------------------------------------------


class App(HTTPServerConnectionDelegate):
    """Hands each request to ``describe`` through a Collector-like adapter."""

    def __init__(self) -> None:
        self.closed: list[object] = []

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> Any:
        return _Answer(request_conn, server_conn)

    def on_close(self, server_conn: object) -> None:
        self.closed.append(server_conn)


class _Answer(HTTPMessageDelegate):
    def __init__(self, conn: HTTPConnection, server_conn: object) -> None:
        self.conn = conn
        self.server_conn = server_conn
        self.request: HTTPServerRequest | None = None
        self.body = b""

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, RequestStartLine)
        self.request = HTTPServerRequest(
            connection=self.conn, start_line=start_line, headers=headers
        )
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.body += chunk
        return None

    def finish(self) -> None:
        assert self.request is not None
        self.request.body = self.body
        describe(self.request)


async def _read_http(stream: Any) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(stream.read_until(b"\r\n\r\n"), WAIT)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await asyncio.wait_for(stream.read_bytes(length), WAIT) if length else b""
    return head, body


async def test_server_connection_on_memory_streams() -> None:
    client, server_stream = memory_stream_pair()
    app = App()
    conn = HTTP1ServerConnection(server_stream)
    conn.start_serving(app)
    # Two pipelined requests in one write, answered in order.
    await client.write(
        get("/one") + b"POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    )
    head1, body1 = await _read_http(client)
    head2, body2 = await _read_http(client)
    assert head2.startswith(b"HTTP/1.1 200 OK")
    assert head1.startswith(b"HTTP/1.1 200 OK")
    assert b'"path": "/one"' in body1
    assert b'"body": "abc"' in body2
    await client.write(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n")
    rest = await asyncio.wait_for(client.read_until_close(), WAIT)
    assert rest.startswith(b"HTTP/1.1 400 ")
    await asyncio.wait_for(conn.close(), WAIT)
    assert app.closed == [conn]


async def test_server_connection_close_stops_serving() -> None:
    client, server_stream = memory_stream_pair()
    app = App()
    conn = HTTP1ServerConnection(server_stream, HTTP1ConnectionParameters(header_timeout=10))
    conn.start_serving(app)
    assert conn.is_idle()
    await asyncio.wait_for(conn.close(), WAIT)
    assert server_stream.closed()
    assert app.closed == [conn]
    client.close()


async def test_server_connection_header_timeout() -> None:
    client, server_stream = memory_stream_pair()
    app = App()
    conn = HTTP1ServerConnection(server_stream, HTTP1ConnectionParameters(header_timeout=0.2))
    conn.start_serving(app)
    await client.write(b"GET / HTTP/1.1\r\n")
    data = await asyncio.wait_for(client.read_until_close(), WAIT)
    assert data.startswith(b"HTTP/1.1 408 ")
    await asyncio.wait_for(conn.close(), WAIT)


# --- helpers ------------------------------------------------------------------------------


async def test_unread_puts_bytes_back_in_order() -> None:
    a, b = memory_stream_pair()
    await a.write(b"later")
    await asyncio.sleep(0.01)
    unread(b, b"first-")
    assert await asyncio.wait_for(b.read_bytes(11), WAIT) == b"first-later"
    unread(b, b"")
    a.close()
    b.close()


async def test_gzip_delegate_passes_plain_bodies_and_checks_streams() -> None:
    inner = Collector()
    plain = GzipMessageDelegate(inner, 1024, 1000)
    plain.headers_received(RequestStartLine("POST", "/", "HTTP/1.1"), HTTPHeaders())
    plain.data_received(b"as is")
    plain.finish()
    assert (inner.body, inner.finished) == (b"as is", True)

    inner = Collector()
    truncated = GzipMessageDelegate(inner, 1024, 1000)
    truncated.headers_received(
        RequestStartLine("POST", "/", "HTTP/1.1"), HTTPHeaders({"Content-Encoding": "gzip"})
    )
    result = truncated.data_received(gzip.compress(b"x" * 100)[:-8])
    assert result is not None
    await result
    with pytest.raises(HTTPInputError, match="truncated"):
        truncated.finish()

    # No content at all (a GET announcing the coding): nothing to decode, no error.
    inner = Collector()
    empty = GzipMessageDelegate(inner, 1024, 1000)
    empty.headers_received(
        RequestStartLine("GET", "/", "HTTP/1.1"), HTTPHeaders({"Content-Encoding": "gzip"})
    )
    empty.finish()
    assert (inner.body, inner.finished) == (b"", True)

    inner = Collector()
    garbage = GzipMessageDelegate(inner, 1024, 1000)
    garbage.headers_received(
        RequestStartLine("POST", "/", "HTTP/1.1"), HTTPHeaders({"Content-Encoding": "GZIP"})
    )
    broken = garbage.data_received(b"not gzip at all")
    assert broken is not None
    with pytest.raises(HTTPInputError, match="invalid gzip data"):
        await broken


async def test_gzip_delegate_limit_counts_decoded_bytes() -> None:
    inner = Collector()
    delegate = GzipMessageDelegate(inner, 4096, 50_000)
    delegate.headers_received(
        RequestStartLine("POST", "/", "HTTP/1.1"), HTTPHeaders({"Content-Encoding": "gzip"})
    )
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    packed = compressor.compress(bytes(100_000)) + compressor.flush()
    assert len(packed) < 50_000
    result = delegate.data_received(packed)
    assert result is not None
    with pytest.raises(HTTPInputError) as info:
        await result
    assert info.value.status_code == 413
    assert len(inner.body) <= 50_000


# --- the request connection HTTPServer hands out ------------------------------------------


async def test_request_connection_surface() -> None:
    seen: dict[str, Any] = {}

    def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert isinstance(conn, HTTP1Connection)
        stream: Any = conn.stream
        seen["closed"] = stream.closed()
        seen["peer"] = stream.get_extra_info("peername")
        seen["fileno"] = stream.fileno()
        stream.set_nodelay(True)
        seen["cert"] = request.get_ssl_certificate()
        seen["is_client"] = conn.is_client
        seen["no_keep_alive"] = conn.no_keep_alive
        seen["params"] = conn.params
        seen["context"] = str(conn.context)
        with pytest.raises(HTTPOutputError):
            conn.read_response(HTTPMessageDelegate())
        respond(request, b"ok")
        # Writing after the response is complete is a mistake of the application.
        with pytest.raises(HTTPOutputError):
            conn.write(b"more")
        seen["answered"] = True

    async with serve(app) as (server, port):
        client = await RawClient.connect(port)
        response = await client.request(get())
        await client.close()
    assert response.body == b"ok"
    assert seen["closed"] is False
    assert seen["peer"][0] == "127.0.0.1"
    assert seen["fileno"] > 0
    assert seen["cert"] is None
    assert seen["is_client"] is False
    assert seen["no_keep_alive"] is False
    assert seen["params"] is server.conn_params
    assert seen["context"] == "127.0.0.1"
    assert seen["answered"]


async def test_write_futures_follow_flow_control() -> None:
    piece = b"z" * (1024 * 1024)
    pieces = 64
    outcome: dict[str, Any] = {}

    async def app(request: HTTPServerRequest) -> None:
        conn = request.connection
        assert conn is not None
        await conn.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(piece) * pieces)}),
        )
        for i in range(pieces):
            future = conn.write(piece)
            if not future.done() and "pending_at" not in outcome:
                # The client is not reading: the kernel and transport buffers filled up.
                outcome["pending_at"] = i
            await future
        conn.finish()
        outcome["finished"] = True

    def start(request: HTTPServerRequest) -> None:
        asyncio.get_running_loop().create_task(app(request))

    async with serve(start) as (_server, port):
        client = await RawClient.connect(port)
        await client.send(get())
        for _ in range(100):
            if "pending_at" in outcome:
                break
            await asyncio.sleep(0.02)
        assert "pending_at" in outcome
        assert "finished" not in outcome
        response = await client.read_response()
        await client.close()
    assert len(response.body) == len(piece) * pieces
    assert outcome["finished"]
