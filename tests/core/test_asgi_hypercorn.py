"""``typhoon.asgi.asgi_app`` under hypercorn, a second ASGI server (HTTP/1.1 by h11,
WebSocket by wsproto), in a process of its own, driven over loopback by typhoon's HTTP
client, ``requests``, the ``websockets`` library, typhoon's ``websocket_connect`` and
raw sockets.

The served application records what only the server process sees (lifespan hooks,
close codes) in a file the tests read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from _asgi_echo import chat_with_echo, check_routes, check_streamed_upload
from _httphelpers import WAIT
from _websocket_net import RawClient as RawWebSocket
from _wshelpers import raw_frame
from typhoon.httpclient import AsyncHTTPClient
from typhoon.websocket import websocket_connect

_SERVED_MODULE = """
import os

import typhoon
from _asgi_app import EchoBase, routes
from typhoon.asgi import asgi_app
from typhoon.web import Application

RECORD = os.environ["TYPHOON_TEST_RECORD"]


def record(line):
    with open(RECORD, "a", encoding="utf-8") as f:
        f.write(line + "\\n")


class Events:
    @typhoon.hookimpl
    async def startup(self, app):
        record("startup")

    @typhoon.hookimpl
    async def shutdown(self, app):
        record("shutdown")


class Echo(EchoBase):
    def log_exception(self, typ, value, tb):
        record(f"error {value}")

    def on_close(self):
        record(f"close {self.close_code} {self.close_reason}")


