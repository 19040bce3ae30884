"""Specific behaviour of typhoon.iostream beyond the shared conformance checks.

Large reads, back-pressure, TLS (handshake, failures, start_tls, ssl_options forms),
pipes, socket options, connect life cycle, logging of closes, and the memory pair.
"""

from __future__ import annotations

import array
import asyncio
import errno
import logging
import os
import socket
import ssl
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from typhoon import iostream
from typhoon.errors import (
    StreamBufferFullError,
    StreamBusyError,
    StreamClosedError,
    TyphoonError,
    UnsatisfiableReadError,
)
from typhoon.ioloop import IOLoop
from typhoon.iostream import BaseIOStream, IOStream, PipeIOStream, SSLIOStream
from typhoon.testing.streams import memory_stream_pair, tcp_stream_pair, tls_stream_pair


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def test_exceptions_are_reexported_from_the_error_tree() -> None:
    assert iostream.StreamClosedError is StreamClosedError
    assert iostream.StreamBufferFullError is StreamBufferFullError
    assert iostream.UnsatisfiableReadError is UnsatisfiableReadError
    assert issubclass(iostream.StreamClosedError, TyphoonError)
    assert issubclass(iostream.StreamClosedError, OSError)
    assert issubclass(iostream.StreamBusyError, RuntimeError)
    for name in iostream.__all__:
        assert getattr(iostream, name).__doc__, name


# --- reading -----------------------------------------------------------------------------


async def test_read_bytes_of_100_mb_from_64_kb_chunks() -> None:
    # The read buffer keeps chunks as they come and joins them once: this completes in
    # about a second, where per-chunk copying would take minutes.
    size = 100 * 1000 * 1000
    writer, reader = memory_stream_pair(chunk_size=64 * 1024, write_high_water=8 << 20)
    pending = reader.read_bytes(size)
    block = b"0123456789abcdef" * 65536  # 1 MiB

    async def produce() -> None:
        sent = 0
        while sent < size:
            piece = block[: size - sent]
            await writer.write(piece)
            sent += len(piece)

    producer = asyncio.ensure_future(produce())
    data = await pending
    await producer
    assert len(data) == size
    assert data[:16] == b"0123456789abcdef"
    assert data[-16:] == block[(size % len(block)) - 16 : size % len(block)]
    stats = reader.statistics()
    assert stats.bytes_read == size
    assert stats.read_buffer_size == 0
    del data
    await writer.aclose()
    await reader.aclose()


async def test_read_bytes_beyond_max_buffer_size_closes_with_buffer_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer, reader = memory_stream_pair(max_buffer_size=1000)
    pending = reader.read_bytes(5000)
    with caplog.at_level(logging.ERROR, logger="typhoon.general"):
        writer.write(b"x" * 3000)
        with pytest.raises(StreamClosedError) as info:
            await pending
    assert isinstance(info.value.real_error, StreamBufferFullError)
    assert "maximum read buffer size" in caplog.text
    assert reader.closed()


async def test_unread_data_beyond_max_buffer_size_pauses_instead_of_failing() -> None:
    # With no read pending, data over the limit is held (reading paused) rather than
    # treated as an error: a later read that fits still succeeds.
    writer, reader = memory_stream_pair(max_buffer_size=1000)
    writer.write(b"y" * 1500)
    await asyncio.sleep(0.01)
    assert reader.statistics().reading_paused
    assert not reader.closed()
    assert await reader.read_bytes(800) == b"y" * 800
    assert await reader.read_bytes(700) == b"y" * 700


async def test_unsatisfiable_read_logs_and_sets_error(caplog: pytest.LogCaptureFixture) -> None:
    writer, reader = memory_stream_pair()
    writer.write(b"abcdefgh")
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.INFO, logger="typhoon.general"):
        future = reader.read_until(b"\n", max_bytes=4)
        with pytest.raises(StreamClosedError) as info:
            await future
    assert isinstance(info.value.real_error, UnsatisfiableReadError)
    assert reader.error is info.value.real_error
    assert "Unsatisfiable read" in caplog.text


async def test_read_until_delimiter_ending_exactly_at_max_bytes() -> None:
    writer, reader = memory_stream_pair()
    writer.write(b"abc\n")
    assert await reader.read_until(b"\n", max_bytes=4) == b"abc\n"


