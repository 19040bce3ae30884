"""A response head the connection refuses is replaced by a 500, never left hanging.

A handler may set headers that make the response's framing invalid (its own
``Transfer-Encoding`` next to the ``Content-Length`` that ``finish`` adds, say). The
connection refuses such a head before sending a byte, so the client must get an
error page at once, and the keep-alive connection must stay usable. Requests go
through the real HTTP server over loopback sockets.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager

import pytest
from _webserver import WAIT
from _webserver import serve as serve_app
from typhoon.web import Application, RequestHandler


class ChunkedByHand(RequestHandler):
    def get(self) -> None:
        self.set_header("Transfer-Encoding", "chunked")
        self.write("Hello world")


class FlushedByHand(RequestHandler):
    async def get(self) -> None:
        self.set_header("Transfer-Encoding", "chunked")
        self.set_header("Content-Length", "5")
        self.write("Hello")
        await self.flush()


class Fine(RequestHandler):
    def get(self) -> None:
        self.write("fine")


def serve(mode: str) -> AbstractAsyncContextManager[int]:
    app = Application(
        [("/finish", ChunkedByHand), ("/flush", FlushedByHand), ("/fine", Fine)],
        load_entrypoints=False,
    )
    return serve_app(app, mode)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        assert name.lower() != "transfer-encoding", head
        if name.lower() == "content-length":
            length = int(value)
    body = await asyncio.wait_for(reader.readexactly(length), WAIT)
    return int(lines[0].split()[1]), body


@pytest.mark.parametrize("mode", ["transport", "stream"])
@pytest.mark.parametrize("path", ["/finish", "/flush"])
async def test_refused_head_is_answered_with_500(
    path: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="typhoon"):
        async with serve(mode) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
                status, body = await read_response(reader)
                assert status == 500
                assert b"500" in body
                # The connection carries on with the next request.
                writer.write(b"GET /fine HTTP/1.1\r\nHost: h\r\n\r\n")
                assert await read_response(reader) == (200, b"fine")
            finally:
                writer.close()
                await writer.wait_closed()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the refused head was not logged"
    assert any("Transfer-Encoding" in str(r.exc_info[1]) for r in errors if r.exc_info)
