"""Stream pairs for tests, and the conformance checks every stream implementation passes.

Layer 6 (testing). Imports ``iostream``, ``errors`` and the standard library.

Pairs: :func:`memory_stream_pair` (no sockets; for testing code that drives a stream),
:func:`tcp_stream_pair`, :func:`unix_stream_pair`, :func:`tls_stream_pair` and
:func:`pipe_stream_pair` (real descriptors on the loopback or in the kernel).

Checks: each entry of :data:`ONE_WAY_CHECKS` is an ``async`` function taking
``(writer, reader)``, two connected streams where bytes written to ``writer`` arrive at
``reader``; :data:`TWO_WAY_CHECKS` take ``(a, b)`` connected both ways. Run one with
:func:`run_check` (fresh pair, time limit, cleanup), or all of them with
:func:`check_one_way_stream` / :func:`check_two_way_stream`. A new stream
implementation is conformant when every check passes over its pairs.
"""

from __future__ import annotations

__all__ = [
    "ONE_WAY_CHECKS",
    "TWO_WAY_CHECKS",
    "MemoryStream",
    "StreamCheck",
    "StreamPairFactory",
    "check_one_way_stream",
    "check_two_way_stream",
    "memory_stream_pair",
    "pipe_stream_pair",
    "run_check",
    "tcp_stream_pair",
    "tls_stream_pair",
    "unix_stream_pair",
]

import asyncio
import hashlib
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from typhoon.errors import (
    StreamBufferFullError,
    StreamBusyError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from typhoon.iostream import BaseIOStream, IOStream, PipeIOStream, SSLIOStream
from typhoon.testing._memory import MemoryStream, memory_stream_pair

#: An ``async`` check over a pair of connected streams.
StreamCheck = Callable[[BaseIOStream, BaseIOStream], Awaitable[None]]
#: Makes a fresh pair of connected streams: ``(writer, reader)`` or ``(a, b)``.
StreamPairFactory = Callable[[], Awaitable[tuple[BaseIOStream, BaseIOStream]]]

#: Seconds one check may take before it fails.
CHECK_TIMEOUT = 20.0


# --- pairs -----------------------------------------------------------------------------


async def _accepted_pair(
    listener: socket.socket,
    make_client: Callable[[], IOStream],
    make_server: Callable[[socket.socket], IOStream],
    address: Any,
) -> tuple[IOStream, IOStream]:
    loop = asyncio.get_running_loop()
    listener.listen(1)
    listener.setblocking(False)
    try:
        client = make_client()
        connected = client.connect(address)
        accepted, _ = await loop.sock_accept(listener)
        server = make_server(accepted)
        await connected
    finally:
        listener.close()
    return client, server


async def tcp_stream_pair(
    family: socket.AddressFamily = socket.AF_INET, **kwargs: Any
) -> tuple[IOStream, IOStream]:
    """Return ``(client, server)`` IOStreams over a fresh loopback TCP connection.

    ``family`` is ``AF_INET`` or ``AF_INET6``; ``kwargs`` go to both streams.
    """
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    return await _accepted_pair(
        listener,
        lambda: IOStream(socket.socket(family, socket.SOCK_STREAM), **kwargs),
        lambda sock: IOStream(sock, **kwargs),
        listener.getsockname()[:2],
    )


async def unix_stream_pair(path: str, **kwargs: Any) -> tuple[IOStream, IOStream]:
    """Return ``(client, server)`` IOStreams over a Unix socket bound at ``path``."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    try:
        return await _accepted_pair(
            listener,
            lambda: IOStream(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), **kwargs),
            lambda sock: IOStream(sock, **kwargs),
            path,
        )
    finally:
        os.unlink(path)


async def tls_stream_pair(
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
    server_hostname: str = "localhost",
    **kwargs: Any,
) -> tuple[SSLIOStream, SSLIOStream]:
    """Return ``(client, server)`` SSLIOStreams over loopback TCP, handshake completed."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    client, server = await _accepted_pair(
        listener,
        lambda: SSLIOStream(
            socket.socket(),
            ssl_options=client_context,
            server_hostname=server_hostname,
            **kwargs,
        ),
        lambda sock: SSLIOStream(sock, ssl_options=server_context, **kwargs),
        listener.getsockname(),
    )
    assert isinstance(client, SSLIOStream)
    assert isinstance(server, SSLIOStream)
    await server.wait_for_handshake()
    return client, server