async def test_read_until_rejects_empty_delimiter_and_negative_counts() -> None:
    _writer, reader = memory_stream_pair()
    with pytest.raises(ValueError, match="non-empty"):
        reader.read_until(b"")
    with pytest.raises(ValueError, match="negative"):
        reader.read_bytes(-1)


async def test_read_until_regex_accepts_a_compiled_pattern() -> None:
    import re

    writer, reader = memory_stream_pair(chunk_size=3)
    writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest")
    pattern = re.compile(rb"\r\n\r\n")
    assert await reader.read_until_regex(pattern) == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert await reader.read_bytes(4) == b"rest"


async def test_read_until_regex_within_max_bytes_succeeds() -> None:
    writer, reader = memory_stream_pair()
    writer.write(b"12345;rest")
    assert await reader.read_until_regex(rb";", max_bytes=6) == b"12345;"


async def test_read_into_accepts_typed_buffers_and_copies_straight_in() -> None:
    writer, reader = memory_stream_pair(chunk_size=2)
    target = array.array("i", [0, 0])
    pending = reader.read_into(memoryview(target))
    writer.write(struct.pack("=ii", 7, -9))
    assert await pending == 8
    assert list(target) == [7, -9]
    # partial=True returns after the first delivered piece (chunk_size=2).
    buf = bytearray(10)
    later = reader.read_into(buf, partial=True)
    writer.write(b"abcdef")
    assert await later == 2
    assert buf[:2] == b"ab"
    assert await reader.read_bytes(4) == b"cdef"


async def test_tcp_read_into_of_megabytes_and_partial() -> None:
    client, server = await tcp_stream_pair()
    target = bytearray(3 << 20)
    pending = server.read_into(target)
    block = bytes(range(256)) * 4096  # 1 MiB
    for _ in range(3):
        await client.write(block)
    assert await asyncio.wait_for(pending, 10) == len(target)
    assert target == block * 3
    assert server.statistics().bytes_read == len(target)
    # partial=True completes with the first read; later bytes wait in the read buffer.
    small = bytearray(1 << 20)
    later = server.read_into(small, partial=True)
    await client.write(b"xy")
    assert await asyncio.wait_for(later, 10) == 2
    assert small[:2] == b"xy"
    # Socket reads take at most 64 KiB, so a large partial read gets one such chunk.
    reading = server.read_bytes(len(block), partial=True)
    await client.write(block)
    chunk = await asyncio.wait_for(reading, 10)
    assert 0 < len(chunk) <= 64 * 1024
    assert chunk == block[: len(chunk)]
    client.close()
    server.close()


