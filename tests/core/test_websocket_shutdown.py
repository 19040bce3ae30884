"""HTTPServer.shutdown() with WebSocket connections open: every client gets a Close
frame with 1001 (going away, RFC 6455 section 7.4.1), the shutdown waits for the
closing handshakes within its deadline, and drops the connections still open after it.
Clients: the ``websockets`` library, typhoon's own client and a raw socket that never
answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import websockets
from _websocket_net import WAIT, Log, RawClient, Recorder, make_app
from typhoon.httpserver import HTTPServer
from typhoon.netutil import bind_sockets
from typhoon.web import RequestHandler
from typhoon.websocket import websocket_connect


class Echo(Recorder):
    def on_message(self, message: str | bytes) -> Any:
        super().on_message(message)
        return self.write_message(message)


class Plain(RequestHandler):
    def get(self) -> None:
        self.write("plain")


@contextlib.asynccontextmanager
async def running(log: Log) -> AsyncIterator[tuple[HTTPServer, int]]:
    server = HTTPServer(make_app([(r"/ws", Echo, {"log": log}), (r"/", Plain)], log))
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        yield server, sock.getsockname()[1]
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), WAIT)


async def until(condition: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        assert loop.time() < deadline
        await asyncio.sleep(0.01)


async def test_shutdown_closes_websockets_with_1001_and_waits_for_them() -> None:
    log = Log()
    async with running(log) as (server, port):
        url = f"ws://127.0.0.1:{port}/ws"
        async with websockets.connect(url) as first, websockets.connect(url) as second:
            await first.send("before")
            assert await asyncio.wait_for(first.recv(), WAIT) == "before"
            await until(lambda: len(log.handlers) == 2)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.wait_for(server.shutdown(timeout=WAIT), 2 * WAIT)
            # Both clients answered at once: the shutdown did not wait for its deadline.
            assert loop.time() - started < WAIT / 2
            for client in (first, second):
                await asyncio.wait_for(client.wait_closed(), WAIT)
                assert client.close_code == 1001
                assert client.close_reason == "server shutting down"
        # Both handlers ran on_close, with the code the clients echoed.
        closes = [event for event in log.events if event[0] == "close"]
        assert closes == [("close", 1001, "server shutting down")] * 2
        assert all(handler.ws_connection is None for handler in log.handlers)


async def test_shutdown_drops_a_client_that_never_answers_at_the_deadline() -> None:
    log = Log()
    async with running(log) as (server, port):
        silent = await RawClient.connect(port)
        try:
            status, _headers = await silent.handshake("/ws")
            assert status == 101
            await until(lambda: len(log.handlers) == 1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.wait_for(server.shutdown(timeout=0.3), WAIT)
            elapsed = loop.time() - started
            assert 0.25 < elapsed < WAIT / 2
            # The Close frame came first, then the connection was dropped.
            frame = await silent.read_frame()
            assert frame.opcode == 0x8
            assert not frame.masked
            assert frame.close_code == 1001
            assert await asyncio.wait_for(silent.reader.read(), WAIT) == b""
        finally:
            await silent.aclose()
        await asyncio.wait_for(log.closed, WAIT)
        assert log.handlers[0].ws_connection is None


async def test_shutdown_with_typhoon_client_and_http_connections() -> None:
    log = Log()
    async with running(log) as (server, port):
        connection = await asyncio.wait_for(websocket_connect(f"ws://127.0.0.1:{port}/ws"), WAIT)
        idle_http = await RawClient.connect(port)
        try:
            await connection.write_message("hi")
            assert await asyncio.wait_for(connection.read_message(), WAIT) == "hi"
            await asyncio.wait_for(server.shutdown(timeout=WAIT), 2 * WAIT)
            # The client saw the server go away.
            assert await asyncio.wait_for(connection.read_message(), WAIT) is None
            assert connection.close_code == 1001
            # An idle keep-alive HTTP connection was closed as before.
            assert await asyncio.wait_for(idle_http.reader.read(), WAIT) == b""
        finally:
            connection.close()
            await idle_http.aclose()
        await asyncio.wait_for(log.closed, WAIT)
        # After the shutdown no connection is accepted.
        refused = False
        try:
            probe = await RawClient.connect(port)
        except OSError:
            refused = True
        else:
            await probe.aclose()
        assert refused


async def test_connections_closed_before_shutdown_leave_the_registry() -> None:
    log = Log()
    async with running(log) as (server, port):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as client:
            await client.send("x")
            assert await asyncio.wait_for(client.recv(), WAIT) == "x"
        await asyncio.wait_for(log.closed, WAIT)
        # Nothing left to wait for: the shutdown returns at once.
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(server.shutdown(timeout=WAIT), 2 * WAIT)
        assert loop.time() - started < WAIT / 2


async def test_a_handshake_finishing_during_shutdown_is_told_at_once() -> None:
    log = Log()
    gate = asyncio.Event()

    class Late(Echo):
        async def get(self, *args: Any, **kwargs: Any) -> None:
            await gate.wait()
            await super().get(*args, **kwargs)

    server = HTTPServer(make_app([(r"/late", Late, {"log": log})], log))
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    client = await RawClient.connect(sock.getsockname()[1])
    try:
        handshake = asyncio.ensure_future(client.handshake("/late"))
        await asyncio.sleep(0.05)
        assert not handshake.done()
        shutdown = asyncio.ensure_future(server.shutdown(timeout=WAIT))
        await asyncio.sleep(0.05)
        assert not shutdown.done()
        gate.set()
        status, _headers = await asyncio.wait_for(handshake, WAIT)
        assert status == 101
        # The new connection is closed with 1001 at once; the shutdown waits for it.
        frame = await client.read_frame()
        assert (frame.opcode, frame.close_code) == (0x8, 1001)
        assert not shutdown.done()
        client.send_close(1001)
        await asyncio.wait_for(shutdown, WAIT)
        assert await asyncio.wait_for(client.reader.read(), WAIT) == b""
    finally:
        await client.aclose()
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), WAIT)
    await asyncio.wait_for(log.closed, WAIT)
    assert log.closed.result() == (1001, None)
