"""Tests for typhoon.tcpserver over real loopback sockets (and TLS with trustme)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trustme
from typhoon import tcpserver
from typhoon.iostream import IOStream, SSLIOStream, StreamClosedError
from typhoon.netutil import bind_sockets
from typhoon.tcpserver import TCPServer


class EchoServer(TCPServer):
    """Echoes lines back; remembers what it saw."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streams: list[IOStream] = []

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line)
        except StreamClosedError:
            pass


async def _open(
    port: int, host: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(host, port), 5)


async def _roundtrip(port: int, payload: bytes = b"ping\n") -> bytes:
    reader, writer = await _open(port)
    try:
        writer.write(payload)
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


def _free_port() -> int:
    [sock] = bind_sockets(0, "127.0.0.1")
    port: int = sock.getsockname()[1]
    sock.close()
    return port


async def test_add_sockets_echo() -> None:
    server = EchoServer()
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    try:
        assert await _roundtrip(port) == b"ping\n"
        # Several clients at once.
        results = await asyncio.gather(*(_roundtrip(port, b"%d\n" % i) for i in range(10)))
        assert results == [b"%d\n" % i for i in range(10)]
    finally:
        server.stop()


async def test_listen() -> None:
    port = _free_port()
    server = EchoServer()
    server.listen(port, address="127.0.0.1")
    try:
        assert await _roundtrip(port) == b"ping\n"
    finally:
        server.stop()


async def test_add_socket_and_buffer_options() -> None:
    server = EchoServer(max_buffer_size=4096, read_chunk_size=512)
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_socket(sock)
    try:
        assert await _roundtrip(sock.getsockname()[1]) == b"ping\n"
        assert server.streams[0].max_buffer_size == 4096
        assert server.streams[0].read_chunk_size == 512
    finally:
        server.stop()


async def test_sync_handle_stream() -> None:
    class Greeter(TCPServer):
        def handle_stream(self, stream: IOStream, address: Any) -> None:
            # Written data is still sent when the stream closes right after the write.
            stream.write(b"hello\n")
            stream.close()

    server = Greeter()
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        reader, writer = await _open(sock.getsockname()[1])
        assert await asyncio.wait_for(reader.read(), 5) == b"hello\n"
        writer.close()
        await writer.wait_closed()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["coroutine", "plain"])
