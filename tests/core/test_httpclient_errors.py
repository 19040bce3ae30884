"""How failed fetches surface: the classes, codes and messages callers catch.

Every failure of a fetch that is not an HTTP status (a malformed or oversized response,
a connection lost mid-response, a failing callback) is an ``HTTPClientError`` with code
599, so ``except HTTPClientError`` with a ``code == 599`` check sees all of them; the
original exception stays available as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest
from _httpclient_helpers import client, fixed_response, raw_server, read_head
from typhoon import errors
from typhoon.httpclient import HTTPClientError

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


# --- failures of the response are 599s --------------------------------------------------

_OK_HEAD = b"HTTP/1.1 200 OK\r\n"


def _length_response(body: bytes, extra: bytes = b"") -> bytes:
    return _OK_HEAD + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.mark.parametrize(
    "response",
    [
        # Field line folding is obsolete and must be refused (RFC 9112, section 5.2).
        _OK_HEAD + b"X-A: 1;\r\n\tmode=block\r\nContent-Length: 0\r\n\r\n",
        _OK_HEAD + b"X-A: a\x01b\r\nContent-Length: 0\r\n\r\n",
        _OK_HEAD + b"Content-Length: x\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        _OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["obs-fold", "control-char", "bad-length", "bad-status", "bad-chunk"],
)
async def test_malformed_response_is_a_stream_closed_error(response: bytes) -> None:
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/", raise_error=False)
        assert info.value.code == 599
        assert isinstance(info.value.__cause__, errors.HTTPInputError)


async def test_body_over_max_body_size_is_a_599() -> None:
    body = b"x" * 5000
    async with (
        raw_server(fixed_response(_length_response(body))) as (port, _),
        client(max_body_size=1000) as c,
    ):
        with pytest.raises(HTTPClientError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/")
        assert info.value.code == 599
        assert "larger than" in str(info.value)
        assert isinstance(info.value.__cause__, errors.HTTPInputError)
        # A large body within the limit still arrives whole.
        async with client(max_body_size=5000) as c:
            assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == body


async def test_body_until_close_over_max_body_size_is_a_599() -> None:
    response = _OK_HEAD + b"Connection: close\r\n\r\n" + b"y" * 20000
    async with (
        raw_server(fixed_response(response)) as (port, _),
        client(max_body_size=4096) as c,
    ):
        with pytest.raises(errors.HTTPStreamClosedError):
            await c.fetch(f"http://127.0.0.1:{port}/")


async def test_head_over_max_header_size_is_a_599() -> None:
    response = _OK_HEAD + b"X-Big: " + b"h" * 8000 + b"\r\nContent-Length: 0\r\n\r\n"
    async with (
        raw_server(fixed_response(response)) as (port, _),
        client(max_header_size=1024) as c,
    ):
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/")
        assert info.value.code == 599


async def test_decompression_bomb_is_a_599() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
    response = _length_response(bomb, b"Content-Encoding: gzip\r\n")
    async with (
        raw_server(fixed_response(response)) as (port, _),
        client(max_body_size=1024 * 1024) as c,
    ):
        with pytest.raises(errors.HTTPStreamClosedError, match="max_body_size"):
            await c.fetch(f"http://127.0.0.1:{port}/")


async def test_connection_lost_mid_body_is_a_599() -> None:
    response = _OK_HEAD + b"Content-Length: 100\r\n\r\nonly part"
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/", raise_error=False)
        assert info.value.code == 599


async def test_network_interface_that_is_not_an_address_fails_clearly() -> None:
    async with raw_server(fixed_response(_length_response(b"ok"))) as (port, conns):
        async with client() as c:
            url = f"http://127.0.0.1:{port}/"
            assert (await c.fetch(url, network_interface="127.0.0.1")).body == b"ok"
            with pytest.raises(ValueError, match="network_interface"):
                await c.fetch(url, network_interface="not-interface-or-ip")
        assert len(conns) == 1


# --- callbacks --------------------------------------------------------------------------


async def test_failing_streaming_callback_is_logged_and_fails_the_fetch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(chunk: bytes) -> None:
        raise RuntimeError("callback broke")

    async with (
        raw_server(fixed_response(_length_response(b"hello"))) as (port, _),
        client() as c,
    ):
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/", streaming_callback=explode)
    assert isinstance(info.value.__cause__, RuntimeError)
    logged = [r for r in caplog.records if r.name == "typhoon.application"]
    assert len(logged) == 1
    assert "streaming_callback" in logged[0].getMessage()
    assert logged[0].exc_info is not None


async def test_failing_header_callback_is_logged_and_fails_the_fetch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line.startswith("Content-Length"):
            raise KeyError(line)

    async with (
        raw_server(fixed_response(_length_response(b"hello"))) as (port, _),
        client() as c,
    ):
        with pytest.raises(errors.HTTPStreamClosedError) as info:
            await c.fetch(f"http://127.0.0.1:{port}/", header_callback=on_line)
    assert isinstance(info.value.__cause__, KeyError)
    assert lines[0].startswith("HTTP/1.1 200")
    assert any("header_callback" in r.getMessage() for r in caplog.records)


def _chunked(*pieces: bytes) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return _OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body


async def test_coroutine_streaming_callback_is_awaited_before_the_next_chunk() -> None:
    pieces = [b"one-", b"two-", b"three"]
    events: list[str] = []
    active = 0

    async def slow(chunk: bytes) -> None:
        nonlocal active
        active += 1
        assert active == 1, "a chunk arrived while the previous one was still handled"
        events.append("start " + chunk.decode())
        await asyncio.sleep(0.02)
        events.append("end " + chunk.decode())
        active -= 1

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        response = _chunked(*pieces)
        head_end = response.index(b"\r\n\r\n") + 4
        writer.write(response[:head_end])
        rest = response[head_end:]
        for i in range(0, len(rest), 7):
            writer.write(rest[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0.001)

    async with raw_server(trickle) as (port, _), client() as c:
        response = await c.fetch(f"http://127.0.0.1:{port}/", streaming_callback=slow)
    assert response.code == 200
    assert response.body == b""
    text = "".join(e.split(" ", 1)[1] for e in events if e.startswith("start"))
    assert text == "one-two-three"
    # Every start is followed by its own end.
    assert all(
        a.split()[0] == "start" and b.split()[0] == "end"
        for a, b in zip(events[::2], events[1::2], strict=True)
    )


async def test_awaitable_from_a_plain_callable_is_awaited() -> None:
    got: list[bytes] = []
    loop = asyncio.get_running_loop()

    def later(chunk: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = loop.create_future()
        loop.call_later(0.01, lambda: (got.append(chunk), future.set_result(None)))
        return future

    gz = gzip.compress(b"abc" * 50000)
    response = _length_response(gz, b"Content-Encoding: gzip\r\n")
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        await c.fetch(f"http://127.0.0.1:{port}/", streaming_callback=later)
    assert b"".join(got) == b"abc" * 50000


async def test_coroutine_callback_that_fails_fails_the_fetch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(chunk: bytes) -> None:
        await asyncio.sleep(0)
        raise ValueError("late failure")

    async def cancelled_inside(chunk: bytes) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.cancel()
        await future

    async with raw_server(fixed_response(_length_response(b"hello"))) as (port, _):
        for callback in (broken, cancelled_inside):
            async with client() as c:
                with pytest.raises(errors.HTTPStreamClosedError):
                    await c.fetch(f"http://127.0.0.1:{port}/", streaming_callback=callback)
    assert len([r for r in caplog.records if r.name == "typhoon.application"]) == 2


async def test_cancelled_fetch_leaves_no_callback_behind() -> None:
    started = asyncio.Event()
    finished: list[bytes] = []

    async def stuck(chunk: bytes) -> None:
        started.set()
        await asyncio.sleep(10)
        finished.append(chunk)

    async with raw_server(fixed_response(_chunked(b"a", b"b"))) as (port, _), client() as c:
        fetch = c.fetch(f"http://127.0.0.1:{port}/", streaming_callback=stuck)
        await asyncio.wait_for(started.wait(), 5)
        fetch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fetch
    assert finished == []


async def test_request_timeout_during_a_slow_callback_is_a_timeout() -> None:
    async def stuck(chunk: bytes) -> None:
        await asyncio.sleep(10)

    async with (
        raw_server(fixed_response(_length_response(b"hello"))) as (port, _),
        client() as c,
    ):
        with pytest.raises(errors.HTTPTimeoutError):
            await c.fetch(
                f"http://127.0.0.1:{port}/", streaming_callback=stuck, request_timeout=0.2
            )


# --- corrupt compressed bodies ----------------------------------------------------------

_TEXT = b"the quick brown fox " * 300


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(_TEXT)[:-1],
        gzip.compress(_TEXT)[:40],
        gzip.compress(_TEXT) + b"\0",
        gzip.compress(_TEXT) + b"garbage",
        b"\x1f",
        zlib.compress(_TEXT) + b"junk",
    ],
    ids=[
        "truncated-trailer",
        "truncated-data",
        "trailing-nul",
        "trailing-garbage",
        "one-byte",
        "deflate-trailing",
    ],
)
async def test_corrupt_compressed_body_fails(body: bytes) -> None:
    coding = b"deflate" if body.startswith(b"\x78") else b"gzip"
    response = _length_response(body, b"Content-Encoding: " + coding + b"\r\n")
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        with pytest.raises(errors.HTTPStreamClosedError, match="compressed"):
            await c.fetch(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize("split", [1, 2, 17])
async def test_concatenated_gzip_members_still_decode(split: int) -> None:
    body = gzip.compress(b"first;") + gzip.compress(b"second;") + gzip.compress(b"")
    response = _length_response(body, b"Content-Encoding: gzip\r\n")

    async def pieces(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        for i in range(0, len(response), split):
            writer.write(response[i : i + split])
            await writer.drain()

    async with raw_server(pieces) as (port, _), client() as c:
        result = await c.fetch(f"http://127.0.0.1:{port}/")
    assert result.body == b"first;second;"


async def test_empty_body_with_a_content_coding_is_accepted() -> None:
    response = _length_response(b"", b"Content-Encoding: gzip\r\n")
    async with raw_server(fixed_response(response)) as (port, _), client() as c:
        assert (await c.fetch(f"http://127.0.0.1:{port}/")).body == b""
