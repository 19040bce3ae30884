"""Strict RFC 6455 over real sockets: each rule a peer can break, one raw-frame test.

The server side is a typhoon ``WebSocketHandler`` behind the HTTP server, the peer a
hand-written client; the client side is ``websocket_connect`` against a hand-written
asyncio server. Every violation must be answered with a Close frame carrying the
right code (never a bare TCP drop), then the end of the connection, and the
handler's ``on_close`` must run.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from _websocket_net import (
    WAIT,
    Log,
    RawClient,
    Recorder,
    accept_for,
    make_app,
    serve,
    ws_key,
)
from _wshelpers import raw_frame
from typhoon import _wsconnection
from typhoon.websocket import WebSocketClientConnection, websocket_connect


class Echo(Recorder):
    def on_message(self, message: str | bytes) -> Any:
        super().on_message(message)
        return self.write_message(message, binary=isinstance(message, bytes))


@contextlib.asynccontextmanager
async def opened(**settings: Any) -> AsyncIterator[tuple[RawClient, Log]]:
    """A raw client with a completed handshake to an echo handler."""
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log, **settings)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        status, _ = await raw.handshake("/echo")
        assert status == 101
        try:
            yield raw, log
        finally:
            await raw.aclose()


async def assert_failed(raw: RawClient, log: Log, code: int) -> None:
    await raw.expect_close(code)
    assert await asyncio.wait_for(asyncio.shield(log.closed), WAIT) == (None, None)


# --- server side ------------------------------------------------------------------------


async def test_unmasked_client_frame_gets_1002() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x1, b"hello", mask=None))
        await assert_failed(raw, log, 1002)
        assert log.messages() == []


async def test_invalid_utf8_text_gets_1007() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x1, b"ok \xff\xfe"))
        await assert_failed(raw, log, 1007)


async def test_invalid_utf8_split_across_fragments_gets_1007() -> None:
    async with opened() as (raw, log):
        # A UTF-16 surrogate (ED A0 80) can never be valid: fail on the first fragment.
        raw.send(raw_frame(0x1, b"abc\xed\xa0", fin=False))
        await assert_failed(raw, log, 1007)


async def test_invalid_utf8_in_close_reason_gets_1007() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x8, struct.pack("!H", 1000) + b"\xc3\x28"))
        await assert_failed(raw, log, 1007)


async def test_fragmented_control_frame_gets_1002() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x9, b"ping", fin=False))
        await assert_failed(raw, log, 1002)


async def test_oversized_control_frame_gets_1002() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x9, b"p" * 126))
        await assert_failed(raw, log, 1002)


@pytest.mark.parametrize("rsv", [4, 2, 1])
async def test_rsv_bits_without_an_extension_get_1002(rsv: int) -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x1, b"x", rsv=rsv))
        await assert_failed(raw, log, 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
async def test_reserved_opcodes_get_1002(opcode: int) -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(opcode, b""))
        await assert_failed(raw, log, 1002)


async def test_continuation_without_a_message_gets_1002() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x0, b"orphan"))
        await assert_failed(raw, log, 1002)


async def test_new_message_inside_a_fragmented_one_gets_1002() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x1, b"first", fin=False) + raw_frame(0x1, b"second"))
        await assert_failed(raw, log, 1002)


async def test_message_over_max_message_size_gets_1009() -> None:
    async with opened(websocket_max_message_size=1000) as (raw, log):
        raw.send(raw_frame(0x2, b"x" * 1001))
        await assert_failed(raw, log, 1009)


async def test_fragmented_message_over_max_message_size_gets_1009() -> None:
    async with opened(websocket_max_message_size=1000) as (raw, log):
        raw.send(raw_frame(0x2, b"x" * 600, fin=False))
        raw.send(raw_frame(0x0, b"x" * 600))
        await assert_failed(raw, log, 1009)
        assert log.messages() == []


async def test_huge_declared_length_is_refused_before_the_payload() -> None:
    async with opened() as (raw, log):
        # Only the header: 2**40 bytes announced. The answer must not wait for them.
        raw.send(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 40) + b"\x00\x00\x00\x00")
        await assert_failed(raw, log, 1009)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
async def test_invalid_close_codes_get_1002(code: int) -> None:
    async with opened() as (raw, log):
        raw.send_close(code)
        await assert_failed(raw, log, 1002)


async def test_one_byte_close_payload_gets_1002() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x8, b"\x03"))
        await assert_failed(raw, log, 1002)


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
async def test_valid_close_is_echoed_then_the_server_closes_tcp(code: int) -> None:
    async with opened() as (raw, log):
        raw.send_close(code, b"fine")
        # Section 5.5.1: the reply echoes the code; section 7.1.1: the server closes first.
        frame = await raw.expect_close(code)
        assert frame.fin
        assert await asyncio.wait_for(asyncio.shield(log.closed), WAIT) == (code, "fine")


async def test_close_without_status_is_answered_without_status() -> None:
    async with opened() as (raw, log):
        raw.send_close(None)
        frame = await raw.read_frame()
        assert frame.opcode == 0x8
        assert frame.payload == b""
        await raw.expect_eof()
        assert await asyncio.wait_for(asyncio.shield(log.closed), WAIT) == (None, None)


async def test_ping_is_answered_with_the_same_payload() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x9, b"are you there"))
        frame = await raw.read_frame()
        assert (frame.opcode, frame.payload, frame.masked) == (0xA, b"are you there", False)
        assert log.messages() == []


async def test_fragments_with_a_ping_between_them_form_one_message() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x1, b"frag", fin=False))
        raw.send(raw_frame(0x9, b"mid"))
        raw.send(raw_frame(0x0, "mented ☃".encode(), fin=False))
        raw.send(raw_frame(0x0, b""))
        pong = await raw.read_frame()
        assert (pong.opcode, pong.payload) == (0xA, b"mid")
        echo = await raw.read_frame()
        assert (echo.opcode, echo.fin, echo.payload) == (0x1, True, "fragmented ☃".encode())
        assert log.messages() == ["fragmented ☃"]


async def test_frames_fed_byte_by_byte_still_work() -> None:
    async with opened() as (raw, log):
        data = raw_frame(0x1, "slow ☃".encode())
        for i in range(len(data)):
            raw.send(data[i : i + 1])
            await raw.writer.drain()
            await asyncio.sleep(0)
        frame = await raw.read_frame()
        assert frame.payload == "slow ☃".encode()
        assert log.messages() == ["slow ☃"]


async def test_server_frames_are_never_masked() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x2, b"\x01\x02"))
        frame = await raw.read_frame()
        assert (frame.opcode, frame.masked, frame.rsv) == (0x2, False, 0)
        assert log.messages() == [b"\x01\x02"]


async def test_data_after_close_is_ignored() -> None:
    async with opened() as (raw, log):
        raw.send(raw_frame(0x8, struct.pack("!H", 1000)) + raw_frame(0x1, b"late"))
        await raw.expect_close(1000)
        await asyncio.wait_for(asyncio.shield(log.closed), WAIT)
        assert log.messages() == []


# --- client side --------------------------------------------------------------------------


class RawServer:
    """A hand-written server: completes the handshake, then runs ``script``."""

    def __init__(self, script: Callable[[RawClient], Awaitable[None]]) -> None:
        self.script = script
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept_for(key).encode()
                + b"\r\n\r\n"
            )
            await self.script(RawClient(reader, writer))
            self.done.set_result(None)
        except BaseException as exc:
            self.done.set_exception(exc)
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def raw_server(
    script: Callable[[RawClient], Awaitable[None]],
) -> AsyncIterator[tuple[WebSocketClientConnection, RawServer]]:
    server_side = RawServer(script)
    server = await asyncio.start_server(server_side.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        conn = await asyncio.wait_for(websocket_connect(f"ws://127.0.0.1:{port}/"), WAIT)
        yield conn, server_side
        await asyncio.wait_for(server_side.done, WAIT)
    finally:
        for writer in server_side.writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def expect_client_close(peer: RawClient, code: int) -> None:
    """Our client must send a masked Close with ``code`` and then end the connection."""
    frame = await peer.read_frame()
    assert frame.opcode == 0x8, frame
    assert frame.masked
    assert frame.close_code == code
    assert await asyncio.wait_for(peer.reader.read(), WAIT) == b""


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (raw_frame(0x1, b"masked by the server"), 1002),
        (raw_frame(0x1, b"\xff", mask=None), 1007),
        (raw_frame(0x1, b"x", rsv=4, mask=None), 1002),
        (raw_frame(0x5, b"", mask=None), 1002),
        (raw_frame(0xA, b"p" * 126, mask=None), 1002),
        (raw_frame(0x0, b"x", mask=None), 1002),
        (raw_frame(0x8, struct.pack("!H", 1005), mask=None), 1002),
    ],
    ids=["masked", "utf8", "rsv1", "opcode", "control-size", "continuation", "close-code"],
)
async def test_client_fails_a_server_that_breaks_the_rules(frame: bytes, code: int) -> None:
    async def script(peer: RawClient) -> None:
        peer.send(frame)
        await expect_client_close(peer, code)

    async with raw_server(script) as (conn, _server):
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None


async def test_client_refuses_oversized_messages_with_1009() -> None:
    async def script(peer: RawClient) -> None:
        peer.send(raw_frame(0x2, b"y" * (10 * 1024 * 1024 + 1), mask=None))
        await expect_client_close(peer, 1009)

    async with raw_server(script) as (conn, _server):
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None


async def test_client_masks_its_frames_and_answers_pings() -> None:
    async def script(peer: RawClient) -> None:
        peer.send(raw_frame(0x9, b"hb", mask=None))
        pong = await peer.read_frame()
        assert (pong.opcode, pong.payload, pong.masked) == (0xA, b"hb", True)
        message = await peer.read_frame()
        assert (message.opcode, message.payload, message.masked) == (0x1, b"hi", True)
        peer.send(raw_frame(0x8, struct.pack("!H", 1000) + b"ok", mask=None))
        reply = await peer.read_frame()
        assert (reply.opcode, reply.close_code, reply.masked) == (0x8, 1000, True)

    async with raw_server(script) as (conn, _server):
        await conn.write_message("hi")
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None
        assert (conn.close_code, conn.close_reason) == (1000, "ok")


async def test_client_closes_tcp_if_the_server_lingers_after_the_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_wsconnection, "CLOSE_TIMEOUT", 0.3)

    async def script(peer: RawClient) -> None:
        peer.send(raw_frame(0x8, struct.pack("!H", 1001), mask=None))
        reply = await peer.read_frame()
        assert reply.close_code == 1001
        # The server keeps the connection open; the client must not wait forever
        # (RFC 6455 section 7.1.1 lets it close after a while).
        assert await asyncio.wait_for(peer.reader.read(), WAIT) == b""

    async with raw_server(script) as (conn, _server):
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None


# --- bytes that arrive with the handshake -------------------------------------------------


async def test_frames_right_behind_the_handshake_are_not_lost() -> None:
    log = Log()
    app = make_app([("/echo", Echo, {"log": log})], log)
    async with serve(app) as port:
        raw = await RawClient.connect(port)
        key = ws_key()
        head = (
            "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        # One write: the request head and two frames in the same segment.
        raw.send(head + raw_frame(0x1, b"early") + raw_frame(0x2, b"\x00bird"))
        raw_head = await asyncio.wait_for(raw.reader.readuntil(b"\r\n\r\n"), WAIT)
        assert raw_head.startswith(b"HTTP/1.1 101 ")
        first = await raw.read_frame()
        second = await raw.read_frame()
        assert (first.opcode, first.payload) == (0x1, b"early")
        assert (second.opcode, second.payload) == (0x2, b"\x00bird")
        raw.send_close(1000)
        await raw.expect_close(1000)
        await raw.aclose()
    assert log.messages() == ["early", b"\x00bird"]


async def test_client_keeps_frames_that_came_with_the_101() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def eager(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_for(key).encode()
            + b"\r\n\r\n"
            + raw_frame(0x1, b"hello at once", mask=None)
            + raw_frame(0x8, struct.pack("!H", 1000), mask=None)
        )
        # The client answers the Close; then the server ends the connection.
        peer = RawClient(reader, writer)
        reply = await peer.read_frame()
        assert (reply.opcode, reply.close_code, reply.masked) == (0x8, 1000, True)
        writer.close()

    server = await asyncio.start_server(eager, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        conn = await asyncio.wait_for(websocket_connect(f"ws://127.0.0.1:{port}/"), WAIT)
        assert await asyncio.wait_for(conn.read_message(), WAIT) == "hello at once"
        assert await asyncio.wait_for(conn.read_message(), WAIT) is None
        assert conn.close_code == 1000
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