app = asgi_app(Application(routes(Echo), plugins=[Events()], load_entrypoints=False))
"""


class Hypercorn:
    """A hypercorn process serving the module above on 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        (directory / "served_by_hypercorn.py").write_text(textwrap.dedent(_SERVED_MODULE))
        self.record = directory / "record.txt"
        self.record.write_text("")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        env = {
            **os.environ,
            # The served module and the application module it imports (_asgi_app).
            "PYTHONPATH": os.pathsep.join(
                [str(directory), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
            ),
            "TYPHOON_TEST_RECORD": str(self.record),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hypercorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "2",
                "--log-level",
                "warning",
                "served_by_hypercorn:app",
            ],
            cwd=directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def lines(self) -> list[str]:
        """What the served application recorded so far."""
        return self.record.read_text(encoding="utf-8").splitlines()

    async def wait_for_line(self, line: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while line not in self.lines():
            assert loop.time() < deadline, (line, self.lines())
            await asyncio.sleep(0.02)

    async def wait_for_line_starting(self, prefix: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not any(line.startswith(prefix) for line in self.lines()):
            assert loop.time() < deadline, (prefix, self.lines())
            await asyncio.sleep(0.02)

    async def started(self, client: AsyncHTTPClient) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * WAIT
        while loop.time() < deadline and self.process.poll() is None:
            try:
                await client.fetch(f"http://127.0.0.1:{self.port}/info")
            except OSError:
                await asyncio.sleep(0.1)
                continue
            return
        raise AssertionError(f"hypercorn did not start (exit status {self.process.poll()})")

    async def stop(self) -> str:
        """Stop with SIGTERM (a graceful shutdown); return what it wrote to stderr."""
        self.process.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(self.process.wait), 2 * WAIT)
        except TimeoutError:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
        assert self.process.stderr is not None
        errors = self.process.stderr.read().decode(errors="replace")
        self.process.stderr.close()
        return errors


@contextlib.asynccontextmanager
async def under_hypercorn(directory: Path) -> AsyncIterator[tuple[Hypercorn, AsyncHTTPClient]]:
    server = Hypercorn(directory)
    client = AsyncHTTPClient(force_instance=True)
    try:
        await server.started(client)
        yield server, client
    finally:
        client.close()
        errors = await server.stop()
        assert "Traceback" not in errors, errors
    # SIGTERM ran the lifespan shutdown: the application's shutdown hooks ran.
    assert server.lines()[:1] == ["startup"]
    assert "shutdown" in server.lines()


async def test_http_under_hypercorn(tmp_path: Path) -> None:
    async with under_hypercorn(tmp_path) as (server, client):
        base = f"http://127.0.0.1:{server.port}"
        response = await client.fetch(f"{base}/info?q=x%20y")
        data = json.loads(response.body)
        assert data == {
            "path": "/info",
            "query": "x y",
            "remote_ip": "127.0.0.1",
            "protocol": "http",
            "host": f"127.0.0.1:{server.port}",
            "version": "HTTP/1.1",
        }
        assert response.headers.get_list("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
        # Date comes from hypercorn, once.
        assert len(response.headers.get_list("Date")) == 1
        await check_routes(base, client)
        await check_streamed_upload(base, client)
        assert server.lines() == ["startup"]


async def test_websocket_handler_under_hypercorn(tmp_path: Path) -> None:
    async with under_hypercorn(tmp_path) as (server, _client):
        url = f"ws://127.0.0.1:{server.port}/ws"
        await chat_with_echo(url)
        # on_close runs. Hypercorn 0.18 reports a client's Close to the application as
        # 1006 without the client's code (its websocket.disconnect carries 1000 or 1006
        # only), which the adapter reports as no code; a server that passes the code on
        # gives (4000, "client leaving").
        await server.wait_for_line_starting("close ")
        assert server.lines()[-1] in ("close None None", "close 4000 client leaving")
        # The handler closes: its code and reason reach the client.
        async with websockets.connect(url) as ws:
            await ws.send("bye")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")
        # A handler that raises closes with 1011.
        async with websockets.connect(url) as ws:
            await ws.send("fail")
            with pytest.raises(websockets.ConnectionClosed) as failed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert failed.value.rcvd is not None
        assert failed.value.rcvd.code == 1011
        await server.wait_for_line("error handler bug")


async def test_websocket_refusals_under_hypercorn(tmp_path: Path) -> None:
    async with under_hypercorn(tmp_path) as (server, _client):
        # A cross-origin page is refused by check_origin.
        with pytest.raises(websockets.InvalidStatus) as cross:
            async with websockets.connect(
                f"ws://127.0.0.1:{server.port}/ws",
                origin=websockets.Origin("http://evil.example"),
            ):
                pass
        assert cross.value.response.status_code == 403
        # A path without a WebSocket handler answers its own status.
        with pytest.raises(websockets.InvalidStatus) as missing:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/missing"):
                pass
        assert missing.value.response.status_code == 404


async def test_typhoon_and_raw_clients_under_hypercorn(tmp_path: Path) -> None:
    async with under_hypercorn(tmp_path) as (server, _client):
        connection = await asyncio.wait_for(
            websocket_connect(f"ws://127.0.0.1:{server.port}/ws", subprotocols=["x"]), WAIT
        )
        try:
            assert connection.selected_subprotocol == "x"
            await connection.write_message("round trip")
            assert await asyncio.wait_for(connection.read_message(), WAIT) == "echo:round trip"
            await connection.write_message(b"\x00\x01\x02", binary=True)
            assert await asyncio.wait_for(connection.read_message(), WAIT) == b"\x02\x01\x00"
        finally:
            connection.close(1000, "done")
        assert await asyncio.wait_for(connection.read_message(), WAIT) is None
        await server.wait_for_line_starting("close ")
        assert server.lines()[-1] in ("close None None", "close 1000 done")
        # Hand-made frames: a message split over two fragments arrives whole.
        raw = await RawWebSocket.connect(server.port)
        try:
            status, _headers = await raw.handshake("/ws")
            assert status == 101
            raw.send(raw_frame(0x1, b"frag", fin=False) + raw_frame(0x0, b"mented"))
            frame = await raw.read_data_frame()
            assert (frame.opcode, frame.fin, frame.masked) == (0x1, True, False)
            assert frame.payload == b"echo:fragmented"
            raw.send_close(1000)
            assert (await raw.read_data_frame()).close_code == 1000
        finally:
            await raw.aclose()
