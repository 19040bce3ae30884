"""SimpleAsyncHTTPClient features over real loopback sockets: redirects, authentication,
decompression, callbacks, streamed uploads, 100-continue, timeouts, max_clients, limits
and connection pooling."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _httpclient_helpers import (
    DIGEST_PASSWORD,
    DIGEST_USER,
    WAIT,
    client,
    fixed_response,
    raw_server,
    read_head,
    stdlib_server,
)
from typhoon import errors
from typhoon.httpclient import (
    AsyncHTTPClient,
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
    _RequestProxy,
)
from typhoon.httpserver import HTTPServer
from typhoon.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine
from typhoon.netutil import Resolver, bind_sockets
from typhoon.simple_httpclient import SimpleAsyncHTTPClient


@pytest.fixture
def server() -> Iterator[tuple[str, Any]]:
    with stdlib_server() as (base, log):
        yield base, log


def echo(response: HTTPResponse) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.body)
    data["headers"] = {name.lower(): value for name, value in data["headers"]}
    return data


# --- redirects --------------------------------------------------------------------------


async def test_redirects_are_followed(server: tuple[str, Any]) -> None:
    base, log = server
    async with client() as c:
        response = await c.fetch(base + "/redirect?to=/hello")
        assert response.code == 200
        assert response.body == b"Hello world!"
        assert response.effective_url == base + "/hello"
        assert response.request.url == base + "/redirect?to=/hello"
        assert response.time_info["redirect"] > 0
        response = await c.fetch(base + "/countdown?n=5")
        assert response.body == b"done"
        # Five hops on one keep-alive connection.
        assert len(set(log.ports[-6:])) == 1


async def test_max_redirects_and_follow_redirects(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        with pytest.raises(HTTPClientError) as info:
            await c.fetch(base + "/countdown?n=6")
        assert info.value.code == 302
        response = await c.fetch(base + "/countdown?n=3", max_redirects=2, raise_error=False)
        assert response.code == 302
        assert response.headers["Location"] == "/countdown?n=0"
        response = await c.fetch(base + "/countdown?n=1", follow_redirects=False, raise_error=False)
        assert (response.code, response.effective_url) == (302, base + "/countdown?n=1")
    async with client(defaults={"max_redirects": 1}) as c:
        response = await c.fetch(base + "/countdown?n=2", raise_error=False)
        assert response.code == 302


@pytest.mark.parametrize(
    ("code", "method", "expected_method", "body_kept"),
    [
        (301, "POST", "GET", False),
        (302, "POST", "GET", False),
        (303, "POST", "GET", False),
        (303, "PUT", "GET", False),
        (303, "HEAD", "HEAD", False),
        (302, "PUT", "PUT", True),
        (301, "DELETE", "DELETE", False),
        (307, "POST", "POST", True),
        (308, "PUT", "PUT", True),
    ],
)
async def test_redirect_methods(
    server: tuple[str, Any], code: int, method: str, expected_method: str, body_kept: bool
) -> None:
    base, log = server
    body = b"payload" if method in ("POST", "PUT") else None
    async with client() as c:
        response = await c.fetch(
            f"{base}/redirect?code={code}&to=/echo",
            method=method,
            body=body,
            headers={"Content-Type": "text/x-test"} if body else None,
        )
    assert response.code == 200
    last = log.requests[-1]
    assert last["method"] == expected_method
    headers = {name.lower(): value for name, value in last["headers"]}
    if body_kept:
        assert last["body"] == b"payload"
        assert headers["content-type"] == "text/x-test"
    else:
        assert last["body"] == b""
        assert "content-length" not in headers
        assert "content-type" not in headers


async def test_redirect_with_body_producer_replays_it(server: tuple[str, Any]) -> None:
    base, log = server
    calls = 0

    async def producer(write: Any) -> None:
        nonlocal calls
        calls += 1
        await write(b"streamed")

    async with client() as c:
        await c.fetch(base + "/redirect?code=307&to=/echo", method="POST", body_producer=producer)
    assert calls == 2
    assert log.requests[-1]["body"] == b"streamed"


# --- authentication ---------------------------------------------------------------------


async def test_basic_auth(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        response = await c.fetch(base + "/basic", auth_username="user", auth_password="pass word")
        assert response.body == b"authorized"
        response = await c.fetch(
            base + "/basic", auth_username="user", auth_password="pass word", auth_mode="basic"
        )
        assert response.body == b"authorized"
        userinfo = base.replace("http://", "http://user:pass%20word@")
        assert (await c.fetch(userinfo + "/basic")).body == b"authorized"
        with pytest.raises(HTTPClientError) as info:
            await c.fetch(base + "/basic", auth_username="user", auth_password="wrong")
        assert info.value.code == 401
        with pytest.raises(ValueError, match="unsupported auth_mode"):
            await c.fetch(base + "/basic", auth_username="u", auth_password="p", auth_mode="ntlm")


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
async def test_digest_auth(server: tuple[str, Any], algorithm: str) -> None:
    base, log = server
    async with client() as c:
        response = await c.fetch(
            f"{base}/digest?algorithm={algorithm}",
            auth_username=DIGEST_USER,
            auth_password=DIGEST_PASSWORD,
            auth_mode="digest",
        )
        assert response.body == b"digest ok"
        # The challenge and the answer went over one connection.
        assert len(set(log.ports[-2:])) == 1
        with pytest.raises(HTTPClientError) as info:
            await c.fetch(
                f"{base}/digest?algorithm={algorithm}",
                auth_username=DIGEST_USER,
                auth_password="wrong",
                auth_mode="digest",
            )
        assert info.value.code == 401


async def test_digest_auth_with_a_body(server: tuple[str, Any]) -> None:
    base, log = server
    async with client() as c:
        response = await c.fetch(
            base + "/digest",
            method="POST",
            body=b"form=1",
            auth_username=DIGEST_USER,
            auth_password=DIGEST_PASSWORD,
            auth_mode="digest",
        )
    assert response.body == b"digest ok"
    assert log.requests[-1]["body"] == b"form=1"


# --- decompression ----------------------------------------------------------------------


async def test_gzip_and_deflate_are_decoded(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        response = await c.fetch(base + "/gzip?size=5000")
        assert response.body == b"x" * 5000
        assert "Content-Encoding" not in response.headers
        assert response.headers["X-Consumed-Content-Encoding"] == "gzip"
        assert (await c.fetch(base + "/deflate?size=3000")).body == b"y" * 3000
        assert (await c.fetch(base + "/deflate?size=3000&raw=1")).body == b"y" * 3000


async def test_decompression_can_be_turned_off(server: tuple[str, Any]) -> None:
    base, log = server
    async with client() as c:
        response = await c.fetch(base + "/gzip?size=100", decompress_response=False)
        assert gzip.decompress(response.body) == b"x" * 100
        assert response.headers["Content-Encoding"] == "gzip"
        sent = {name.lower(): value for name, value in log.requests[-1]["headers"]}
        assert "accept-encoding" not in sent
        response = await c.fetch(base + "/gzip?size=100", use_gzip=False)
        assert response.headers["Content-Encoding"] == "gzip"


async def test_multi_member_gzip_and_corrupt_gzip() -> None:
    two = gzip.compress(b"first,") + gzip.compress(b"second")
    good = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(two)
    corrupt = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789"
    async with raw_server(fixed_response(good + two, corrupt)) as (port, _), client() as c:
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"first,second"
        with pytest.raises(errors.HTTPStreamClosedError, match="compressed"):
            await c.fetch(f"http://127.0.0.1:{port}/")


# --- callbacks and streamed bodies ------------------------------------------------------


async def test_streaming_and_header_callbacks(server: tuple[str, Any]) -> None:
    base, _log = server
    chunks: list[bytes] = []
    lines: list[str] = []
    async with client() as c:
        response = await c.fetch(
            base + "/redirect?to=/chunked%3Fpieces%3D3",
            streaming_callback=chunks.append,
            header_callback=lines.append,
        )
    assert response.body == b""
    assert b"".join(chunks) == b"piece0;piece1;piece2;"
    # Only the final response is reported, status line first and a blank line last.
    assert lines[0] == "HTTP/1.1 200 OK\r\n"
    assert "Transfer-Encoding: chunked\r\n" in lines
    assert lines[-1] == "\r\n"
    assert not any("Location" in line for line in lines)


async def test_streaming_callback_gets_decompressed_data(server: tuple[str, Any]) -> None:
    base, _log = server
    chunks: list[bytes] = []
    async with client() as c:
        await c.fetch(base + "/gzip?size=200000", streaming_callback=chunks.append)
    assert b"".join(chunks) == b"x" * 200000
    assert max(len(chunk) for chunk in chunks) <= 65536


async def test_callback_errors_fail_the_fetch(server: tuple[str, Any]) -> None:
    base, _log = server

    def explode(chunk: bytes) -> None:
        raise ZeroDivisionError("from the callback")

    async with client() as c:
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(base + "/hello", streaming_callback=explode)
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        assert (await c.fetch(base + "/hello")).code == 200


async def test_body_producer(server: tuple[str, Any]) -> None:
    base, log = server

    async def producer(write: Any) -> None:
        for piece in (b"one,", b"", "two,", b"three"):
            await write(piece)

    def sync_producer(write: Any) -> None:
        write(b"12345")

    async with client() as c:
        data = echo(await c.fetch(base + "/echo", method="POST", body_producer=producer))
        assert data["body"] == "one,two,three"
        assert data["headers"]["transfer-encoding"] == "chunked"
        data = echo(
            await c.fetch(
                base + "/echo",
                method="PUT",
                body_producer=sync_producer,
                headers={"Content-Length": "5"},
            )
        )
        assert data["body"] == "12345"
        assert "transfer-encoding" not in data["headers"]
        with pytest.raises(errors.HTTPOutputError):
            await c.fetch(
                base + "/echo",
                method="PUT",
                body_producer=sync_producer,
                headers={"Content-Length": "3"},
            )
    # The overrun is refused before any of its bytes are written (the head may have
    # reached the server, which then sees the connection close with no body).
    await asyncio.sleep(0.1)
    assert [request["body"] for request in log.requests[2:]] in ([], [b""])


async def test_expect_100_continue(server: tuple[str, Any]) -> None:
    base, log = server
    async with client() as c:
        data = echo(
            await c.fetch(base + "/echo", method="POST", body=b"after go", expect_100_continue=True)
        )
        assert data["body"] == "after go"
        assert data["headers"]["expect"] == "100-continue"
        response = await c.fetch(
            base + "/refuse-continue",
            method="POST",
            body=b"never sent",
            expect_100_continue=True,
            raise_error=False,
        )
        assert response.code == 417
    assert len(log.requests) == 1


async def test_expect_100_continue_sends_the_body_when_the_server_stays_silent() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        assert b"Expect: 100-continue" in head
        body = await asyncio.wait_for(reader.readexactly(4), WAIT)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + body)
        await writer.drain()

    async with raw_server(handle) as (port, _), client() as c:
        response = await c.fetch(
            f"http://127.0.0.1:{port}/", method="POST", body=b"data", expect_100_continue=True
        )
    assert response.body == b"data"
    assert 0.5 < response.request_time < WAIT  # type: ignore[operator]


# --- timeouts and max_clients -----------------------------------------------------------


async def test_request_timeout(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        with pytest.raises(errors.HTTPTimeoutError, match="during request") as info:
            await c.fetch(base + "/slow?delay=2", request_timeout=0.2)
        assert info.value.code == 599
        assert info.value.response is None
        with pytest.raises(errors.HTTPTimeoutError):
            await c.fetch(base + "/slow?delay=2", request_timeout=0.2, raise_error=False)
        assert (await c.fetch(base + "/hello")).code == 200


class _StuckResolver(Resolver):
    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        await asyncio.sleep(WAIT * 2)
        raise AssertionError("the connect timeout should have fired")


async def test_connect_timeout() -> None:
    async with client(resolver=_StuckResolver()) as c:
        with pytest.raises(errors.HTTPTimeoutError, match="while connecting"):
            await c.fetch("http://example.invalid/", connect_timeout=0.1)
        with pytest.raises(errors.HTTPTimeoutError, match="during request"):
            await c.fetch("http://example.invalid/", connect_timeout=5, request_timeout=0.1)


async def test_max_clients_queues_requests(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(max_clients=1) as c:
        first = c.fetch(base + "/slow?delay=0.3")
        second = c.fetch(base + "/hello")
        await asyncio.sleep(0.05)
        assert len(c.active) == 1
        assert len(c.waiting) == 1
        responses = await asyncio.gather(first, second)
        assert [r.code for r in responses] == [200, 200]
        assert responses[1].time_info["queue"] > 0.1
        assert not c.active
        assert not c.waiting


async def test_queue_timeout_and_cancellation(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(max_clients=1) as c:
        slow = c.fetch(base + "/slow?delay=0.6")
        await asyncio.sleep(0.05)
        with pytest.raises(errors.HTTPTimeoutError, match="in request queue"):
            await c.fetch(base + "/hello", request_timeout=0.1)
        cancelled = c.fetch(base + "/hello")
        await asyncio.sleep(0.05)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not c.waiting
        assert not c.queue
        assert (await slow).code == 200
        assert (await c.fetch(base + "/hello")).code == 200


async def test_fetch_impl_callback_interface(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(max_clients=1) as c:
        done: asyncio.Future[HTTPResponse] = asyncio.get_running_loop().create_future()
        c.fetch_impl(_RequestProxy(HTTPRequest(base + "/hello"), c.defaults), done.set_result)
        response = await asyncio.wait_for(done, WAIT)
        assert response.body == b"Hello world!"


class _Tracking(SimpleAsyncHTTPClient):
    """A subclass that wraps fetch_impl, which makes fetch go through it."""

    seen: list[str]

    def fetch_impl(self, request: Any, callback: Any) -> None:
        self.seen.append(request.url)
        super().fetch_impl(request, callback)


async def test_subclass_fetch_impl_is_used(server: tuple[str, Any]) -> None:
    base, _log = server
    c = _Tracking(force_instance=True)
    c.seen = []
    try:
        assert (await c.fetch(base + "/hello")).code == 200
        with pytest.raises(HTTPClientError):
            await c.fetch(base + "/status?code=500")
        assert c.seen == [base + "/hello", base + "/status?code=500"]
        slow = c.fetch(base + "/slow?delay=2")
        await asyncio.sleep(0.1)
        slow.cancel()
        await asyncio.sleep(0.05)
        assert not c.active
    finally:
        await c.aclose()


async def test_close_fails_queued_and_running_fetches(server: tuple[str, Any]) -> None:
    base, _log = server
    c = SimpleAsyncHTTPClient(force_instance=True, max_clients=1)
    results: list[HTTPResponse] = []
    c.fetch_impl(_RequestProxy(HTTPRequest(base + "/slow?delay=2"), c.defaults), results.append)
    c.fetch_impl(_RequestProxy(HTTPRequest(base + "/hello"), c.defaults), results.append)
    direct = c.fetch(base + "/hello")
    await asyncio.sleep(0.1)
    await c.aclose()
    assert [r.code for r in results] == [599, 599]
    assert all(isinstance(r.error, errors.HTTPStreamClosedError) for r in results)
    assert direct.cancelled()


# --- limits -----------------------------------------------------------------------------


async def test_max_body_size(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(max_body_size=1000) as c:
        assert len((await c.fetch(base + "/large?size=1000")).body) == 1000
        with pytest.raises(errors.HTTPStreamClosedError):
            await c.fetch(base + "/large?size=1001")
        with pytest.raises(errors.HTTPStreamClosedError, match="max_body_size"):
            await c.fetch(base + "/gzip?size=1001")
        with pytest.raises(errors.HTTPStreamClosedError):
            await c.fetch(base + "/chunked?pieces=200")
        assert (await c.fetch(base + "/hello")).code == 200


async def test_max_header_size() -> None:
    big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000 + b"\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(fixed_response(big)) as (port, _), client(max_header_size=1024) as c:
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/")
        cause = info.value.__cause__
        assert isinstance(cause, errors.HTTPInputError)
        assert cause.status_code == 431


async def test_size_limits_given_as_floats() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with (
        raw_server(fixed_response(answer)) as (port, _),
        client(max_header_size=65536.0, max_body_size=1e6) as c,
    ):
        response = await c.fetch(f"http://127.0.0.1:{port}/")
    assert (response.code, response.body) == (200, b"ok")


# --- addresses --------------------------------------------------------------------------


async def test_ipv6_literal() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await read_head(reader)
                seen.append(head)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "::1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client() as c:
            response = await c.fetch(f"http://[::1]:{port}/six")
            assert response.body == b"v6"
            assert response.time_info["connect"] > 0
            again = await c.fetch(f"http://[::1]:{port}/six")
            assert again.time_info["connect"] == 0
    finally:
        server.close()
        await server.wait_closed()
    assert f"Host: [::1]:{port}".encode() in seen[0]
    assert seen[0].startswith(b"GET /six HTTP/1.1\r\n")


# --- connection pooling -----------------------------------------------------------------


async def test_pool_can_be_disabled(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(max_idle_per_origin=0) as c:
        ports = {int((await c.fetch(base + "/port")).body) for _ in range(3)}
    assert len(ports) == 3


async def test_idle_connections_expire(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(idle_connection_timeout=0.2) as c:
        first = int((await c.fetch(base + "/port")).body)
        assert int((await c.fetch(base + "/port")).body) == first
        await asyncio.sleep(0.5)
        assert len(c._pool) == 0
        assert int((await c.fetch(base + "/port")).body) != first


async def test_idle_connections_are_bounded_per_origin(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(max_idle_per_origin=2) as c:
        await asyncio.gather(*(c.fetch(base + "/slow?delay=0.2") for _ in range(4)))
        assert len(c._pool) == 2


async def test_concurrent_fetches_use_separate_connections(server: tuple[str, Any]) -> None:
    base, log = server
    async with client() as c:
        await asyncio.gather(*(c.fetch(base + "/slow?delay=0.2") for _ in range(3)))
    assert len(set(log.ports)) == 3


def _keep_alive_then_close(count: list[int]) -> Any:
    """Answers one request per connection without saying it will close, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count.append(1)
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    return handle


