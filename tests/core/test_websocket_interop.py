"""typhoon's WebSocket server and client against an independent implementation.

The ``websockets`` library (its asyncio client and server) talks to a typhoon
``WebSocketHandler`` behind the HTTP server, and typhoon's ``websocket_connect`` talks
to a ``websockets`` server, over loopback sockets, with and without
permessage-deflate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import websockets
from _websocket_net import WAIT, Log, Recorder, make_app, serve
from typhoon.errors import HTTPClientError
from typhoon.websocket import WebSocketClientConnection, websocket_connect
from websockets.asyncio.client import connect as their_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as their_serve
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

PAYLOADS: list[str | bytes] = ["", "hello", "☃ snow", "x" * 70_000, b"", b"\x00\xff" * 40_000]

# Our compression options, and theirs, per scenario (None: compression off).
COMPRESSION: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {
    "plain": (None, None),
    "deflate": ({}, {}),
    "no_context_takeover": (
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
    ),
    "window_bits": (
        {"server_max_window_bits": 10, "client_max_window_bits": 11},
        {"server_max_window_bits": 10, "client_max_window_bits": 11},
    ),
}


class Echo(Recorder):
    compression: dict[str, Any] | None = None

    def get_compression_options(self) -> dict[str, Any] | None:
        return self.compression

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "b" if "b" in subprotocols else None

    async def on_message(self, message: str | bytes) -> None:
        super().on_message(message)
        if message == "close please":
            self.close(1001, "as you wish")
            return
        await self.write_message(message, binary=isinstance(message, bytes))


def their_client_extensions(options: dict[str, Any] | None) -> list[Any] | None:
    return None if options is None else [ClientPerMessageDeflateFactory(**options)]


def their_server_extensions(options: dict[str, Any] | None) -> list[Any] | None:
    return None if options is None else [ServerPerMessageDeflateFactory(**options)]


# --- their client, our server ---------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(COMPRESSION))
async def test_their_client_with_our_server(scenario: str) -> None:
    ours, theirs = COMPRESSION[scenario]
    log = Log()
    handler = type("Handler", (Echo,), {"compression": ours})
    app = make_app([("/echo", handler, {"log": log})], log)
    async with serve(app) as port:
        async with their_connect(
            f"ws://127.0.0.1:{port}/echo",
            extensions=their_client_extensions(theirs),
            compression=None,
            subprotocols=["a", "b"],  # type: ignore[list-item]
            proxy=None,
            max_size=None,
        ) as ws:
            assert ws.subprotocol == "b"
            assert len(ws.protocol.extensions) == (0 if ours is None else 1)
            for payload in PAYLOADS:
                await ws.send(payload)
                assert await asyncio.wait_for(ws.recv(), WAIT) == payload
            # A fragmented message, sent frame by frame.
            await ws.send(iter(["frag", "ment", "ed"]))
            assert await asyncio.wait_for(ws.recv(), WAIT) == "fragmented"
            pong = await ws.ping(b"hi")
            await asyncio.wait_for(pong, WAIT)
            await ws.close(4000, "done here")
        assert await asyncio.wait_for(asyncio.shield(log.closed), WAIT) == (4000, "done here")
        assert log.messages()[: len(PAYLOADS)] == PAYLOADS


async def test_their_client_sees_our_server_close() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        async with their_connect(f"ws://127.0.0.1:{port}/echo", proxy=None) as ws:
            await ws.send("close please")
            with pytest.raises(websockets.ConnectionClosedOK) as info:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1001, "as you wish")
        # They echo our code and reason (RFC 6455 section 5.5.1 allows either).
        assert await asyncio.wait_for(asyncio.shield(log.closed), WAIT) == (1001, "as you wish")


async def test_their_client_answers_our_keepalive_pings() -> None:
    log = Log()
    pongs: list[bytes] = []

    class Keep(Echo):
        def on_pong(self, data: bytes) -> None:
            pongs.append(data)

    app = make_app(
        [("/echo", Keep, {"log": log})],
        log,
        websocket_ping_interval=0.2,
        websocket_ping_timeout=0.2,
    )
    async with serve(app) as port:
        async with their_connect(f"ws://127.0.0.1:{port}/echo", proxy=None) as ws:
            await asyncio.sleep(0.7)
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "still here"
        assert len(pongs) >= 2


async def test_their_client_is_failed_with_1009_over_our_limit() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log, websocket_max_message_size=1000)
    async with serve(app) as port:
        async with their_connect(f"ws://127.0.0.1:{port}/echo", proxy=None) as ws:
            await ws.send("m" * 1001)
            with pytest.raises(websockets.ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009


async def test_their_client_is_refused_from_another_origin() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with their_connect(
                f"ws://127.0.0.1:{port}/echo",
                origin="https://elsewhere.example",  # type: ignore[arg-type]
                proxy=None,
            ):
                pass
        assert info.value.response.status_code == 403
        assert log.events == []


# --- our client, their server ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def their_server(
    handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[int]:
    kwargs.setdefault("compression", None)
    async with their_serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield server.sockets[0].getsockname()[1]


async def their_echo(ws: ServerConnection) -> None:
    async for message in ws:
        if message == "fragments please":
            await ws.send(iter(["frag", "ment", "ed"]))
        elif message == "close please":
            await ws.close(1001, "bye")
        else:
            await ws.send(message)


async def our_connect(port: int, **kwargs: Any) -> WebSocketClientConnection:
    return await asyncio.wait_for(websocket_connect(f"ws://127.0.0.1:{port}/", **kwargs), WAIT)


@pytest.mark.parametrize("scenario", list(COMPRESSION))
async def test_our_client_with_their_server(scenario: str) -> None:
    ours, theirs = COMPRESSION[scenario]
    async with their_server(
        their_echo,
        extensions=their_server_extensions(theirs),
        subprotocols=["chat"],
        max_size=None,
    ) as port:
        conn = await our_connect(port, compression_options=ours, subprotocols=["other", "chat"])
        assert conn.selected_subprotocol == "chat"
        assert ("Sec-WebSocket-Extensions" in conn.headers) == (ours is not None)
        for payload in PAYLOADS:
            await conn.write_message(payload, binary=isinstance(payload, bytes))
            assert await asyncio.wait_for(conn.read_message(), WAIT) == payload
        await conn.write_message("fragments please")
        assert await asyncio.wait_for(conn.read_message(), WAIT) == "fragmented"
        await conn.write_message("close please")
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None
        assert (conn.close_code, conn.close_reason) == (1001, "bye")


async def test_our_client_closes_and_their_server_sees_the_code() -> None:
    seen: asyncio.Future[tuple[int | None, str | None]] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _message in ws:
                pass
        seen.set_result((ws.close_code, ws.close_reason))

    async with their_server(handler) as port:
        conn = await our_connect(port)
        conn.close(4321, "client leaving")
        assert await asyncio.wait_for(seen, WAIT) == (4321, "client leaving")
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None
        assert conn.close_code == 4321


async def test_our_client_answers_their_pings_and_pings_them() -> None:
    async with their_server(their_echo, ping_interval=0.05, ping_timeout=0.2) as port:
        conn = await our_connect(port)
        pongs: list[bytes] = []
        conn.on_pong = pongs.append  # type: ignore[method-assign,assignment]
        conn.ping(b"ours")
        await asyncio.sleep(0.4)
        # Their server would have closed us after a missed pong.
        await conn.write_message("alive")
        assert await asyncio.wait_for(conn.read_message(), WAIT) == "alive"
        assert pongs == [b"ours"]
        conn.close()
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None


async def test_our_client_limit_fails_their_server_with_1009() -> None:
    seen: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        await ws.send("z" * 2000)
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.recv()
        seen.set_result(ws.close_code)

    async with their_server(handler) as port:
        conn = await our_connect(port, max_message_size=1000)
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None
        assert await asyncio.wait_for(seen, WAIT) == 1009


async def test_their_server_limit_fails_our_client_with_1009() -> None:
    async with their_server(their_echo, max_size=1000) as port:
        conn = await our_connect(port)
        await conn.write_message("q" * 1001)
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None
        assert conn.close_code == 1009


async def test_their_server_refusing_the_handshake() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.close()

    async with their_server(handler, subprotocols=["only-this"]) as port:
        with pytest.raises(HTTPClientError) as info:
            await our_connect(port, subprotocols=["something-else"])
        assert info.value.code == 400
