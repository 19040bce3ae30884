"""Smoke tests for typhoon.iostream over real loopback TCP sockets."""

from __future__ import annotations

import asyncio
import socket

import pytest
from typhoon.iostream import IOStream, StreamClosedError


async def tcp_pair() -> tuple[IOStream, IOStream]:
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    try:
        client = IOStream(socket.socket())
        connected = client.connect(listener.getsockname())
        accepted, _ = await loop.sock_accept(listener)
        server = IOStream(accepted)
        await connected
    finally:
        listener.close()
    return client, server


async def test_lines_and_bytes_over_tcp() -> None:
    client, server = await tcp_pair()
    client.write(b"hello\nworld\n")
    assert await server.read_until(b"\n") == b"hello\n"
    assert await server.read_until(b"\n") == b"world\n"
    payload = bytes(range(256)) * 4096
    await server.write(payload)
    assert await client.read_bytes(len(payload)) == payload
    client.close()
    assert await server.read_until_close() == b""
    assert server.closed()


async def test_connect_refused_reports_real_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()
    probe.close()
    stream = IOStream(socket.socket())
    with pytest.raises(StreamClosedError) as info:
        await stream.connect(address)
    assert isinstance(info.value.real_error, ConnectionRefusedError)
    assert stream.closed()