async def pipe_stream_pair(**kwargs: Any) -> tuple[PipeIOStream, PipeIOStream]:
    """Return ``(writer, reader)`` PipeIOStreams over a fresh ``os.pipe()``."""
    r, w = os.pipe()
    return PipeIOStream(w, **kwargs), PipeIOStream(r, **kwargs)


# --- running ---------------------------------------------------------------------------


async def run_check(check: StreamCheck, make_pair: StreamPairFactory) -> None:
    """Run ``check`` on a fresh pair from ``make_pair``, within a time limit.

    Both streams are closed, and their transports given time to finish, afterwards.
    """
    first, second = await make_pair()
    try:
        await asyncio.wait_for(check(first, second), CHECK_TIMEOUT)
    finally:
        await asyncio.wait_for(asyncio.gather(first.aclose(), second.aclose()), CHECK_TIMEOUT)


async def check_one_way_stream(make_pair: StreamPairFactory) -> None:
    """Run every check of :data:`ONE_WAY_CHECKS` over fresh ``(writer, reader)`` pairs."""
    for check in ONE_WAY_CHECKS:
        await run_check(check, make_pair)


async def check_two_way_stream(make_pair: StreamPairFactory) -> None:
    """Run every one-way check in both directions, then every two-way check."""

    async def reversed_pair() -> tuple[BaseIOStream, BaseIOStream]:
        a, b = await make_pair()
        return b, a

    await check_one_way_stream(make_pair)
    await check_one_way_stream(reversed_pair)
    for check in TWO_WAY_CHECKS:
        await run_check(check, make_pair)


