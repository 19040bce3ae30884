"""The stream conformance checks of typhoon.testing.streams over every stream kind.

Memory pairs, loopback TCP (IPv4 and IPv6), TLS (certificates from trustme), Unix
sockets and pipes. Each check runs on a fresh pair; two-way kinds run the one-way
checks in both directions.
"""

from __future__ import annotations

import socket
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
    StreamPairFactory,
    memory_stream_pair,
    pipe_stream_pair,
    run_check,
    tcp_stream_pair,
    tls_stream_pair,
    unix_stream_pair,
)


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture
def unix_path() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="typhoon-") as directory:
        yield str(Path(directory) / "stream.sock")


TWO_WAY_KINDS = ["memory", "memory-1byte", "tcp", "tcp6", "tls", "unix"]
ONE_WAY_KINDS = [*TWO_WAY_KINDS, "pipe"]


def _factory(
    kind: str,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    unix_path: str,
    reverse: bool,
) -> StreamPairFactory:
    async def make() -> tuple[BaseIOStream, BaseIOStream]:
        pair: tuple[BaseIOStream, BaseIOStream]
        if kind == "memory":
            pair = memory_stream_pair()
        elif kind == "memory-1byte":
            # Every write arrives one byte per data_received call.
            pair = memory_stream_pair(chunk_size=1)
        elif kind == "tcp":
            pair = await tcp_stream_pair()
        elif kind == "tcp6":
            if not _has_ipv6():
                pytest.skip("no IPv6 loopback")
            pair = await tcp_stream_pair(socket.AF_INET6)
        elif kind == "tls":
            pair = await tls_stream_pair(*tls_contexts)
        elif kind == "unix":
            pair = await unix_stream_pair(unix_path)
        else:
            pair = await pipe_stream_pair()
        return (pair[1], pair[0]) if reverse else pair

    return make


SLOW_ONE_BYTE = {
    "check_large_transfer",
    "check_big_read_bytes",
    "check_write_flow_control",
    "check_max_write_buffer_size",
    "check_read_back_pressure",
}


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ONE_WAY_KINDS)
@pytest.mark.parametrize("check", ONE_WAY_CHECKS, ids=lambda check: check.__name__)
async def test_one_way(
    check: StreamCheck,
    kind: str,
    reverse: bool,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    unix_path: str,
) -> None:
    if reverse and kind == "pipe":
        pytest.skip("a pipe carries bytes one way")
    if kind == "memory-1byte" and check.__name__ in SLOW_ONE_BYTE:
        pytest.skip("megabytes one byte per call: covered by the other kinds")
    await run_check(check, _factory(kind, tls_contexts, unix_path, reverse))


@pytest.mark.parametrize("kind", TWO_WAY_KINDS)
@pytest.mark.parametrize("check", TWO_WAY_CHECKS, ids=lambda check: check.__name__)
async def test_two_way(
    check: StreamCheck,
    kind: str,
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    unix_path: str,
) -> None:
    if kind == "memory-1byte" and check.__name__ == "check_simultaneous_bulk":
        pytest.skip("megabytes one byte per call: covered by the other kinds")
    await run_check(check, _factory(kind, tls_contexts, unix_path, reverse=False))
