"""How failed fetches surface: the classes, codes and messages callers catch.

Every failure of a fetch that is not an HTTP status (a malformed or oversized response,
a connection lost mid-response, a failing callback) is an ``HTTPClientError`` with code
599, so ``except HTTPClientError`` with a ``code == 599`` check sees all of them; the
original exception stays available as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _httpclient_helpers import raw_server, read_head
from typhoon import errors
from typhoon.httpclient import HTTPClientError
from typhoon.simple_httpclient import SimpleAsyncHTTPClient


@contextlib.asynccontextmanager
async def client(**kwargs: Any) -> AsyncIterator[SimpleAsyncHTTPClient]:
    instance = SimpleAsyncHTTPClient(force_instance=True, **kwargs)
    try:
        yield instance  # type: ignore[misc]
    finally:
        await instance.aclose()


# --- messages of 599 errors -------------------------------------------------------------


def test_timeout_and_stream_closed_print_their_message_alone() -> None:
    assert str(errors.HTTPTimeoutError("Timeout while connecting")) == "Timeout while connecting"
    assert str(errors.HTTPTimeoutError()) == "Timeout"
    assert str(errors.HTTPStreamClosedError()) == "Stream closed"
    assert str(errors.HTTPStreamClosedError("Connection closed")) == "Connection closed"
    # Other client errors keep the status in front.
    assert str(HTTPClientError(404)) == "HTTP 404: Not Found"
    assert str(HTTPClientError(599, "boom")) == "HTTP 599: boom"


async def test_queue_timeout_message_names_the_queue() -> None:
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with raw_server(slow) as (port, _), client(max_clients=1) as c:
        url = f"http://127.0.0.1:{port}/"
        first = c.fetch(url, request_timeout=10)
        await asyncio.sleep(0.05)
        with pytest.raises(errors.HTTPTimeoutError) as info:
            await c.fetch(url, connect_timeout=0.1, request_timeout=10)
        assert str(info.value) == "Timeout in request queue"
        assert info.value.code == 599
        release.set()
        assert (await first).code == 200


async def test_request_timeout_message_names_the_phase() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await asyncio.sleep(5)

    async with raw_server(silent) as (port, _), client() as c:
        with pytest.raises(errors.HTTPTimeoutError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/", request_timeout=0.2)
        assert str(info.value) == "Timeout during request"
