"""Helpers for the HTTP server and connection tests: servers on loopback, raw clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from typhoon.httpserver import HTTPServer
from typhoon.httputil import (
    HTTPHeaders,
    HTTPMessageDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)
from typhoon.iostream import IOStream
from typhoon.netutil import bind_sockets

#: Seconds any single network wait in these tests may take.
WAIT = 5.0


class StreamModeServer(HTTPServer):
    """An HTTPServer whose connections go through IOStream and HTTP1ServerConnection.

    Overriding ``handle_stream`` is what selects the stream path; the behaviour must
    match the default transport path.
    """

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        super().handle_stream(stream, address)


MODES = ["transport", "stream"]


@contextlib.asynccontextmanager
async def serve(
    app: Any, mode: str = "transport", **kwargs: Any
) -> AsyncIterator[tuple[HTTPServer, int]]:
    """Run an HTTPServer for ``app`` on a free loopback port."""
    cls = StreamModeServer if mode == "stream" else HTTPServer
    server = cls(app, **kwargs)
    [sock] = bind_sockets(0, "127.0.0.1")
    port: int = sock.getsockname()[1]
    server.add_sockets([sock])
    try:
        yield server, port
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), WAIT)


def respond(
    request: HTTPServerRequest,
    body: bytes = b"",
    status: int = 200,
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> None:
    """Answer ``request`` with a complete response through its connection."""
    fields = HTTPHeaders()
    fields["Content-Type"] = "text/plain"
    for name, value in (headers or {}).items():
        fields[name] = value
    if "Content-Length" not in fields and "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(body))
    assert request.connection is not None
    request.connection.write_headers(
        ResponseStartLine("HTTP/1.1", status, reason or ""), fields, body
    )
    request.connection.finish()


def hello(request: HTTPServerRequest) -> None:
    """The minimal application: a fixed plain-text answer."""
    respond(request, b"Hello, world!")


def describe(request: HTTPServerRequest) -> None:
    """Answer with a JSON description of the request."""
    info = {
        "method": request.method,
        "uri": request.uri,
        "path": request.path,
        "query": request.query,
        "version": request.version,
        "remote_ip": request.remote_ip,
        "protocol": request.protocol,
        "host": request.host,
        "headers": dict(request.headers.get_all()),
        "body": request.body.decode("latin-1"),
        "arguments": {k: [v.decode() for v in vs] for k, vs in request.arguments.items()},
    }
    respond(request, json.dumps(info).encode(), headers={"Content-Type": "application/json"})


@dataclass
class Response:
    """A response read off the wire by :class:`RawClient`."""

    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunked: bool = False
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The last value of ``name`` (case-insensitive), or None."""
        found = None
        for key, value in self.headers:
            if key.lower() == name.lower():
                found = value
        return found

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class RawClient:
    """A loopback client that writes raw bytes and parses responses itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, tls: ssl.SSLContext | None = None) -> RawClient:
        """Open a connection to the loopback ``port``."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
            ),
            WAIT,
        )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait until it is handed to the kernel."""
        self.writer.write(data)
        await self.writer.drain()

    async def _line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n"), WAIT)

    async def read_response(self, head_only: bool = False) -> Response:
        """Read one response (skipping nothing: a 1xx is returned as it is)."""
        status_line = (await self._line()).decode("latin-1").rstrip("\r\n")
        version, status, reason = ([*status_line.split(" ", 2), ""])[:3]
        headers: list[tuple[str, str]] = []
        while True:
            line = (await self._line()).decode("latin-1")
            if line == "\r\n":
                break
            name, _, value = line.partition(":")
            assert name, f"bad header line {line!r}"
            assert name == name.strip(), f"bad header line {line!r}"
            headers.append((name, value.strip()))
        response = Response(int(status), reason, version, headers)
        if head_only or response.status < 200 or response.status in (204, 304):
            return response
        length = response.header("Content-Length")
        if response.header("Transfer-Encoding") == "chunked":
            response.chunked = True
            parts = []
            while True:
                size = int((await self._line()).split(b";")[0], 16)
                if size == 0:
                    break
                parts.append(await asyncio.wait_for(self.reader.readexactly(size + 2), WAIT))
            response.body = b"".join(part[:-2] for part in parts)
            while True:
                line = (await self._line()).decode("latin-1")
                if line == "\r\n":
                    break
                name, _, value = line.partition(":")
                response.trailers.append((name, value.strip()))
        elif length is not None:
            response.body = await asyncio.wait_for(self.reader.readexactly(int(length)), WAIT)
        else:
            response.body = await asyncio.wait_for(self.reader.read(), WAIT)
        return response

    async def request(self, data: bytes) -> Response:
        """Send ``data`` and read the response."""
        await self.send(data)
        return await self.read_response()

    async def read_to_end(self, timeout: float = WAIT) -> bytes:
        """Everything the server sends until it closes the connection."""
        chunks = []
        while True:
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    async def is_closed_by_server(self, timeout: float = WAIT) -> bool:
        """Wait for the server to close; True when it did (EOF or reset) in time."""
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return data == b""

    async def close(self) -> None:
        """Close our side."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def get(path: str = "/", host: str = "localhost", extra: str = "", version: str = "1.1") -> bytes:
    """A GET request head."""
    return f"GET {path} HTTP/{version}\r\nHost: {host}\r\n{extra}\r\n".encode()


async def run_in_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking client call off the loop, bounded in time."""
    return await asyncio.wait_for(asyncio.to_thread(func, *args, **kwargs), WAIT * 2)


class Collector(HTTPMessageDelegate):
    """Collects one message: every head (interim ones too), the body, the outcome."""

    def __init__(self, on_head: Callable[[Any, HTTPHeaders], Any] | None = None) -> None:
        self.heads: list[Any] = []
        self.headers: list[HTTPHeaders] = []
        self.body = b""
        self.finished = False
        self.closed = False
        self.on_head = on_head

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        self.heads.append(start_line)
        self.headers.append(headers)
        if self.on_head is not None:
            return self.on_head(start_line, headers)  # type: ignore[no-any-return]
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.body += chunk
        return None

    def finish(self) -> None:
        self.finished = True

    def on_connection_close(self) -> None:
        self.closed = True