async def test_stale_pooled_connection_is_retried_for_idempotent_requests() -> None:
    count: list[int] = []
    async with raw_server(_keep_alive_then_close(count)) as (port, _), client() as c:
        url = f"http://127.0.0.1:{port}/"
        assert (await c.fetch(url)).body == b"ok"
        await asyncio.sleep(0.2)
        assert (await c.fetch(url)).body == b"ok"
        assert len(count) == 2


async def test_stale_pooled_connection_fails_non_idempotent_requests() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # Read the next request, then drop the connection without answering.
        await read_head(reader)
        writer.transport.abort()

    async with raw_server(handle) as (port, _), client() as c:
        url = f"http://127.0.0.1:{port}/"
        await c.fetch(url)
        with pytest.raises(errors.HTTPStreamClosedError):
            await c.fetch(url, method="POST", body=b"once")


async def test_response_without_length_closes_the_connection() -> None:
    response = b"HTTP/1.1 200 OK\r\n\r\nuntil close"
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"until close"
        assert len(c._pool) == 0


async def test_http10_response() -> None:
    response = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold"
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"old"
        assert len(c._pool) == 0


async def test_interim_responses_are_skipped() -> None:
    response = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
    )
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"final"


# --- against typhoon's own server -------------------------------------------------------


@contextlib.asynccontextmanager
async def typhoon_server(handler: Any, **kwargs: Any) -> AsyncIterator[str]:
    server = HTTPServer(handler, **kwargs)
    [sock] = bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    server.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), WAIT)