async def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``condition`` every loop turn (then every millisecond) until it holds."""
    deadline = time.monotonic() + timeout
    turns = 0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        turns += 1
        await asyncio.sleep(0 if turns < 50 else 0.001)


async def _exchange_one_byte(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """Make sure both ends are fully open (transports connected, handshakes done)."""
    await writer.write(b"!")
    if await reader.read_bytes(1) != b"!":
        raise AssertionError("the first byte did not arrive intact")


async def _closed_error(awaitable: Awaitable[Any], what: str) -> StreamClosedError:
    """Await ``awaitable``, which must fail with StreamClosedError; return the error."""
    try:
        await awaitable
    except StreamClosedError as exc:
        return exc
    raise AssertionError(f"{what} did not fail with StreamClosedError")


def _raises_closed(action: Callable[[], object], what: str) -> StreamClosedError:
    """Call ``action``, which must raise StreamClosedError at once; return the error."""
    try:
        action()
    except StreamClosedError as exc:
        return exc
    raise AssertionError(f"{what} did not raise StreamClosedError")


async def _closed_by_peer(stream: BaseIOStream) -> None:
    await _wait_for(stream.closed, "the stream to see the peer's close")


# --- one-way checks --------------------------------------------------------------------


async def check_read_bytes(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """read_bytes returns exactly the requested count, across separate writes."""
    writer.write(b"abc")
    writer.write(b"defgh")
    assert await reader.read_bytes(2) == b"ab"
    assert await reader.read_bytes(4) == b"cdef"
    assert await reader.read_bytes(0) == b""
    assert await reader.read_bytes(2) == b"gh"


async def check_read_bytes_partial(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """read_bytes(partial=True) returns what is there, at most num_bytes, never empty."""
    pending = reader.read_bytes(100, partial=True)
    writer.write(b"0123456789")
    got = await pending
    assert got
    assert b"0123456789".startswith(got)
    while len(got) < 10:
        more = await reader.read_bytes(3, partial=True)
        assert 0 < len(more) <= 3
        got += more
    assert got == b"0123456789"


async def check_read_until(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """read_until finds delimiters split across writes and returns them included."""
    writer.write(b"first\r")
    pending = reader.read_until(b"\r\n")
    await asyncio.sleep(0.01)
    assert not pending.done()
    writer.write(b"\nsecond\r\nthi")
    writer.write(b"rd\r\n")
    assert await pending == b"first\r\n"
    assert await reader.read_until(b"\r\n") == b"second\r\n"
    assert await reader.read_until(b"\r\n") == b"third\r\n"


async def check_read_until_many_lines(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """Many lines written at once are read back one by one."""
    lines = [b"line %d\n" % i for i in range(200)]
    writer.write(b"".join(lines))
    for line in lines:
        assert await reader.read_until(b"\n") == line


async def check_read_until_max_bytes(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """A delimiter within max_bytes is fine; beyond it the stream closes, unsatisfiable."""
    writer.write(b"abc\ndefghijk")
    assert await reader.read_until(b"\n", max_bytes=4) == b"abc\n"
    error = await _closed_error(reader.read_until(b"\n", max_bytes=5), "read past max_bytes")
    assert isinstance(error.real_error, UnsatisfiableReadError)
    assert reader.closed()
    assert isinstance(reader.error, UnsatisfiableReadError)


async def check_read_until_max_bytes_later(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """max_bytes is also enforced on data arriving after the read started."""
    pending = reader.read_until(b"\n", max_bytes=8)
    writer.write(b"0123")
    await asyncio.sleep(0.01)
    assert not pending.done()
    writer.write(b"456789\n")
    error = await _closed_error(pending, "read past max_bytes")
    assert isinstance(error.real_error, UnsatisfiableReadError)


async def check_read_until_regex(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """read_until_regex returns through the end of the first match."""
    pending = reader.read_until_regex(rb"\r?\n\r?\n")
    writer.write(b"Host: x\r\nA: b\r\n")
    await asyncio.sleep(0.01)
    assert not pending.done()
    writer.write(b"\r\nbody")
    assert await pending == b"Host: x\r\nA: b\r\n\r\n"
    assert await reader.read_bytes(4) == b"body"
    writer.write(b"key=1;key=22;")
    assert await reader.read_until_regex(rb"key=\d\d;") == b"key=1;key=22;"


async def check_read_until_regex_max_bytes(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """A regex that does not match within max_bytes closes the stream."""
    writer.write(b"x" * 20)
    error = await _closed_error(
        reader.read_until_regex(rb"\n", max_bytes=10), "regex read past max_bytes"
    )
    assert isinstance(error.real_error, UnsatisfiableReadError)


async def check_read_into(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """read_into fills the buffer; partial=True returns as soon as something arrived."""
    target = bytearray(6)
    pending = reader.read_into(target)
    writer.write(b"abc")
    await asyncio.sleep(0.01)
    assert not pending.done()
    writer.write(b"defXY")
    assert await pending == 6
    assert target == b"abcdef"
    small = bytearray(10)
    count = await reader.read_into(small, partial=True)
    assert 0 < count <= 2
    assert bytes(small[:count]) == b"XY"[:count]
    if count < 2:
        assert await reader.read_bytes(2 - count) == b"XY"[count:]
    view = memoryview(bytearray(4))
    later = reader.read_into(view, partial=True)
    writer.write(b"Z")
    assert await later == 1
    assert view[0] == ord("Z")


async def check_read_until_close(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """read_until_close returns everything written before the writer closed."""
    pending = reader.read_until_close()
    writer.write(b"all of ")
    writer.write(b"it")
    writer.close()
    assert await pending == b"all of it"
    assert reader.closed()
    assert reader.error is None
    # Once closed, it returns what is buffered (nothing now).
    assert await reader.read_until_close() == b""


async def check_read_after_close_uses_buffer(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """A pending read fails on close; buffered bytes stay readable; then reads raise."""
    pending = reader.read_bytes(10)
    writer.write(b"12345")
    writer.close()
    error = await _closed_error(pending, "read_bytes past the end")
    assert error.real_error is None
    assert reader.closed()
    assert await reader.read_bytes(3) == b"123"
    assert await reader.read_bytes(5, partial=True) == b"45"
    _raises_closed(lambda: reader.read_bytes(1), "read_bytes on a closed, drained stream")


async def check_close_callback_on_peer_close(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """The close callback runs once, on the loop, when the peer closes."""
    calls: list[bool] = []
    reader.set_close_callback(lambda: calls.append(reader.closed()))
    writer.close()
    await _closed_by_peer(reader)
    await _wait_for(lambda: bool(calls), "the close callback")
    await asyncio.sleep(0.01)
    assert calls == [True]


async def check_close_callback_on_own_close(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """Closing a stream schedules its close callback (not called inline)."""
    calls: list[str] = []
    reader.set_close_callback(lambda: calls.append("closed"))
    reader.close()
    assert reader.closed()
    assert calls == []
    await _wait_for(lambda: bool(calls), "the close callback")
    reader.close()
    await asyncio.sleep(0.01)
    assert calls == ["closed"]
    # Setting a callback on a closed stream schedules it too.
    reader.set_close_callback(lambda: calls.append("late"))
    await _wait_for(lambda: len(calls) == 2, "the late close callback")


async def check_writer_sees_close(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """The writing end learns that the reading end went away."""
    reader.close()
    deadline = time.monotonic() + 5
    while not writer.closed():
        # Some transports notice only when a write fails (a pipe, a TCP reset).
        try:
            await writer.write(b"x" * 1024)
        except StreamClosedError:
            break
        if time.monotonic() > deadline:
            raise AssertionError("the writer never saw the close")
        await asyncio.sleep(0.005)
    await _closed_by_peer(writer)
    _raises_closed(lambda: writer.write(b"more"), "write on a closed stream")


async def check_write_after_close_raises(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """write on a stream closed locally raises StreamClosedError at once."""
    writer.close()
    error = _raises_closed(lambda: writer.write(b"x"), "write after close")
    assert error.real_error is None


async def check_close_with_error(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """close(exc_info=...) records the error and hands it to the pending read."""
    pending = reader.read_bytes(1)
    problem = ValueError("broken")
    reader.close(exc_info=problem)
    error = await _closed_error(pending, "the pending read")
    assert error.real_error is problem
    assert reader.error is problem
    try:
        raise KeyError("from handler")
    except KeyError:
        writer.close(exc_info=True)
    assert isinstance(writer.error, KeyError)


async def check_one_read_at_a_time(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """A second read while one is pending raises StreamBusyError; the first still works."""
    first = reader.read_bytes(2)
    assert reader.reading()
    try:
        reader.read_until(b"\n")
    except StreamBusyError:
        pass
    else:
        raise AssertionError("a concurrent read did not raise")
    writer.write(b"ok")
    assert await first == b"ok"
    assert not reader.reading()


async def check_cancelled_read_keeps_data(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """Cancelling a pending read frees the stream; the data goes to the next read."""
    abandoned = reader.read_bytes(5)
    abandoned.cancel()
    writer.write(b"hello")
    await asyncio.sleep(0.01)
    assert await reader.read_bytes(5) == b"hello"


async def check_large_transfer(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """4 MiB written with flow control arrive intact through partial reads."""
    block = bytes(range(256)) * 256  # 64 KiB
    total = 64 * len(block)
    sent = hashlib.sha256()

    async def produce() -> None:
        for i in range(64):
            piece = bytes([i]) + block[1:]
            sent.update(piece)
            await writer.write(piece)

    producer = asyncio.ensure_future(produce())
    received = hashlib.sha256()
    count = 0
    while count < total:
        chunk = await reader.read_bytes(total - count, partial=True)
        received.update(chunk)
        count += len(chunk)
    await producer
    assert count == total
    assert received.digest() == sent.digest()


async def check_big_read_bytes(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """One read_bytes of 8 MiB completes from many transport chunks."""
    size = 8 * 1024 * 1024
    pending = reader.read_bytes(size)
    piece = b"0123456789abcdef" * 4096

    async def produce() -> None:
        for _ in range(size // len(piece)):
            await writer.write(piece)

    producer = asyncio.ensure_future(produce())
    data = await pending
    await producer
    assert len(data) == size
    assert data[:16] == b"0123456789abcdef"
    assert data.count(b"0123456789abcdef") == size // 16


async def check_write_flow_control(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """With nobody reading, write futures stop resolving; reading releases them."""
    await _exchange_one_byte(writer, reader)
    piece = b"w" * 65536
    written = 0
    blocked: asyncio.Future[None] | None = None
    for _ in range(1024):  # at most 64 MiB
        future = writer.write(piece)
        written += len(piece)
        if not future.done():
            blocked = future
            break
        await asyncio.sleep(0)
    assert blocked is not None, "writes never waited for the reader"
    assert writer.writing()
    assert writer.statistics().writing_paused
    received = 0
    while received < written:
        received += len(await reader.read_bytes(written - received, partial=True))
    await asyncio.wait_for(blocked, 5)
    await _wait_for(lambda: not writer.writing(), "the write buffer to drain")


async def check_read_back_pressure(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """Unread data pauses the reading transport near read_chunk_size; reads resume it."""
    await _exchange_one_byte(writer, reader)
    reader.read_chunk_size = 16 * 1024
    piece = b"p" * 8192
    total = 0
    for _ in range(256):  # 2 MiB at most
        writer.write(piece)
        total += len(piece)
        await asyncio.sleep(0)
        if reader.statistics().reading_paused:
            break
    await _wait_for(lambda: reader.statistics().reading_paused, "reading to pause")
    held = reader.statistics().read_buffer_size
    # One transport read may overshoot the mark; nothing more is taken in.
    assert 16 * 1024 <= held <= 16 * 1024 + 512 * 1024
    await asyncio.sleep(0.02)
    assert reader.statistics().read_buffer_size == held
    received = 0
    while received < total:
        received += len(await reader.read_bytes(total - received, partial=True))
    assert received == total


async def check_max_buffer_size(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """A read that needs more than max_buffer_size closes the stream (buffer full)."""
    reader.max_buffer_size = 4096
    pending = reader.read_until(b"\n")
    writer.write(b"z" * 10000)
    error = await _closed_error(pending, "a read beyond max_buffer_size")
    assert isinstance(error.real_error, StreamBufferFullError)
    assert reader.closed()


async def check_max_write_buffer_size(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """write refuses data that would take unsent bytes past max_write_buffer_size."""
    await _exchange_one_byte(writer, reader)
    writer.max_write_buffer_size = 256 * 1024
    piece = b"m" * 65536
    refused = False
    for _ in range(4096):  # at most 256 MiB offered
        try:
            writer.write(piece)
        except StreamBufferFullError:
            refused = True
            break
        await asyncio.sleep(0)
    assert refused
    assert not writer.closed()
    assert writer.statistics().write_buffer_size <= 256 * 1024


async def check_reading_and_writing_flags(writer: BaseIOStream, reader: BaseIOStream) -> None:
    """reading() reports a pending read; writing() reports unsent data."""
    assert not reader.reading()
    pending = reader.read_bytes(3)
    assert reader.reading()
    await writer.write(b"abc")
    assert await pending == b"abc"
    assert not reader.reading()
    await _wait_for(lambda: not writer.writing(), "the write buffer to drain")


# --- two-way checks --------------------------------------------------------------------


async def check_echo(a: BaseIOStream, b: BaseIOStream) -> None:
    """Request-response in both directions, as an echo server would see it."""

    async def echo() -> None:
        for _ in range(50):
            line = await b.read_until(b"\n")
            await b.write(line.upper())

    echoer = asyncio.ensure_future(echo())
    for i in range(50):
        await a.write(b"ping %d\n" % i)
        assert await a.read_until(b"\n") == b"PING %d\n" % i
    await echoer


async def check_simultaneous_bulk(a: BaseIOStream, b: BaseIOStream) -> None:
    """Both ends send 2 MiB at once while reading; neither stalls."""
    size = 2 * 1024 * 1024
    piece = b"s" * 65536

    async def send(stream: BaseIOStream) -> None:
        for _ in range(size // len(piece)):
            await stream.write(piece)

    async def receive(stream: BaseIOStream) -> int:
        data = await stream.read_bytes(size)
        return len(data)

    results = await asyncio.gather(send(a), send(b), receive(a), receive(b))
    assert list(results[2:]) == [size, size]


async def check_close_reaches_both_ways(a: BaseIOStream, b: BaseIOStream) -> None:
    """Whichever end closes, the other end's pending read fails and it closes."""
    pending = b.read_until(b"\n")
    a.close()
    await _closed_error(pending, "a read pending when the peer closed")
    assert b.closed()


ONE_WAY_CHECKS: tuple[StreamCheck, ...] = (
    check_read_bytes,
    check_read_bytes_partial,
    check_read_until,
    check_read_until_many_lines,
    check_read_until_max_bytes,
    check_read_until_max_bytes_later,
    check_read_until_regex,
    check_read_until_regex_max_bytes,
    check_read_into,
    check_read_until_close,
    check_read_after_close_uses_buffer,
    check_close_callback_on_peer_close,
    check_close_callback_on_own_close,
    check_writer_sees_close,
    check_write_after_close_raises,
    check_close_with_error,
    check_one_read_at_a_time,
    check_cancelled_read_keeps_data,
    check_large_transfer,
    check_big_read_bytes,
    check_write_flow_control,
    check_read_back_pressure,
    check_max_buffer_size,
    check_max_write_buffer_size,
    check_reading_and_writing_flags,
)

TWO_WAY_CHECKS: tuple[StreamCheck, ...] = (
    check_echo,
    check_simultaneous_bulk,
    check_close_reaches_both_ways,
)