async def test_tls_read_into_then_read_until(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    client, server = await tls_stream_pair(server_context, client_context)
    target = bytearray(300_000)
    pending = server.read_into(target)
    # Random bytes fill the target; what follows has a single newline, at its end.
    payload = os.urandom(len(target)) + b"after end\n"
    await client.write(payload)
    assert await asyncio.wait_for(pending, 10) == len(target)
    assert target == payload[: len(target)]
    assert await server.read_until(b"\n") == payload[len(target) :]
    client.close()
    server.close()


async def test_streams_on_one_loop_keep_their_own_bytes() -> None:
    # Interleaved deliveries on several connections reach the right reader intact.
    pairs = [await tcp_stream_pair() for _ in range(4)]
    payloads = [bytes([65 + i]) * 200_000 + b"\n" for i in range(len(pairs))]
    reads = [server.read_until(b"\n") for _client, server in pairs]
    for first_half in (True, False):
        for (client, _server), payload in zip(pairs, payloads, strict=True):
            half = len(payload) // 2
            client.write(payload[:half] if first_half else payload[half:])
        await asyncio.sleep(0)
    results = await asyncio.wait_for(asyncio.gather(*reads), 10)
    assert results == payloads
    for client, server in pairs:
        client.close()
        server.close()


async def test_read_into_leftover_stays_buffered() -> None:
    writer, reader = memory_stream_pair()
    buf = bytearray(3)
    pending = reader.read_into(buf)
    writer.write(b"abcdef")
    assert await pending == 3
    assert buf == b"abc"
    assert reader.statistics().read_buffer_size == 3
    writer.close()
    assert await reader.read_until_close() == b"def"


async def test_read_until_close_beyond_max_buffer_size_fails() -> None:
    writer, reader = memory_stream_pair(max_buffer_size=100, read_chunk_size=50)
    pending = reader.read_until_close()
    writer.write(b"z" * 500)
    with pytest.raises(StreamClosedError) as info:
        await pending
    assert isinstance(info.value.real_error, StreamBufferFullError)


async def test_second_read_message_is_clear() -> None:
    _writer, reader = memory_stream_pair()
    reader.read_bytes(1)
    with pytest.raises(StreamBusyError, match="one read at a time"):
        reader.read_until_close()


async def test_partial_read_after_peer_close_returns_buffered_then_raises() -> None:
    writer, reader = memory_stream_pair()
    writer.write(b"tail")
    writer.close()
    await asyncio.sleep(0.01)
    assert reader.closed()
    assert await reader.read_bytes(100, partial=True) == b"tail"
    with pytest.raises(StreamClosedError):
        reader.read_bytes(1, partial=True)


# --- writing -----------------------------------------------------------------------------


async def test_write_copies_mutable_buffers() -> None:
    writer, reader = memory_stream_pair()
    scratch = bytearray(b"first")
    writer.write(scratch)
    scratch[:] = b"XXXXX"
    writer.write(memoryview(b"-second"))
    assert await reader.read_bytes(12) == b"first-second"


async def test_write_before_and_after_open_keeps_order(listener: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    client = IOStream(socket.socket())
    connected = client.connect(listener.getsockname())
    client.write(b"early ")
    assert client.writing()
    accepted, _ = await loop.sock_accept(listener)
    server = IOStream(accepted)
    server.write(b"hi")
    assert await connected is client
    client.write(b"late")
    assert await server.read_bytes(10) == b"early late"
    assert await client.read_bytes(2) == b"hi"
    await client.aclose()
    await server.aclose()


async def test_write_on_spent_write_side_reports_closed() -> None:
    writer, reader = memory_stream_pair()
    reader.close(exc_info=ConnectionAbortedError("gone"))
    await asyncio.sleep(0.01)
    assert writer.closed()
    assert isinstance(writer.error, ConnectionResetError)
    with pytest.raises(StreamClosedError) as info:
        writer.write(b"x")
    assert isinstance(info.value.real_error, ConnectionResetError)


async def test_pending_write_futures_fail_on_close() -> None:
    writer, reader = memory_stream_pair(write_high_water=1024, read_chunk_size=1024)
    writer.write(b"w" * 4096)
    await asyncio.sleep(0.01)
    assert reader.statistics().reading_paused
    future = writer.write(b"w" * 4096)
    assert not future.done()
    writer.close()
    with pytest.raises(StreamClosedError):
        await future


# --- TCP specifics -------------------------------------------------------------------------


async def test_connect_refused(listener: socket.socket) -> None:
    address = listener.getsockname()
    listener.close()
    stream = IOStream(socket.socket())
    with pytest.raises(StreamClosedError) as info:
        await stream.connect(address)
    assert isinstance(info.value.real_error, ConnectionRefusedError)
    assert stream.closed()
    assert stream.fileno() == -1


async def test_connect_twice_is_refused(listener: socket.socket) -> None:
    stream = IOStream(socket.socket())
    first = stream.connect(listener.getsockname())
    with pytest.raises(StreamBusyError):
        stream.connect(listener.getsockname())
    await first
    await stream.aclose()


async def test_cancelled_connect_closes_the_stream(listener: socket.socket) -> None:
    stream = IOStream(socket.socket())
    future = stream.connect(listener.getsockname())
    future.cancel()
    await asyncio.sleep(0.01)
    assert stream.closed()
    assert stream.fileno() == -1


async def test_peer_reset_is_the_real_error() -> None:
    client, server = await tcp_stream_pair()
    await client.write(b"x")
    assert await server.read_bytes(1) == b"x"
    assert client.socket is not None
    client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    pending = server.read_bytes(10)
    client.close(exc_info=ConnectionAbortedError("test reset"))
    with pytest.raises(StreamClosedError) as info:
        await pending
    assert isinstance(info.value.real_error, ConnectionResetError)
    assert isinstance(server.error, ConnectionResetError)
    await server.aclose()


async def test_set_nodelay(listener: socket.socket) -> None:
    client, server = await tcp_stream_pair()
    assert client.socket is not None
    client.set_nodelay(False)
    assert client.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    client.set_nodelay(True)
    assert client.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    # Set before the transport exists, kept once it does.
    early = IOStream(socket.socket())
    early.set_nodelay(False)
    await early.connect(listener.getsockname())
    assert early.socket is not None
    assert early.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    for stream in (client, server, early):
        await stream.aclose()


async def test_set_nodelay_is_harmless_on_unix_and_memory_streams() -> None:
    a, b = socket.socketpair()
    stream = IOStream(a)
    stream.set_nodelay(True)
    memory, _other = memory_stream_pair()
    memory.set_nodelay(True)
    await stream.aclose()
    b.close()


def test_connected_socket_without_any_loop_is_refused() -> None:
    previous = IOLoop.current(instance=False)
    assert previous is None, "a loop is current: the refusal cannot be observed"
    a, b = socket.socketpair()
    try:
        with pytest.raises(RuntimeError, match="needs an event loop"):
            IOStream(a)
        with pytest.raises(RuntimeError, match="needs an event loop"):
            PipeIOStream(os.dup(b.fileno()))
    finally:
        a.close()
        b.close()


def test_connected_socket_before_the_loop_runs(io_loop: IOLoop) -> None:
    # Created and written to while the current loop is not running; it opens, sends
    # and reads once the loop runs.
    a, b = socket.socketpair()
    stream = IOStream(a)
    assert stream.io_loop is io_loop
    stream.write(b"ping")
    closed: list[bool] = []
    stream.set_close_callback(lambda: closed.append(True))

    async def exchange() -> bytes:
        peer = IOStream(b)
        assert await peer.read_bytes(4) == b"ping"
        await peer.write(b"pong")
        answer = await stream.read_bytes(4)
        await peer.aclose()
        await stream.read_until_close()
        return answer

    assert io_loop.run_sync(exchange, timeout=10) == b"pong"
    assert stream.closed()
    io_loop.run_sync(lambda: asyncio.sleep(0), timeout=10)
    assert closed == [True]


@pytest.mark.skipif(os.name != "posix", reason="pipes")
def test_pipe_stream_before_the_loop_runs(io_loop: IOLoop) -> None:
    read_fd, write_fd = os.pipe()
    reader = PipeIOStream(read_fd)
    writer = PipeIOStream(write_fd)
    writer.write(b"through the pipe")
    writer.close()
    received = io_loop.run_sync(reader.read_until_close, timeout=10)
    assert received == b"through the pipe"
    io_loop.run_sync(reader.aclose, timeout=10)


async def test_extra_info_and_statistics() -> None:
    client, server = await tcp_stream_pair()
    assert client.get_extra_info("peername") == server.get_extra_info("sockname")
    await client.write(b"12345")
    assert await server.read_bytes(5) == b"12345"
    assert client.statistics().bytes_written == 5
    assert server.statistics().bytes_read == 5
    await client.aclose()
    await server.aclose()
    unconnected = IOStream(socket.socket())
    assert unconnected.get_extra_info("peername", "none") == "none"
    unconnected.close()


# --- TLS -----------------------------------------------------------------------------------


async def test_tls_round_trip_and_certificate(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    client, server = await tls_stream_pair(server_context, client_context)
    assert await client.wait_for_handshake() is client
    obj = client.ssl_object
    assert obj is not None
    assert obj.getpeercert() is not None
    assert obj.version() is not None
    await client.write(b"secret\n")
    assert await server.read_until(b"\n") == b"secret\n"
    with pytest.raises(StreamBusyError):
        client.wait_for_handshake()
    await client.aclose()
    await server.aclose()


async def test_tls_verification_failure(
    server_context: ssl.SSLContext, listener: socket.socket
) -> None:
    loop = asyncio.get_running_loop()
    untrusting = ssl.create_default_context()  # does not know the test CA
    client = SSLIOStream(socket.socket(), ssl_options=untrusting)
    connected = client.connect(listener.getsockname(), server_hostname="localhost")
    accepted, _ = await loop.sock_accept(listener)
    server = SSLIOStream(accepted, ssl_options=server_context)
    handshake = server.wait_for_handshake()
    with pytest.raises(StreamClosedError) as info:
        await connected
    assert isinstance(info.value.real_error, ssl.SSLCertVerificationError)
    with pytest.raises(StreamClosedError) as server_info:
        await handshake
    assert isinstance(server_info.value.real_error, (ssl.SSLError, OSError))
    assert client.closed()
    await server.aclose()


async def test_tls_wrong_hostname(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, listener: socket.socket
) -> None:
    loop = asyncio.get_running_loop()
    client = SSLIOStream(socket.socket(), ssl_options=client_context)
    connected = client.connect(listener.getsockname(), server_hostname="example.com")
    accepted, _ = await loop.sock_accept(listener)
    server = SSLIOStream(accepted, ssl_options=server_context)
    with pytest.raises(StreamClosedError) as info:
        await connected
    assert isinstance(info.value.real_error, ssl.SSLCertVerificationError)
    await server.aclose()


async def test_tls_dict_ssl_options(
    ca: trustme.CA, listener: socket.socket, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    cert = ca.issue_cert("localhost")
    certfile = tmp_path / "cert.pem"
    keyfile = tmp_path / "key.pem"
    cafile = tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    client = SSLIOStream(socket.socket(), ssl_options={"ca_certs": str(cafile)})
    connected = client.connect(listener.getsockname(), server_hostname="localhost")
    accepted, _ = await loop.sock_accept(listener)
    server = SSLIOStream(accepted, ssl_options={"certfile": str(certfile), "keyfile": str(keyfile)})
    await connected
    await server.write(b"ok")
    assert await client.read_bytes(2) == b"ok"
    await client.aclose()
    await server.aclose()


def test_bad_ssl_options_are_configuration_errors() -> None:
    from typhoon.errors import ConfigurationError

    with socket.socket() as sock:
        with pytest.raises(ConfigurationError, match="unknown ssl_options"):
            SSLIOStream(sock, ssl_options={"certfle": "x"})
        with pytest.raises(ConfigurationError, match="certificate"):
            SSLIOStream(sock, server_side=True)


async def test_tls_accepts_an_unhandshaken_sslsocket(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, listener: socket.socket
) -> None:
    loop = asyncio.get_running_loop()
    client = SSLIOStream(socket.socket(), ssl_options=client_context)
    connected = client.connect(listener.getsockname(), server_hostname="localhost")
    accepted, _ = await loop.sock_accept(listener)
    wrapped = server_context.wrap_socket(accepted, server_side=True, do_handshake_on_connect=False)
    server = SSLIOStream(wrapped)
    await connected
    assert await server.wait_for_handshake() is server
    await client.write(b"via SSLSocket")
    assert await server.read_bytes(13) == b"via SSLSocket"
    await client.aclose()
    await server.aclose()


async def test_start_tls_after_plain_text_exchange(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    client, server = await tcp_stream_pair()
    closed: list[str] = []
    server.set_close_callback(lambda: closed.append("server"))
    await client.write(b"STARTTLS\r\n")
    assert await server.read_until(b"\r\n") == b"STARTTLS\r\n"
    await server.write(b"220 go ahead\r\n")
    assert await client.read_until(b"\r\n") == b"220 go ahead\r\n"
    server_tls_future = server.start_tls(True, ssl_options=server_context)
    client_tls_future = client.start_tls(
        False, ssl_options=client_context, server_hostname="localhost"
    )
    server_tls, client_tls = await asyncio.gather(server_tls_future, client_tls_future)
    assert isinstance(server_tls, SSLIOStream)
    assert isinstance(client_tls, SSLIOStream)
    # The plain streams are spent.
    assert server.closed()
    assert server.socket is None
    with pytest.raises(StreamClosedError):
        server.write(b"x")
    await client_tls.write(b"EHLO\r\n")
    assert await server_tls.read_until(b"\r\n") == b"EHLO\r\n"
    assert server_tls.ssl_object is not None
    # The close callback moved to the TLS stream.
    await asyncio.sleep(0.01)
    assert closed == []
    await client_tls.aclose()
    await asyncio.wait_for(server_tls.read_until_close(), 5)
    await asyncio.sleep(0.01)
    assert closed == ["server"]
    await server_tls.aclose()


async def test_start_tls_on_a_just_accepted_stream(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, listener: socket.socket
) -> None:
    # A server may upgrade a stream before its transport is even connected.
    loop = asyncio.get_running_loop()
    client = SSLIOStream(socket.socket(), ssl_options=client_context)
    connected = client.connect(listener.getsockname(), server_hostname="localhost")
    accepted, _ = await loop.sock_accept(listener)
    server_tls = await IOStream(accepted).start_tls(True, ssl_options=server_context)
    await connected
    await server_tls.write(b"hello")
    assert await client.read_bytes(5) == b"hello"
    await client.aclose()
    await server_tls.aclose()


async def test_start_tls_requires_an_idle_stream(server_context: ssl.SSLContext) -> None:
    client, server = await tcp_stream_pair()
    server.read_bytes(1)
    with pytest.raises(ValueError, match="not idle"):
        server.start_tls(True, ssl_options=server_context)
    await client.write(b"xy")
    await asyncio.sleep(0.01)
    with pytest.raises(ValueError, match="not idle"):
        server.start_tls(True, ssl_options=server_context)
    await client.aclose()
    await server.aclose()


async def test_start_tls_handshake_failure(
    server_context: ssl.SSLContext,
) -> None:
    client, server = await tcp_stream_pair()
    untrusting = ssl.create_default_context()
    results = await asyncio.gather(
        server.start_tls(True, ssl_options=server_context),
        client.start_tls(False, ssl_options=untrusting, server_hostname="localhost"),
        return_exceptions=True,
    )
    assert isinstance(results[1], StreamClosedError)
    assert isinstance(results[1].real_error, ssl.SSLCertVerificationError)
    if isinstance(results[0], BaseIOStream):
        await results[0].aclose()


# --- pipes ---------------------------------------------------------------------------------


async def test_pipe_directions_are_enforced() -> None:
    r, w = os.pipe()
    reader = PipeIOStream(r)
    writer = PipeIOStream(w)
    future = reader.write(b"wrong way")
    with pytest.raises(StreamClosedError) as info:
        await future
    assert isinstance(info.value.real_error, OSError)
    assert info.value.real_error.errno == errno.EBADF
    read_future = writer.read_bytes(1)
    with pytest.raises(StreamClosedError) as read_info:
        await read_future
    assert isinstance(read_info.value.real_error, OSError)
    await reader.aclose()
    await writer.aclose()


async def test_pipe_over_a_read_write_descriptor() -> None:
    a, b = socket.socketpair()
    left = PipeIOStream(a.detach())
    right = PipeIOStream(b.detach())
    await left.write(b"ping\n")
    assert await right.read_until(b"\n") == b"ping\n"
    await right.write(b"pong\n")
    assert await left.read_until(b"\n") == b"pong\n"
    assert left.fileno() >= 0
    await left.aclose()
    await asyncio.wait_for(right.read_until_close(), 5)
    await right.aclose()


async def test_pipe_closes_its_descriptor() -> None:
    r, w = os.pipe()
    writer = PipeIOStream(w)
    reader = PipeIOStream(r)
    await writer.write(b"x")
    assert await reader.read_bytes(1) == b"x"
    await writer.aclose()
    await reader.aclose()
    for fd in (r, w):
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(fd)


# --- the memory pair -------------------------------------------------------------------------


async def test_memory_pair_chunking_and_names() -> None:
    a, b = memory_stream_pair(chunk_size=4)
    a.write(b"0123456789")
    assert await b.read_bytes(100, partial=True) == b"0123"
    assert b.get_extra_info("peername") == a.get_extra_info("sockname")
    assert "MemoryStream" in repr(a)


async def test_memory_pair_abort_resets_the_peer() -> None:
    a, b = memory_stream_pair()
    pending = b.read_bytes(1)
    a.close(exc_info=RuntimeError("abort"))
    with pytest.raises(StreamClosedError) as info:
        await pending
    assert isinstance(info.value.real_error, ConnectionResetError)


# --- close callbacks ---------------------------------------------------------------------


async def test_close_callback_may_be_a_coroutine_and_errors_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    async def async_callback() -> None:
        await asyncio.sleep(0)
        ran.append("async")

    def failing_callback() -> None:
        ran.append("failing")
        raise RuntimeError("close callback failed")

    a, b = memory_stream_pair()
    a.set_close_callback(async_callback)
    b.set_close_callback(failing_callback)
    with caplog.at_level(logging.ERROR, logger="typhoon.application"):
        a.close()
        await asyncio.sleep(0.05)
    assert sorted(ran) == ["async", "failing"]
    assert "close callback failed" in caplog.text
    assert a.io_loop is b.io_loop
