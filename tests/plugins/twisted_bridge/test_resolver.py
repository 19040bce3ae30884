"""TwistedResolver: hosts files, a real Twisted DNS server on loopback, errors, TCPClient.

No query leaves the machine: the system resolv.conf is never used, DNS questions go to a
twisted.names server this test runs on 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from twisted.names import dns, hosts, server
from typhoon.iostream import IOStream
from typhoon.netutil import Resolver, bind_sockets
from typhoon.tcpclient import TCPClient
from typhoon.tcpserver import TCPServer
from typhoon_twisted_bridge import TwistedResolver, deferred_to_future, install

pytestmark = pytest.mark.reactor

HOSTS = """\
127.0.0.1 localhost
::1 localhost ip6-localhost
127.0.0.2 v4only.test
::1 v6only.test
127.0.0.1 service.test
"""


@pytest.fixture
def hosts_file(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    return path


@asynccontextmanager
async def dns_server(records_file: Path) -> AsyncIterator[int]:
    """A twisted.names DNS server on 127.0.0.1 answering from a hosts file; yields the port."""
    reactor = install()
    factory = server.DNSServerFactory(clients=[hosts.Resolver(file=bytes(records_file))])
    port = reactor.listenUDP(0, dns.DNSDatagramProtocol(controller=factory), interface="127.0.0.1")
    try:
        yield port.getHost().port
    finally:
        stopped = port.stopListening()
        if stopped is not None:
            await deferred_to_future(stopped)


async def test_localhost_resolves_from_the_system_hosts_file() -> None:
    resolver = TwistedResolver(resolv_conf=None)
    try:
        addresses = await resolver.resolve("localhost", 8080)
    finally:
        resolver.close()
    assert (socket.AF_INET, ("127.0.0.1", 8080)) in addresses
    for family, address in addresses:
        assert family in (socket.AF_INET, socket.AF_INET6)
        assert address[1] == 8080


async def test_both_families_in_the_shape_of_typhoons_resolvers(hosts_file: Path) -> None:
    resolver = TwistedResolver(hosts_file=hosts_file, resolv_conf=None)
    assert isinstance(resolver, Resolver)
    addresses = await resolver.resolve("localhost", 443)
    assert addresses == [
        (socket.AF_INET, ("127.0.0.1", 443)),
        (socket.AF_INET6, ("::1", 443, 0, 0)),
    ]
    assert await resolver.resolve("localhost", 80, socket.AF_INET6) == [
        (socket.AF_INET6, ("::1", 80, 0, 0))
    ]
    assert await resolver.resolve("v4only.test", 80) == [(socket.AF_INET, ("127.0.0.2", 80))]
    with pytest.raises(socket.gaierror) as info:
        await resolver.resolve("v4only.test", 80, socket.AF_INET6)
    assert info.value.errno == socket.EAI_NONAME


async def test_address_literals_need_no_lookup() -> None:
    resolver = TwistedResolver(hosts_file=None, resolv_conf=None)
    assert await resolver.resolve("10.1.2.3", 1) == [(socket.AF_INET, ("10.1.2.3", 1))]
    assert await resolver.resolve("::1", 2) == [(socket.AF_INET6, ("::1", 2, 0, 0))]
    with pytest.raises(socket.gaierror):
        await resolver.resolve("10.1.2.3", 1, socket.AF_INET6)


async def test_an_unknown_name_is_a_gaierror(hosts_file: Path) -> None:
    resolver = TwistedResolver(hosts_file=hosts_file, resolv_conf=None)
    with pytest.raises(socket.gaierror) as info:
        await resolver.resolve("missing.test", 80)
    assert info.value.errno == socket.EAI_NONAME
    assert isinstance(info.value, OSError)


async def test_names_are_asked_of_dns_servers(tmp_path: Path, hosts_file: Path) -> None:
    empty_hosts = tmp_path / "no-hosts"
    empty_hosts.write_text("")
    async with dns_server(hosts_file) as port:
        resolver = TwistedResolver(
            hosts_file=empty_hosts, servers=[("127.0.0.1", port)], timeout=(5,)
        )
        try:
            assert await resolver.resolve("v4only.test", 25) == [
                (socket.AF_INET, ("127.0.0.2", 25))
            ]
            assert await resolver.resolve("v6only.test", 25) == [
                (socket.AF_INET6, ("::1", 25, 0, 0))
            ]
            with pytest.raises(socket.gaierror) as info:
                await resolver.resolve("missing.test", 25)
            assert info.value.errno == socket.EAI_NONAME
        finally:
            resolver.close()


async def test_a_silent_dns_server_is_a_temporary_failure() -> None:
    install()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        resolver = TwistedResolver(hosts_file=None, servers=[silent.getsockname()], timeout=(1,))
        with pytest.raises(socket.gaierror) as info:
            await resolver.resolve("nobody.test", 80, socket.AF_INET)
        assert info.value.errno == socket.EAI_AGAIN
        resolver.close()
    finally:
        silent.close()


async def test_tcpclient_connects_through_the_twisted_resolver(
    tmp_path: Path, hosts_file: Path
) -> None:
    class Greeter(TCPServer):
        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            await stream.write(b"hello from typhoon\n")
            stream.close()

    sockets = bind_sockets(0, "127.0.0.1")
    greeter = Greeter()
    greeter.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    empty_hosts = tmp_path / "no-hosts"
    empty_hosts.write_text("")
    async with dns_server(hosts_file) as dns_port:
        resolver = TwistedResolver(hosts_file=empty_hosts, servers=[("127.0.0.1", dns_port)])
        try:
            stream = await TCPClient(resolver=resolver).connect(
                "service.test", port, af=socket.AF_INET
            )
            assert await stream.read_until(b"\n") == b"hello from typhoon\n"
            stream.close()
        finally:
            resolver.close()
            greeter.stop()


def test_a_resolver_object_must_provide_iresolver() -> None:
    with pytest.raises(TypeError, match="IResolver"):
        TwistedResolver(resolver=object())