async def test_handle_stream_errors_are_logged(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(TCPServer):
        def handle_stream(self, stream: IOStream, address: Any) -> Any:
            stream.close()
            if kind == "plain":
                raise ValueError("plain failure")

            async def fail() -> None:
                raise ValueError("coroutine failure")

            return fail()

    server = Broken()
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        with caplog.at_level(logging.ERROR, logger="typhoon.application"):
            reader, writer = await _open(sock.getsockname()[1])
            await asyncio.wait_for(reader.read(), 5)
            writer.close()
            await writer.wait_closed()
            for _ in range(100):
                if caplog.records:
                    break
                await asyncio.sleep(0.01)
        [record] = caplog.records
        assert record.name == "typhoon.application"
        assert record.getMessage() == "Error in connection callback"
        assert record.exc_info is not None
        assert f"{kind} failure" in str(record.exc_info[1])
    finally:
        server.stop()


async def test_stop_stops_accepting_but_keeps_connections() -> None:
    server = EchoServer()
    [sock] = bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    server.add_sockets([sock])
    reader, writer = await _open(port)
    writer.write(b"before\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b"before\n"
    server.stop()
    server.stop()
    assert sock.fileno() == -1
    with pytest.raises(ConnectionRefusedError):
        await _open(port)
    writer.write(b"after\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b"after\n"
    writer.close()
    await writer.wait_closed()


async def test_bind_start_single_process() -> None:
    port = _free_port()
    server = EchoServer()
    server.bind(port, address="127.0.0.1")
    server.start(1)
    try:
        assert await _roundtrip(port) == b"ping\n"
        # bind after start adds the sockets right away.
        second = _free_port()
        server.bind(second, address="127.0.0.1", family=socket.AF_INET)
        assert await _roundtrip(second) == b"ping\n"
        with pytest.raises(RuntimeError):
            server.start()
    finally:
        server.stop()


def test_stop_closes_pending_sockets() -> None:
    server = EchoServer()
    server.bind(0, address="127.0.0.1")
    pending = list(server._pending_sockets)
    server.stop()
    assert all(sock.fileno() == -1 for sock in pending)


def test_handle_stream_must_be_overridden() -> None:
    with pytest.raises(NotImplementedError):
        TCPServer().handle_stream(None, None)  # type: ignore[arg-type]


def test_bind_start_multiple_processes(tmp_path: Path) -> None:
    # Forking needs a process with no event loop: run the scenario in a child interpreter.
    script = tmp_path / "prefork.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys
            from pathlib import Path
            from typhoon.ioloop import IOLoop
            from typhoon.process import task_id
            from typhoon.tcpserver import TCPServer

            out = Path(sys.argv[1])

            class Server(TCPServer):
                async def handle_stream(self, stream, address):
                    await stream.write(b"%d\\n" % task_id())
                    stream.close()

            server = Server()
            server.bind(0, address="127.0.0.1")
            port = server._pending_sockets[0].getsockname()[1]
            (out / "port").write_text(str(port))
            server.start(2, max_restarts=0)

            async def serve_briefly():
                (out / f"ready-{task_id()}").write_text("x")
                await asyncio.sleep(1.5)
                server.stop()

            IOLoop.current().run_sync(serve_briefly)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if len(list(tmp_path.glob("ready-*"))) == 2:
                break
            proc.poll()
            assert proc.returncode is None
            subprocess.run(["sleep", "0.02"], check=True)
        assert sorted(p.name for p in tmp_path.glob("ready-*")) == ["ready-0", "ready-1"]
        port = int((tmp_path / "port").read_text())
        seen = set()
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                seen.add(int(conn.makefile().readline()))
        assert seen <= {0, 1}
        assert seen
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()


# --- TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return {"certfile": str(certfile), "keyfile": str(keyfile), "client": client}


async def test_tls_handshake_before_handle_stream(tls: dict[str, Any]) -> None:
    seen: list[Any] = []

    class Server(TCPServer):
        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            # The handshake is complete: the peer's protocol version is known already.
            assert isinstance(stream, SSLIOStream)
            seen.append(stream.socket)
            line = await stream.read_until(b"\n")
            await stream.write(line.upper())
            stream.close()

    server = Server(ssl_options={"certfile": tls["certfile"], "keyfile": tls["keyfile"]})
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", sock.getsockname()[1], ssl=tls["client"], server_hostname="localhost"
            ),
            5,
        )
        writer.write(b"tls\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"TLS\n"
        writer.close()
        await writer.wait_closed()
        assert len(seen) == 1
    finally:
        server.stop()


async def test_tls_failed_handshake_never_reaches_handler(
    tls: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    called: list[Any] = []

    class Server(TCPServer):
        def handle_stream(self, stream: IOStream, address: Any) -> None:
            called.append(address)
            stream.close()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls["certfile"], tls["keyfile"])
    server = Server(ssl_options=context)
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        with caplog.at_level(logging.WARNING, logger="typhoon.general"):
            reader, writer = await _open(sock.getsockname()[1])
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            await writer.wait_closed()
            for _ in range(100):
                if caplog.records:
                    break
                await asyncio.sleep(0.01)
        assert called == []
        assert any("TLS handshake" in r.getMessage() for r in caplog.records)
    finally:
        server.stop()


def test_ssl_options_validation(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="certfile"):
        TCPServer(ssl_options={"keyfile": "x"})
    with pytest.raises(ValueError, match="does not exist"):
        TCPServer(ssl_options={"certfile": str(tmp_path / "missing.pem")})


def test_ssl_options_missing_keyfile(tls: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keyfile"):
        TCPServer(ssl_options={"certfile": tls["certfile"], "keyfile": str(tmp_path / "no")})


def test_module_exports() -> None:
    for name in tcpserver.__all__:
        assert getattr(tcpserver, name).__doc__, name


async def test_stop_cancels_tls_handshakes_in_progress(tls: dict[str, Any]) -> None:
    called: list[Any] = []

    class Server(TCPServer):
        def handle_stream(self, stream: IOStream, address: Any) -> None:
            called.append(address)

    server = Server(ssl_options={"certfile": tls["certfile"], "keyfile": tls["keyfile"]})
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    # A client that connects but never starts the handshake.
    reader, writer = await _open(sock.getsockname()[1])
    for _ in range(100):
        if server._handshakes:
            break
        await asyncio.sleep(0.01)
    assert len(server._handshakes) == 1
    server.stop()
    for _ in range(100):
        if not server._handshakes:
            break
        await asyncio.sleep(0.01)
    assert not server._handshakes
    # The abandoned connection is closed as soon as its handshake completes; it never
    # reaches handle_stream.
    await asyncio.wait_for(writer.start_tls(tls["client"], server_hostname="localhost"), 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert called == []
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()
