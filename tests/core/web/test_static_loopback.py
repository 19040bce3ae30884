"""StaticFileHandler behind the real HTTP server: a client leaving mid-file, ranges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typhoon.httpserver import HTTPServer
from typhoon.web import Application, StaticFileHandler
from typhoon.web.static import FileChunks

BIG = 16 * 1024 * 1024


class Tracking(StaticFileHandler):
    """Records when the file reader is closed and when the request ends."""

    events: list[str] = []  # noqa: RUF012

    @classmethod
    def get_content(cls, abspath: str, start: int | None = None, end: int | None = None) -> Any:
        async def pieces() -> AsyncIterator[bytes]:
            try:
                async for piece in FileChunks(abspath, start, end):
                    yield piece
            finally:
                cls.events.append("reader closed")

        return pieces()

    def on_connection_close(self) -> None:
        Tracking.events.append("connection closed")


@pytest.fixture
def typhoon_app(tmp_path: Path) -> Application:
    (tmp_path / "big.bin").write_bytes(b"\0" * BIG)
    Tracking.events = []
    return Application(
        [(r"/files/(.*)", Tracking, {"path": str(tmp_path)})], load_entrypoints=False
    )


async def test_client_leaving_mid_file_releases_the_file(
    http_server: HTTPServer, unused_port: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", unused_port)
    writer.write(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {BIG}".encode() in head
    await reader.readexactly(256 * 1024)
    writer.close()
    await writer.wait_closed()
    for _ in range(200):
        if "reader closed" in Tracking.events:
            break
        await asyncio.sleep(0.01)
    assert "reader closed" in Tracking.events


@pytest.mark.parametrize(
    ("header", "status", "content_range"),
    [
        ("bytes=10-3", 416, f"bytes */{BIG}"),
        (f"bytes={BIG}", 416, f"bytes */{BIG}"),
        ("bytes=10", 416, f"bytes */{BIG}"),
        (f"bytes={BIG}-", 416, f"bytes */{BIG}"),
        ("bytes=10-13", 206, f"bytes 10-13/{BIG}"),
        ("bytes=0-1,5-6", 200, None),
        ("pages=1-2", 200, None),
    ],
)
async def test_range_answers_on_the_wire(
    http_server: HTTPServer, unused_port: int, header: str, status: int, content_range: str | None
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", unused_port)
    try:
        writer.write(f"HEAD /files/big.bin HTTP/1.1\r\nHost: x\r\nRange: {header}\r\n\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    finally:
        writer.close()
        await writer.wait_closed()
    assert head.startswith(f"HTTP/1.1 {status} ")
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if line)
    assert headers.get("Content-Range") == content_range
