"""Gzip-coded request bodies (``decompress_request``): several members, trailing bytes.

RFC 1952, section 2.2: a gzip file is a series of members, each a complete gzip
stream. The decoder must deliver every member, and a body whose bytes after the
last member are not a complete member is malformed (400), not silently cut.
"""

from __future__ import annotations

import gzip
import json

import pytest
from _httphelpers import MODES, Collector, RawClient, describe, serve
from typhoon.errors import HTTPInputError
from typhoon.http1connection import GzipMessageDelegate
from typhoon.httputil import (
    HTTPHeaders,
    RequestStartLine,
)


def _decoder(
    inner: Collector, chunk_size: int = 1024, limit: int = 1_000_000
) -> GzipMessageDelegate:
    delegate = GzipMessageDelegate(inner, chunk_size, limit)
    delegate.headers_received(
        RequestStartLine("POST", "/", "HTTP/1.1"), HTTPHeaders({"Content-Encoding": "gzip"})
    )
    return delegate


async def _feed(delegate: GzipMessageDelegate, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        result = delegate.data_received(data[start : start + size])
        if result is not None:
            await result


TWO_MEMBERS = gzip.compress(b"first member, ") + gzip.compress(b"second member" * 50)


@pytest.mark.parametrize("size", [1, 7, 20, len(TWO_MEMBERS)])
async def test_every_member_is_decoded(size: int) -> None:
    inner = Collector()
    delegate = _decoder(inner, chunk_size=16)
    await _feed(delegate, TWO_MEMBERS, size)
    delegate.finish()
    assert inner.body == b"first member, " + b"second member" * 50
    assert inner.finished


async def test_a_member_boundary_at_a_chunk_boundary() -> None:
    inner = Collector()
    delegate = _decoder(inner)
    first = gzip.compress(b"a" * 10)
    await _feed(delegate, first, len(first))
    await _feed(delegate, gzip.compress(b"b" * 10), 1000)
    delegate.finish()
    assert inner.body == b"a" * 10 + b"b" * 10


@pytest.mark.parametrize(
    "trailer",
    [b"\x00", b"garbage after the stream", gzip.compress(b"cut short")[:-3], b"\x1f"],
    ids=["nul", "garbage", "truncated-member", "half-magic"],
)
async def test_bytes_after_the_last_member_are_refused(trailer: bytes) -> None:
    inner = Collector()
    delegate = _decoder(inner)
    with pytest.raises(HTTPInputError) as info:
        await _feed(delegate, gzip.compress(b"payload") + trailer, 5)
        delegate.finish()
    assert info.value.status_code == 400
    assert not inner.finished


async def test_decoded_limit_counts_every_member() -> None:
    inner = Collector()
    delegate = _decoder(inner, chunk_size=4096, limit=150_000)
    member = gzip.compress(bytes(100_000))
    with pytest.raises(HTTPInputError) as info:
        await _feed(delegate, member + member, 1 << 20)
    assert info.value.status_code == 413
    assert len(inner.body) <= 150_000


def _post(body: bytes) -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )


@pytest.mark.parametrize("mode", MODES)
async def test_server_decodes_concatenated_members(mode: str) -> None:
    body = gzip.compress(b"foo=") + gzip.compress(b"bar")
    async with serve(describe, mode, decompress_request=True) as (_server, port):
        client = await RawClient.connect(port)
        response = await client.request(_post(body))
        await client.close()
    assert response.status == 200
    assert json.loads(response.body)["body"] == "foo=bar"


@pytest.mark.parametrize("mode", MODES)
async def test_server_answers_400_to_trailing_garbage(mode: str) -> None:
    async with serve(describe, mode, decompress_request=True) as (_server, port):
        for trailer in (b"\x00", b"tail"):
            client = await RawClient.connect(port)
            await client.send(_post(gzip.compress(b"foo=bar") + trailer))
            data = await client.read_to_end()
            await client.close()
            assert data.startswith(b"HTTP/1.1 400 "), data[:80]