def _answer(request: HTTPServerRequest) -> None:
    connection = request.connection
    assert connection is not None
    body = json.dumps(
        {
            "method": request.method,
            "uri": request.uri,
            "body": request.body.decode("latin-1"),
            "peer": request.remote_ip,
            "port": request.connection.stream.socket.getpeername()[1]  # type: ignore[union-attr]
            if getattr(request.connection, "stream", None) is not None
            else None,
        }
    ).encode()
    headers = HTTPHeaders({"Content-Type": "application/json"})
    connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body)
    connection.finish()


async def test_against_typhoon_httpserver() -> None:
    async with typhoon_server(_answer) as base, client() as c:
        response = await c.fetch(base + "/path?q=1")
        assert json.loads(response.body)["uri"] == "/path?q=1"
        response = await c.fetch(base + "/post", method="POST", body=b"x" * 100000)
        assert json.loads(response.body)["body"] == "x" * 100000

        async def producer(write: Any) -> None:
            for _ in range(10):
                await write(b"0123456789")

        response = await c.fetch(
            base + "/chunked", method="PUT", body_producer=producer, expect_100_continue=True
        )
        assert json.loads(response.body)["body"] == "0123456789" * 10
        assert len(c._pool) == 1


async def test_typhoon_httpserver_body_limit_is_reported() -> None:
    async with typhoon_server(_answer, max_body_size=1000) as base, client() as c:
        response = await c.fetch(
            base + "/", method="POST", body=b"x" * 5000, expect_100_continue=True, raise_error=False
        )
        assert response.code == 413
        assert len(c._pool) == 0
        assert (await c.fetch(base + "/")).code == 200


async def test_shared_client_instance_fetch(server: tuple[str, Any]) -> None:
    base, _log = server
    shared = AsyncHTTPClient()
    try:
        assert (await shared.fetch(base + "/hello")).code == 200
    finally:
        await shared.aclose()
