"""A web application behind a real HTTPServer on a free loopback port, for web tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from typhoon.httpserver import HTTPServer
from typhoon.iostream import IOStream
from typhoon.netutil import bind_sockets
from typhoon.web import Application

#: Seconds any single network wait in the web tests may take.
WAIT = 5.0


class StreamModeServer(HTTPServer):
    """Overriding handle_stream serves connections through IOStream instead."""

    def handle_stream(self, stream: IOStream, address: tuple[str, int]) -> None:
        super().handle_stream(stream, address)


@asynccontextmanager
async def serve(app: Application, mode: str = "transport", **settings: Any) -> AsyncIterator[int]:
    """Serve ``app`` on 127.0.0.1 (``mode`` "stream" for the IOStream path); yield the port."""
    server_class = StreamModeServer if mode == "stream" else HTTPServer
    server = server_class(app, **settings)
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    try:
        yield sock.getsockname()[1]
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), WAIT)
