"""Helpers for the WebSocket tests: a server on loopback and a raw-socket client.

The raw client speaks RFC 6455 by hand (its frames come from ``_wshelpers.raw_frame``)
so tests can send exactly the bytes a rule is about and see exactly what the server
answers, without any WebSocket library in between.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from _wshelpers import raw_frame
from typhoon.httpserver import HTTPServer
from typhoon.netutil import bind_sockets
from typhoon.web import Application
from typhoon.websocket import WebSocketHandler

#: Seconds any single network wait in these tests may take.
WAIT = 5.0
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Recorder(WebSocketHandler):
    """Records what happens to it; shared state lives in ``self.log``.

    ``initialize(log=...)`` takes a :class:`Log`; every instance registers itself so
    :func:`serve` can close connections a test left open.
    """

    def initialize(self, log: Log) -> None:  # type: ignore[override]
        self.log = log
        log.handlers.append(self)

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self.log.events.append(("open", args, kwargs))
        return None

    def on_message(self, message: str | bytes) -> Any:
        self.log.events.append(("message", message))
        return None

    def on_close(self) -> None:
        self.log.events.append(("close", self.close_code, self.close_reason))
        if not self.log.closed.done():
            self.log.closed.set_result((self.close_code, self.close_reason))


class Log:
    """What the handlers of one test saw."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.handlers: list[WebSocketHandler] = []
        self.closed: asyncio.Future[tuple[int | None, str | None]] = (
            asyncio.get_running_loop().create_future()
        )

    def messages(self) -> list[str | bytes]:
        return [event[1] for event in self.events if event[0] == "message"]


@contextlib.asynccontextmanager
async def serve(app: Application, **kwargs: Any) -> AsyncIterator[int]:
    """Run ``app`` behind an HTTPServer on a free loopback port; yield the port.

    On exit, WebSocket connections still open are aborted and their ``on_close`` is
    given a chance to run, so no transport outlives the test.
    """
    server = HTTPServer(app, **kwargs)
    [sock] = bind_sockets(0, "127.0.0.1")
    port: int = sock.getsockname()[1]
    server.add_sockets([sock])
    try:
        yield port
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), WAIT)
        for log in _logs_of(app):
            for handler in log.handlers:
                connection = handler.ws_connection
                if connection is not None:
                    connection.abort()
        for _ in range(5):
            await asyncio.sleep(0)


def _logs_of(app: Application) -> list[Log]:
    logs = getattr(app, "test_logs", None)
    return list(logs) if logs else []


def make_app(handlers: list[Any], log: Log | None = None, **settings: Any) -> Application:
    """An Application; ``log`` is remembered so :func:`serve` can clean up after it."""
    app = Application(handlers, load_entrypoints=False, **settings)
    app.test_logs = [log] if log is not None else []  # type: ignore[attr-defined]
    return app


def ws_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode("ascii")


@dataclass
class Frame:
    """A frame as read from the wire."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return int.from_bytes(self.payload[:2], "big") if len(self.payload) >= 2 else None


class RawClient:
    """A WebSocket client written from the RFC, over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
        return cls(reader, writer)

    async def request(self, head: bytes) -> tuple[int, dict[str, str]]:
        """Send a request head; read the response head (and a body by Content-Length)."""
        self.writer.write(head)
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        lines = raw.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
        length = int(self.headers.get("content-length", "0"))
        if length:
            self.body = await asyncio.wait_for(self.reader.readexactly(length), WAIT)
        return self.status, self.headers

    async def handshake(
        self, path: str = "/", extra: str = "", *, key: str | None = None, version: str = "1.1"
    ) -> tuple[int, dict[str, str]]:
        key = key or ws_key()
        head = (
            f"GET {path} HTTP/{version}\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        status, headers = await self.request(head.encode("latin-1"))
        if status == 101:
            assert headers["sec-websocket-accept"] == accept_for(key)
        return status, headers

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def send_text(self, text: str) -> None:
        self.send(raw_frame(0x1, text.encode("utf-8")))

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        payload = b"" if code is None else struct.pack("!H", code) + reason
        self.send(raw_frame(0x8, payload))

    async def read_frame(self, timeout: float = WAIT) -> Frame:
        header = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        first, second = header
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        mask = await self.reader.readexactly(4) if second & 0x80 else None
        payload = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        if mask is not None:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return Frame(
            fin=bool(first & 0x80),
            rsv=(first >> 4) & 0x7,
            opcode=first & 0x0F,
            masked=mask is not None,
            payload=payload,
        )

    async def read_data_frame(self) -> Frame:
        """The next frame that is not a Ping (keep-alive pings are skipped)."""
        while True:
            frame = await self.read_frame()
            if frame.opcode != 0x9:
                return frame

    async def expect_close(self, code: int) -> Frame:
        """The server must send a Close with ``code``, then end the TCP connection."""
        frame = await self.read_data_frame()
        assert frame.opcode == 0x8, frame
        assert not frame.masked
        assert frame.close_code == code, (frame.close_code, frame.payload)
        await self.expect_eof()
        # Like any TCP peer, close our side once the server has closed its own.
        self.writer.close()
        return frame

    async def expect_eof(self) -> None:
        rest = await asyncio.wait_for(self.reader.read(), WAIT)
        assert rest == b"", rest

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def masked_text(text: str) -> bytes:
    return raw_frame(0x1, text.encode("utf-8"))
