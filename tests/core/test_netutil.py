"""Tests for typhoon.netutil over real loopback sockets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import ssl
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import trustme
from typhoon import netutil
from typhoon.netutil import (
    BlockingResolver,
    DefaultExecutorResolver,
    DefaultLoopResolver,
    ExecutorResolver,
    OverrideResolver,
    Resolver,
    ThreadedResolver,
    add_accept_handler,
    bind_sockets,
    bind_unix_socket,
    is_valid_ip,
    ssl_options_to_context,
    ssl_wrap_socket,
)


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


HAVE_IPV6 = _ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not HAVE_IPV6, reason="no IPv6 loopback")


def _connect_and_close(family: socket.AddressFamily, host: str, port: int) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect((host, port))


# --- bind_sockets -----------------------------------------------------------------------


def test_bind_sockets_ipv4_port_zero() -> None:
    sockets = bind_sockets(0, "127.0.0.1")
    try:
        assert len(sockets) == 1
        sock = sockets[0]
        assert sock.family == socket.AF_INET
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        port = sock.getsockname()[1]
        assert port > 0
        _connect_and_close(socket.AF_INET, "127.0.0.1", port)
    finally:
        for sock in sockets:
            sock.close()


@needs_ipv6
def test_bind_sockets_all_families_share_one_port() -> None:
    sockets = bind_sockets(0, None)
    try:
        families = {sock.family for sock in sockets}
        assert families == {socket.AF_INET, socket.AF_INET6}
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
        port = ports.pop()
        for sock in sockets:
            if sock.family == socket.AF_INET6:
                assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        _connect_and_close(socket.AF_INET, "127.0.0.1", port)
        _connect_and_close(socket.AF_INET6, "::1", port)
    finally:
        for sock in sockets:
            sock.close()


def test_bind_sockets_family_restriction() -> None:
    sockets = bind_sockets(0, None, family=socket.AF_INET)
    try:
        assert [sock.family for sock in sockets] == [socket.AF_INET]
    finally:
        for sock in sockets:
            sock.close()


def test_bind_sockets_empty_address_means_all_interfaces() -> None:
    sockets = bind_sockets(0, "", family=socket.AF_INET)
    try:
        assert sockets[0].getsockname()[0] == "0.0.0.0"
    finally:
        for sock in sockets:
            sock.close()


def test_bind_sockets_port_in_use_raises() -> None:
    first = bind_sockets(0, "127.0.0.1")
    try:
        port = first[0].getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            bind_sockets(port, "127.0.0.1")
    finally:
        for sock in first:
            sock.close()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_bind_sockets_reuse_port() -> None:
    first = bind_sockets(0, "127.0.0.1", reuse_port=True)
    port = first[0].getsockname()[1]
    second = bind_sockets(port, "127.0.0.1", reuse_port=True)
    try:
        assert second[0].getsockname()[1] == port
        assert second[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    finally:
        for sock in first + second:
            sock.close()


def test_bind_sockets_reuse_port_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT", raising=False)
    with pytest.raises(ValueError, match="SO_REUSEPORT"):
        bind_sockets(0, "127.0.0.1", reuse_port=True)


def test_bind_sockets_backlog_and_flags() -> None:
    sockets = bind_sockets(0, "127.0.0.1", backlog=5, flags=socket.AI_NUMERICHOST)
    try:
        assert len(sockets) == 1
    finally:
        for sock in sockets:
            sock.close()


# --- bind_unix_socket -------------------------------------------------------------------


def test_bind_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    sock = bind_unix_socket(path, mode=0o640)
    try:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        assert sock.getblocking() is False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(path)
    finally:
        sock.close()
    # A stale socket file from an earlier run is replaced.
    again = bind_unix_socket(path)
    again.close()


def test_bind_unix_socket_refuses_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    with pytest.raises(ValueError, match="not a socket"):
        bind_unix_socket(str(path))
    assert path.read_text() == "keep me"


@pytest.mark.skipif(sys.platform != "linux", reason="abstract sockets are Linux only")
def test_bind_unix_socket_abstract() -> None:
    name = f"\0typhoon-test-{os.getpid()}"
    sock = bind_unix_socket(name)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(name)
    finally:
        sock.close()


# --- add_accept_handler -----------------------------------------------------------------


async def test_add_accept_handler_accepts_and_removes() -> None:
    [listener] = bind_sockets(0, "127.0.0.1")
    port = listener.getsockname()[1]
    accepted: list[tuple[socket.socket, Any]] = []
    got_three = asyncio.Event()

    def on_connection(connection: socket.socket, address: Any) -> None:
        accepted.append((connection, address))
        if len(accepted) == 3:
            got_three.set()

    remove = add_accept_handler(listener, on_connection)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(3)]
    try:
        for client in clients:
            client.setblocking(False)
            await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
        await asyncio.wait_for(got_three.wait(), 5)
        local_ports = sorted(client.getsockname()[1] for client in clients)
        assert sorted(address[1] for _conn, address in accepted) == local_ports
        remove()
        remove()  # a second call is harmless
        late = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        clients.append(late)
        late.setblocking(False)
        await asyncio.get_running_loop().sock_connect(late, ("127.0.0.1", port))
        await asyncio.sleep(0.05)
        assert len(accepted) == 3
    finally:
        for client in clients:
            client.close()
        for connection, _address in accepted:
            connection.close()
        listener.close()


async def test_add_accept_handler_remove_from_callback() -> None:
    [listener] = bind_sockets(0, "127.0.0.1")
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    remove_holder: list[Any] = []

    def on_connection(connection: socket.socket, address: Any) -> None:
        accepted.append(connection)
        remove_holder[0]()

    remove_holder.append(add_accept_handler(listener, on_connection))
    clients = []
    try:
        # Queue two connections before the loop gets a chance to accept either.
        for _ in range(2):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            clients.append(client)
            client.settimeout(5)
            client.connect(("127.0.0.1", port))
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert len(accepted) == 1
    finally:
        for sock in clients + accepted:
            sock.close()
        listener.close()


async def test_add_accept_handler_makes_a_blocking_listener_non_blocking() -> None:
    # A listening socket made by hand is blocking: accepting on it as it is would stall
    # the loop once its backlog is empty (the loop below would never run again).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    assert listener.getblocking()
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    remove = add_accept_handler(listener, lambda connection, _address: accepted.append(connection))
    assert not listener.getblocking()
    clients = []
    try:
        for expected in (1, 2, 3):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            clients.append(client)
            client.setblocking(False)
            await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
            for _ in range(100):
                if len(accepted) == expected:
                    break
                await asyncio.sleep(0.01)
            assert len(accepted) == expected
    finally:
        remove()
        for sock in clients + accepted:
            sock.close()
        listener.close()


# --- is_valid_ip ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("127.0.0.1", True),
        ("4.4.4.4", True),
        ("::1", True),
        ("2620:0:1cfe:face:b00c::3", True),
        ("www.example.com", False),
        ("localhost", False),
        ("4.4.4.4<", False),
        (" 127.0.0.1", False),
        ("", False),
        (" ", False),
        ("\n", False),
        ("\x00", False),
        ("127.0.0.1\x00evil", False),
        ("a" * 100, False),
        ("\u00e9t\u00e9", False),
    ],
)
def test_is_valid_ip(text: str, valid: bool) -> None:
    assert is_valid_ip(text) is valid


# --- resolvers --------------------------------------------------------------------------


def test_resolver_default_class() -> None:
    resolver = Resolver()
    assert type(resolver) is DefaultLoopResolver
    assert isinstance(resolver, Resolver)
    resolver.close()


async def _check_localhost(resolver: Resolver) -> None:
    try:
        result = await resolver.resolve("localhost", 80, socket.AF_INET)
        assert (socket.AF_INET, ("127.0.0.1", 80)) in result
        literal = await resolver.resolve("127.0.0.1", 8080)
        assert literal == [(socket.AF_INET, ("127.0.0.1", 8080))]
    finally:
        resolver.close()


async def test_default_loop_resolver() -> None:
    await _check_localhost(DefaultLoopResolver())


async def test_default_executor_resolver() -> None:
    await _check_localhost(DefaultExecutorResolver())


async def test_blocking_resolver() -> None:
    await _check_localhost(BlockingResolver())


async def test_threaded_resolver_shares_one_pool() -> None:
    first, second = ThreadedResolver(), ThreadedResolver(num_threads=2)
    assert first.executor is second.executor
    await _check_localhost(first)
    # close() must not shut down the shared pool for the other instance.
    await _check_localhost(second)
    await _check_localhost(ThreadedResolver())


async def test_executor_resolver_owns_its_executor() -> None:
    pool = concurrent.futures.ThreadPoolExecutor(1)
    resolver = ExecutorResolver(pool)
    result = await resolver.resolve("localhost", 1, socket.AF_INET)
    assert (socket.AF_INET, ("127.0.0.1", 1)) in result
    resolver.close()
    with pytest.raises(RuntimeError):
        pool.submit(int)


async def test_executor_resolver_borrowed_executor_left_open() -> None:
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        resolver = ExecutorResolver(pool, close_executor=False)
        await resolver.resolve("127.0.0.1", 1)
        resolver.close()
        assert pool.submit(int).result(5) == 0
    finally:
        pool.shutdown()


@needs_ipv6
async def test_default_loop_resolver_ipv6_literal() -> None:
    result = await DefaultLoopResolver().resolve("::1", 443)
    assert result[0][0] == socket.AF_INET6
    assert result[0][1][:2] == ("::1", 443)


class _RecordingResolver(Resolver):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        self.calls.append((host, port, family))
        return [(socket.AF_INET, (host, port))]

    def close(self) -> None:
        self.closed = True


async def test_override_resolver() -> None:
    inner = _RecordingResolver()
    resolver = OverrideResolver(
        inner,
        {
            "google.com": "127.0.0.1",
            ("host.com", 80): ("1.2.3.4", 8080),
            ("host.com", 80, socket.AF_INET6): ("::2", 8081),
            ("host.com", 443): ("localhost", 1443),
        },
    )
    assert await resolver.resolve("google.com", 80) == [(socket.AF_INET, ("127.0.0.1", 80))]
    await resolver.resolve("host.com", 80)
    await resolver.resolve("host.com", 80, socket.AF_INET6)
    await resolver.resolve("host.com", 443, socket.AF_INET)
    await resolver.resolve("other.com", 80)
    assert inner.calls == [
        ("127.0.0.1", 80, socket.AF_UNSPEC),
        ("1.2.3.4", 8080, socket.AF_UNSPEC),
        ("::2", 8081, socket.AF_INET6),
        ("localhost", 1443, socket.AF_INET),
        ("other.com", 80, socket.AF_UNSPEC),
    ]
    resolver.close()
    assert inner.closed


async def test_abstract_resolve_not_implemented() -> None:
    class Bare(Resolver):
        pass

    with pytest.raises(NotImplementedError):
        await Bare().resolve("localhost", 80)


# --- TLS helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    files = {
        "certfile": str(folder / "cert.pem"),
        "keyfile": str(folder / "key.pem"),
        "ca_certs": str(folder / "ca.pem"),
    }
    cert.cert_chain_pems[0].write_to_path(files["certfile"])
    cert.private_key_pem.write_to_path(files["keyfile"])
    ca.cert_pem.write_to_path(files["ca_certs"])
    return files


def test_ssl_options_to_context_passthrough() -> None:
    context = ssl.create_default_context()
    assert ssl_options_to_context(context) is context


def test_ssl_options_to_context_server(tls_files: dict[str, str]) -> None:
    context = ssl_options_to_context(
        {"certfile": tls_files["certfile"], "keyfile": tls_files["keyfile"]}
    )
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    assert context.options & ssl.OP_NO_COMPRESSION
    client = ssl_options_to_context({"ca_certs": tls_files["ca_certs"]}, server_side=False)
    assert client.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert client.verify_mode == ssl.CERT_REQUIRED


def test_ssl_options_to_context_options(tls_files: dict[str, str]) -> None:
    context = ssl_options_to_context(
        {"cert_reqs": ssl.CERT_NONE, "ciphers": "ECDHE+AESGCM"}, server_side=False
    )
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False
    server = ssl_options_to_context(
        {
            "certfile": tls_files["certfile"],
            "keyfile": tls_files["keyfile"],
            "cert_reqs": ssl.CERT_REQUIRED,
            "ca_certs": tls_files["ca_certs"],
        },
        server_side=True,
    )
    assert server.verify_mode == ssl.CERT_REQUIRED


def test_ssl_options_to_context_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="bogus"):
        ssl_options_to_context({"bogus": 1})


def test_ssl_wrap_socket_handshake(tls_files: dict[str, str]) -> None:
    server_raw, client_raw = socket.socketpair()
    server_raw.settimeout(10)
    client_raw.settimeout(10)
    results: dict[str, Any] = {}

    def serve() -> None:
        try:
            server = ssl_wrap_socket(
                server_raw,
                {"certfile": tls_files["certfile"], "keyfile": tls_files["keyfile"]},
                server_side=True,
            )
            results["server_got"] = server.recv(5)
            server.sendall(b"pong")
            server.close()
        except Exception as exc:
            results["server_error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        client = ssl_wrap_socket(
            client_raw, {"ca_certs": tls_files["ca_certs"]}, server_hostname="localhost"
        )
        client.sendall(b"ping!")
        assert client.recv(4) == b"pong"
        assert client.version() is not None
        client.close()
    finally:
        thread.join(10)
    assert results == {"server_got": b"ping!"}


def test_ssl_wrap_socket_checks_hostname(tls_files: dict[str, str]) -> None:
    server_raw, client_raw = socket.socketpair()
    server_raw.settimeout(10)
    client_raw.settimeout(10)
    context = ssl_options_to_context(
        {"certfile": tls_files["certfile"], "keyfile": tls_files["keyfile"]}
    )

    def serve() -> None:
        try:
            ssl_wrap_socket(server_raw, context).close()
        except (ssl.SSLError, OSError):
            server_raw.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl_wrap_socket(
                client_raw, {"ca_certs": tls_files["ca_certs"]}, server_hostname="wrong.example"
            )
    finally:
        client_raw.close()
        thread.join(10)


def test_module_exports() -> None:
    for name in netutil.__all__:
        assert getattr(netutil, name).__doc__, name
