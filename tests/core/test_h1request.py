"""``request.connection.stream`` on the server: what it offers while the server owns it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from typhoon.errors import StreamClosedError
from typhoon.httpserver import HTTPServer
from typhoon.web import Application, RequestHandler

events: list[str] = []


class CloseMidResponse(RequestHandler):
    """Closes the connection, then writes as if nothing happened."""

    async def get(self) -> None:
        self.lost = asyncio.Event()
        stream = self.request.connection.stream  # type: ignore[union-attr]
        assert not stream.closed()
        stream.close()
        stream.close()  # a second close does nothing
        events.append(f"closed={stream.closed()}")
        await asyncio.wait_for(self.lost.wait(), 5)
        self.write("hello")

    def on_connection_close(self) -> None:
        events.append("connection lost")
        self.lost.set()


class CloseAfterResponse(RequestHandler):
    """Answers, then closes the kept-alive connection once the response is finished."""

    def get(self) -> None:
        self.write("complete")

    def on_finish(self) -> None:
        self.request.connection.stream.close()  # type: ignore[union-attr]


class RawThenResponse(RequestHandler):
    """Writes an interim response as raw bytes, then answers normally."""

    async def get(self) -> None:
        stream = self.request.connection.stream  # type: ignore[union-attr]
        await stream.write(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
        self.write("final")
        self.finish()
        self.request.connection.stream.close()  # type: ignore[union-attr]
        try:
            await stream.write(b"late")
        except StreamClosedError:
            events.append("late write refused")


@pytest.fixture
def typhoon_app() -> Application:
    events.clear()
    return Application(
        [("/mid", CloseMidResponse), ("/after", CloseAfterResponse), ("/raw", RawThenResponse)],
        load_entrypoints=False,
    )


async def exchange(port: int, path: str) -> bytes:
    """A keep-alive GET; everything the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        received = b""
        while chunk := await asyncio.wait_for(reader.read(65536), 10):
            received += chunk
        return received
    finally:
        writer.close()
        await writer.wait_closed()


async def test_stream_close_during_a_request_cuts_the_response_quietly(
    http_server: HTTPServer, unused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    received = await exchange(unused_port, "/mid")
    assert b"hello" not in received
    for _ in range(100):  # bounded: the handler ends within a few loop turns
        if len(caplog.records) and "/mid" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert events == ["closed=True", "connection lost"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_stream_close_after_the_response_sends_it_then_closes(
    http_server: HTTPServer, unused_port: int
) -> None:
    received = await exchange(unused_port, "/after")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"\r\n\r\ncomplete")


async def test_stream_write_sends_raw_bytes_in_order_with_the_response(
    http_server: HTTPServer, unused_port: int
) -> None:
    received = await exchange(unused_port, "/raw")
    interim, _, rest = received.partition(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload"
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.endswith(b"\r\n\r\nfinal")
    for _ in range(100):  # bounded: the handler ends within a few loop turns
        if events:
            break
        await asyncio.sleep(0.01)
    assert events == ["late write refused"]
