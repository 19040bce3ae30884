"""Tests for typhoon.tcpclient: the happy-eyeballs connector and TCPClient over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import os
import socket
import ssl
import time
from typing import Any

import pytest
import trustme
from typhoon import tcpclient
from typhoon.errors import TyphoonTimeoutError
from typhoon.iostream import IOStream, SSLIOStream, StreamClosedError
from typhoon.netutil import OverrideResolver, Resolver, bind_sockets
from typhoon.tcpclient import TCPClient, _Connector
from typhoon.tcpserver import TCPServer

V4 = socket.AF_INET
V6 = socket.AF_INET6


class _FakeConnections:
    """Scripted connection attempts: address -> (delay, error or None)."""

    def __init__(self, script: dict[str, tuple[float, BaseException | None]]) -> None:
        self.script = script
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.closed: list[str] = []

    async def connect(self, family: socket.AddressFamily, address: Any) -> str:
        host = address[0]
        self.started.append(host)
        delay, error = self.script[host]
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.cancelled.append(host)
            raise
        if error is not None:
            raise error
        return host

    def close(self, connection: str) -> None:
        self.closed.append(connection)


def _connector(fake: _FakeConnections, addrinfo: list[tuple[int, Any]]) -> _Connector[str]:
    return _Connector(addrinfo, fake.connect, fake.close)


def test_split() -> None:
    addrinfo = [(V6, ("a",)), (V4, ("b",)), (V6, ("c",)), (V4, ("d",))]
    primary, secondary = _Connector.split(addrinfo)
    assert primary == [(V6, ("a",)), (V6, ("c",))]
    assert secondary == [(V4, ("b",)), (V4, ("d",))]
    assert _Connector.split([]) == ([], [])


async def test_primary_wins_fast() -> None:
    fake = _FakeConnections({"a": (0, None), "b": (0, None)})
    result = await _connector(fake, [(V4, ("a", 1)), (V6, ("b", 1))]).start()
    assert result == (V4, ("a", 1), "a")
    assert fake.started == ["a"]


async def test_primary_addresses_tried_in_order() -> None:
    fake = _FakeConnections({"a": (0, OSError("refused")), "c": (0, None), "b": (0, None)})
    result = await _connector(fake, [(V4, ("a", 1)), (V6, ("b", 1)), (V4, ("c", 1))]).start(delay=5)
    assert result[2] == "c"
    assert fake.started == ["a", "c"]


async def test_secondary_starts_after_delay_and_wins() -> None:
    fake = _FakeConnections({"a": (10, None), "b": (0, None)})
    started = time.monotonic()
    result = await _connector(fake, [(V6, ("a", 1)), (V4, ("b", 1))]).start(delay=0.05)
    elapsed = time.monotonic() - started
    assert result == (V4, ("b", 1), "b")
    assert 0.04 <= elapsed < 2
    assert fake.cancelled == ["a"]


async def test_secondary_starts_at_once_when_primary_fails() -> None:
    fake = _FakeConnections({"a": (0, OSError("unreachable")), "b": (0, None)})
    started = time.monotonic()
    result = await _connector(fake, [(V6, ("a", 1)), (V4, ("b", 1))]).start(delay=5)
    assert result[2] == "b"
    assert time.monotonic() - started < 1


async def test_primary_can_still_win_after_secondary_started() -> None:
    fake = _FakeConnections({"a": (0.1, None), "b": (10, None)})
    result = await _connector(fake, [(V6, ("a", 1)), (V4, ("b", 1))]).start(delay=0.02)
    assert result[2] == "a"
    assert fake.started == ["a", "b"]
    assert fake.cancelled == ["b"]


async def test_all_fail_raises_last_error() -> None:
    fake = _FakeConnections(
        {"a": (0, OSError("first")), "b": (0.05, OSError("last")), "c": (0, OSError("x"))}
    )
    with pytest.raises(OSError, match="last"):
        await _connector(fake, [(V6, ("a", 1)), (V6, ("c", 1)), (V4, ("b", 1))]).start(delay=0.01)


async def test_simultaneous_winners_close_the_loser() -> None:
    fake = _FakeConnections({"a": (0.05, None), "b": (0.04, None)})
    result = await _connector(fake, [(V6, ("a", 1)), (V4, ("b", 1))]).start(delay=0.01)
    # Whichever wins, the other connection is closed, never leaked.
    loser = {"a", "b"} - {result[2]}
    assert fake.closed == list(loser) or fake.cancelled == list(loser)


async def test_no_addresses() -> None:
    fake = _FakeConnections({})
    with pytest.raises(OSError, match="no addresses"):
        await _connector(fake, []).start()


async def test_outer_cancellation_cancels_attempts() -> None:
    fake = _FakeConnections({"a": (10, None), "b": (10, None)})
    task = asyncio.ensure_future(_connector(fake, [(V6, ("a", 1)), (V4, ("b", 1))]).start(0.01))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(fake.cancelled) == ["a", "b"]


# --- TCPClient over loopback ------------------------------------------------------------


class _EchoServer(TCPServer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.addresses: list[Any] = []

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.addresses.append(address)
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line)
        except StreamClosedError:
            pass


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(V6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")


async def _serve(family: socket.AddressFamily = V4, **kwargs: Any) -> tuple[_EchoServer, int]:
    server = _EchoServer(**kwargs)
    sockets = bind_sockets(0, "::1" if family == V6 else "127.0.0.1", family=family)
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


async def test_connect_and_echo() -> None:
    server, port = await _serve()
    client = TCPClient()
    try:
        stream = await client.connect("127.0.0.1", port)
        await stream.write(b"hello\n")
        assert await stream.read_until(b"\n") == b"hello\n"
        stream.close()
    finally:
        client.close()
        server.stop()


async def test_connect_with_timedelta_and_max_buffer_size() -> None:
    server, port = await _serve()
    client = TCPClient()
    try:
        stream = await client.connect(
            "localhost", port, af=V4, timeout=datetime.timedelta(seconds=5), max_buffer_size=1024
        )
        assert stream.max_buffer_size == 1024
        stream.close()
    finally:
        client.close()
        server.stop()


@needs_ipv6
async def test_happy_eyeballs_falls_back_to_ipv4() -> None:
    # The name resolves to ::1 first, where nothing listens, then to 127.0.0.1.
    server, port = await _serve(V4)

    class TwoFamilies(Resolver):
        async def resolve(
            self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
        ) -> list[tuple[int, Any]]:
            return [(V6, ("::1", port, 0, 0)), (V4, ("127.0.0.1", port))]

    client = TCPClient(resolver=TwoFamilies())
    try:
        stream = await client.connect("dual.test", port, timeout=5)
        await stream.write(b"x\n")
        assert await stream.read_until(b"\n") == b"x\n"
        assert stream.socket is not None
        assert stream.socket.family == V4
        stream.close()
    finally:
        client.close()
        server.stop()


@needs_ipv6
async def test_connect_ipv6() -> None:
    server, port = await _serve(V6)
    client = TCPClient()
    try:
        stream = await client.connect("::1", port)
        await stream.write(b"six\n")
        assert await stream.read_until(b"\n") == b"six\n"
        stream.close()
    finally:
        client.close()
        server.stop()


async def test_source_ip_and_port() -> None:
    server, port = await _serve()
    [spare] = bind_sockets(0, "127.0.0.1")
    source_port = spare.getsockname()[1]
    spare.close()
    client = TCPClient()
    try:
        stream = await client.connect(
            "127.0.0.1", port, source_ip="127.0.0.1", source_port=source_port
        )
        await stream.write(b"x\n")
        await stream.read_until(b"\n")
        assert server.addresses[-1][:2] == ("127.0.0.1", source_port)
        stream.close()
        stream2 = await client.connect("127.0.0.1", port, source_ip="127.0.0.1")
        await stream2.write(b"x\n")
        await stream2.read_until(b"\n")
        assert server.addresses[-1][0] == "127.0.0.1"
        stream2.close()
    finally:
        client.close()
        server.stop()


async def test_connection_refused() -> None:
    [sock] = bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    sock.close()
    client = TCPClient()
    try:
        with pytest.raises(StreamClosedError) as info:
            await client.connect("127.0.0.1", port)
        error = info.value.real_error
        assert isinstance(error, ConnectionRefusedError)
        # In the system's words, not the event loop's "Connect call failed".
        assert os.strerror(errno.ECONNREFUSED) in str(error)
        assert str(port) in str(error)
        assert isinstance(error.__cause__, ConnectionRefusedError)
    finally:
        client.close()


async def test_connect_timeout_names_the_phase() -> None:
    class SlowResolver(Resolver):
        async def resolve(
            self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
        ) -> list[tuple[int, Any]]:
            await asyncio.sleep(10)
            return []

    client = TCPClient(resolver=SlowResolver())
    with pytest.raises(TyphoonTimeoutError, match=r"^Timeout while resolving$"):
        await client.connect("slow.test", 1, timeout=0.05)


async def test_connect_timeout_during_connect() -> None:
    # A listener with a full backlog leaves new SYNs unanswered.
    listener = socket.socket(V4, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket(V4, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        client = TCPClient()
        with pytest.raises(TyphoonTimeoutError, match=r"^Timeout while connecting$"):
            await client.connect("127.0.0.1", port, timeout=0.3)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.fixture(scope="module")
def tls() -> dict[str, Any]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return {"server": server_ctx, "client": client_ctx}


async def test_connect_tls(tls: dict[str, Any]) -> None:
    server, port = await _serve(ssl_options=tls["server"])
    client = TCPClient(resolver=OverrideResolver(Resolver(), {"localhost": "127.0.0.1"}))
    try:
        stream = await client.connect("localhost", port, ssl_options=tls["client"], timeout=5)
        assert isinstance(stream, SSLIOStream)
        await stream.write(b"secret\n")
        assert await stream.read_until(b"\n") == b"secret\n"
        stream.close()
    finally:
        client.close()
        server.stop()


async def test_connect_tls_wrong_host_fails(tls: dict[str, Any]) -> None:
    server, port = await _serve(ssl_options=tls["server"])
    client = TCPClient(resolver=OverrideResolver(Resolver(), {"wrong.test": "127.0.0.1"}))
    try:
        with pytest.raises((ssl.SSLError, StreamClosedError)):
            await client.connect("wrong.test", port, ssl_options=tls["client"], timeout=5)
    finally:
        client.close()
        server.stop()


async def test_connect_timeout_during_tls_handshake(tls: dict[str, Any]) -> None:
    # The kernel completes the TCP handshake for a listener that never reads, so the
    # ClientHello goes unanswered.
    [listener] = bind_sockets(0, "127.0.0.1")
    client = TCPClient()
    try:
        with pytest.raises(TyphoonTimeoutError, match=r"^Timeout during TLS handshake$"):
            await client.connect(
                "127.0.0.1", listener.getsockname()[1], ssl_options=tls["client"], timeout=0.3
            )
    finally:
        client.close()
        listener.close()


def test_module_exports() -> None:
    for name in tcpclient.__all__:
        assert getattr(tcpclient, name).__doc__, name
