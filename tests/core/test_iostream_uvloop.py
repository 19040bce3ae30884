"""The stream conformance checks again, on uvloop's event loop (skipped without uvloop).

Streams sit on transports, so they must behave the same on any asyncio loop; uvloop's
transports are separate implementations with their own edge cases (how pipes close,
what connection_made may do).
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from typhoon.iostream import BaseIOStream
from typhoon.testing.streams import (
    ONE_WAY_CHECKS,
    TWO_WAY_CHECKS,
    StreamCheck,
    pipe_stream_pair,
    run_check,
    tcp_stream_pair,
    tls_stream_pair,
    unix_stream_pair,
)

uvloop = pytest.importorskip("uvloop")


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture
def unix_path() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="typhoon-") as directory:
        yield str(Path(directory) / "stream.sock")


def _run_on_uvloop(
    check: StreamCheck,
    kind: str,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    unix_path: str,
) -> None:
    async def make() -> tuple[BaseIOStream, BaseIOStream]:
        if kind == "tcp":
            return await tcp_stream_pair()
        if kind == "tls":
            return await tls_stream_pair(*tls_contexts)
        if kind == "unix":
            return await unix_stream_pair(unix_path)
        return await pipe_stream_pair()

    async def main() -> None:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        await asyncio.wait_for(run_check(check, make), 30)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


@pytest.mark.parametrize("kind", ["tcp", "tls", "unix", "pipe"])
@pytest.mark.parametrize("check", ONE_WAY_CHECKS, ids=lambda check: check.__name__)
def test_one_way_on_uvloop(
    check: StreamCheck,
    kind: str,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    unix_path: str,
) -> None:
    _run_on_uvloop(check, kind, tls_contexts, unix_path)


@pytest.mark.parametrize("kind", ["tcp", "tls", "unix"])
@pytest.mark.parametrize("check", TWO_WAY_CHECKS, ids=lambda check: check.__name__)
def test_two_way_on_uvloop(
    check: StreamCheck,
    kind: str,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    unix_path: str,
) -> None:
    _run_on_uvloop(check, kind, tls_contexts, unix_path)


def test_start_tls_on_uvloop(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    import socket

    from typhoon.iostream import IOStream, SSLIOStream

    server_context, client_context = tls_contexts

    async def main() -> None:
        # After a plain-text exchange...
        client, server = await tcp_stream_pair()
        await client.write(b"STARTTLS\n")
        assert await server.read_until(b"\n") == b"STARTTLS\n"
        server_tls, client_tls = await asyncio.gather(
            server.start_tls(True, server_context),
            client.start_tls(False, client_context, "localhost"),
        )
        await client_tls.write(b"hi\n")
        assert await server_tls.read_until(b"\n") == b"hi\n"
        await client_tls.aclose()
        await server_tls.aclose()
        # ...and on a stream accepted a moment ago (uvloop starts reading on its own
        # after connection_made, so the plain transport must not come up at all).
        loop = asyncio.get_running_loop()
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            tls_client = SSLIOStream(socket.socket(), ssl_options=client_context)
            connected = tls_client.connect(listener.getsockname(), server_hostname="localhost")
            accepted, _ = await loop.sock_accept(listener)
            upgraded = await IOStream(accepted).start_tls(True, ssl_options=server_context)
            await connected
            await upgraded.write(b"yo")
            assert await tls_client.read_bytes(2) == b"yo"
            await tls_client.aclose()
            await upgraded.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(main(), 30))
