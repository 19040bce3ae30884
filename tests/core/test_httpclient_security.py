"""Regression tests of the HTTP client for the attack classes of Tornado's history that
reach a client: header injection, credential leaks on redirects, redirect scheme
confusion, decompression bombs, and response framing ambiguities (FEATURES.md, section 5)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from _httpclient_helpers import client, fixed_response, raw_server, read_head, stdlib_server
from typhoon import errors
from typhoon.httpclient import HTTPRequest
from typhoon.httputil import HTTPHeaders


@pytest.fixture
def two_servers() -> Iterator[tuple[str, Any, str, Any]]:
    with stdlib_server() as (base_a, log_a), stdlib_server() as (base_b, log_b):
        yield base_a, log_a, base_b, log_b


def sent_headers(log: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in log.requests[-1]["headers"]}


# --- header injection (CVE-2012-2374, GHSA-w235-7p84-xx57) ------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/a\r\nX-Injected: 1",
        "http://127.0.0.1:{port}/a\nX-Injected: 1",
        "http://127.0.0.1:{port}/a\rb",
        "http://127.0.0.1:{port}/a\x00b",
        "http://127.0.0.1:{port}/a b",
        "http://127.0.0.1:{port}/a\tb",
        "http://127.0.0.1:{port}\r\n/",
    ],
)
async def test_control_characters_in_the_url_are_refused(url: str) -> None:
    async with raw_server(fixed_response(b"HTTP/1.1 200 OK\r\n\r\n")) as (port, conns):
        async with client() as c:
            with pytest.raises(errors.HTTPOutputError, match="URL"):
                await c.fetch(url.format(port=port))
        assert conns == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Test", "a\r\nX-Injected: 1"),
        ("X-Test", "a\nb"),
        ("X-Test", "a\rb"),
        ("X-Test", "a\x00b"),
        ("X-Test\r\nX-Injected", "1"),
        ("X Test", "1"),
        ("X:Test", "1"),
        ("", "1"),
    ],
)
def test_bad_header_fields_are_refused(name: str, value: str) -> None:
    with pytest.raises(errors.HTTPOutputError):
        # What fetch() turns a plain dict of headers into.
        HTTPHeaders({name: value})
    request = HTTPRequest("http://127.0.0.1/")
    with pytest.raises(errors.HTTPOutputError):
        request.headers[name] = value
    with pytest.raises(errors.HTTPOutputError):
        request.headers.add(name, value)


@pytest.mark.parametrize("method", ["GET / HTTP/1.1\r\nX-Injected:", "GE T", "GET\n", "", "G\x00"])
async def test_bad_methods_are_refused(method: str) -> None:
    async with raw_server(fixed_response(b"HTTP/1.1 200 OK\r\n\r\n")) as (port, conns):
        async with client() as c:
            with pytest.raises(errors.HTTPOutputError, match="method"):
                await c.fetch(
                    f"http://127.0.0.1:{port}/", method=method, allow_nonstandard_methods=True
                )
        # The check runs before a single byte is written.
        await asyncio.sleep(0.05)
        assert len(conns) <= 1


async def test_user_agent_with_line_break_is_refused() -> None:
    async with client() as c:
        with pytest.raises(errors.HTTPOutputError):
            await c.fetch("http://127.0.0.1:1/", user_agent="agent\r\nX-Injected: 1")


# --- credentials and redirects (CVE-2026-49853) -----------------------------------------


async def test_credentials_are_dropped_on_cross_origin_redirects(
    two_servers: tuple[str, Any, str, Any],
) -> None:
    base_a, log_a, base_b, log_b = two_servers
    secrets = {
        "Authorization": "Bearer secret-token",
        "Cookie": "session=secret",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "X-Other": "kept",
    }
    async with client() as c:
        await c.fetch(f"{base_a}/redirect?to={base_b}/echo", headers=dict(secrets))
        to_b = sent_headers(log_b)
        assert "authorization" not in to_b
        assert "cookie" not in to_b
        assert "proxy-authorization" not in to_b
        assert to_b["x-other"] == "kept"
        # The same origin keeps them.
        await c.fetch(f"{base_a}/redirect?to=/echo", headers=dict(secrets))
        same = sent_headers(log_a)
        assert same["authorization"] == "Bearer secret-token"
        assert same["cookie"] == "session=secret"


async def test_auth_options_only_reach_their_origin(two_servers: tuple[str, Any, str, Any]) -> None:
    base_a, log_a, base_b, log_b = two_servers
    async with client() as c:
        await c.fetch(
            f"{base_a}/redirect?to={base_b}/redirect%3Fto%3D{base_a}/echo",
            auth_username="user",
            auth_password="secret",
        )
        assert "authorization" not in {n.lower() for n, _ in log_b.requests[-1]["headers"]}
        # Back on the first origin the credentials apply again.
        assert sent_headers(log_a)["authorization"].startswith("Basic ")
        userinfo = base_a.replace("http://", "http://user:secret@")
        await c.fetch(f"{userinfo}/redirect?to={base_b}/echo")
        assert "authorization" not in sent_headers(log_b)


async def test_different_port_or_scheme_is_another_origin(
    two_servers: tuple[str, Any, str, Any],
) -> None:
    base_a, _log_a, base_b, log_b = two_servers
    # Same host name, different port: still another origin (RFC 6454).
    assert base_a.split(":")[1] == base_b.split(":")[1]
    async with client() as c:
        await c.fetch(f"{base_a}/redirect?to={base_b}/echo", headers={"Cookie": "a=b"})
    assert "cookie" not in sent_headers(log_b)


# --- redirect targets (Tornado 4.5, 6.6.1) ----------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "ftp://127.0.0.1/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/plain,hello",
        "gopher://127.0.0.1:70/",
        "http://127.0.0.1:1/a b",
        "http://[::1/",
    ],
)
async def test_only_http_redirects_are_followed(location: str) -> None:
    response = (
        b"HTTP/1.1 302 Found\r\nLocation: " + location.encode() + b"\r\nContent-Length: 0\r\n\r\n"
    )
    async with raw_server(fixed_response(response, response)) as (port, conns), client() as c:
        started = time.monotonic()
        # The fetch fails as a request for that URL would, whatever raise_error says.
        with pytest.raises(ValueError, match=r"[Uu]nsupported|URL|port|IPv6") as info:
            await c.fetch(f"http://127.0.0.1:{port}/", raise_error=False)
        if ":" in location.split("/", 1)[0] and not location.startswith("http"):
            assert "Unsupported url scheme" in str(info.value)
        assert time.monotonic() - started < 2
        with pytest.raises(type(info.value)):
            await c.fetch(f"http://127.0.0.1:{port}/")
        # The redirect's body was read, so the connection was kept for the second.
        assert len(conns) == 1


# --- decompression bombs (CVE-2026-49855) -----------------------------------------------


def _bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * 1024 * 1024
    data = b"".join(compressor.compress(block) for _ in range(size // len(block)))
    return data + compressor.flush()


@pytest.mark.parametrize("streaming", [False, True])
async def test_decompression_bomb_is_cut_at_max_body_size(streaming: bool) -> None:
    bomb = _bomb(200 * 1024 * 1024)
    assert len(bomb) < 300 * 1024
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb)
    received = 0

    def count(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)

    async with (
        raw_server(fixed_response(head + bomb)) as (port, _),
        client(max_body_size=1024 * 1024) as c,
    ):
        started = time.monotonic()
        with pytest.raises(errors.HTTPStreamClosedError, match="max_body_size"):
            await c.fetch(
                f"http://127.0.0.1:{port}/", streaming_callback=count if streaming else None
            )
        assert time.monotonic() - started < 5
    assert received <= 1024 * 1024


async def test_small_gzip_under_the_limit_passes() -> None:
    body = gzip.compress(b"a" * 1000)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
    async with (
        raw_server(fixed_response(head + body)) as (port, _),
        client(max_body_size=1000) as c,
    ):
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"a" * 1000


# --- response framing (Tornado 4.3, GHSA-qppv-j76h-2rpx, GHSA-753j-mpmx-qq6g) -----------


@pytest.mark.parametrize(
    "response",
    [
        # Both Content-Length and Transfer-Encoding.
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        # Conflicting or malformed lengths.
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5_0\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\nhello",
        # Malformed chunk sizes.
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5_\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        # Chunked twice, or not last while another coding is named.
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        # Obsolete line folding, whitespace before the colon, control characters.
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
        # Broken status lines.
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
        b"NOTHTTP 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
)
async def test_ambiguous_or_malformed_responses_are_refused(response: bytes) -> None:
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/")
        assert isinstance(info.value.__cause__, errors.HTTPInputError)
        assert len(c._pool) == 0


async def test_truncated_bodies_are_errors() -> None:
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    for response in (short, chunked):
        async with raw_server(fixed_response(response)) as (port, _), client() as c:
            with pytest.raises(errors.HTTPStreamClosedError):
                await c.fetch(f"http://127.0.0.1:{port}/")


async def test_extra_bytes_after_a_response_are_never_a_later_response() -> None:
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" + smuggled)
        await writer.drain()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
            await writer.drain()
            await reader.read()

    async with raw_server(handle) as (port, conns), client() as c:
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"first"
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"first"
        assert len(conns) == 2


async def test_unsolicited_bytes_on_an_idle_connection_retire_it() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
        await writer.drain()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            await reader.read()

    async with raw_server(handle) as (port, conns), client() as c:
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"ok"
        await asyncio.sleep(0.2)
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b"ok"
        assert len(conns) == 2


async def test_101_without_upgrade_request_is_refused() -> None:
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    )
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        with pytest.raises(errors.HTTPStreamClosedError):
            await c.fetch(f"http://127.0.0.1:{port}/")
