"""In-process requests for web tests: a recording HTTPConnection and a fetch helper.

The connection implements the ``HTTPConnection`` interface the HTTP/1 server gives the
application, recording what is written, so handlers run exactly as behind a server
but without sockets.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field
from typing import Any

from typhoon import httputil


class _Context:
    def __init__(self, remote_ip: str, protocol: str) -> None:
        self.remote_ip = remote_ip
        self.protocol = protocol


class RecordingConnection(httputil.HTTPConnection):
    """Records the response; ``done`` resolves when ``finish`` is called."""

    def __init__(self, remote_ip: str = "127.0.0.1", protocol: str = "http") -> None:
        self.context = _Context(remote_ip, protocol)
        self.start_line: httputil.ResponseStartLine | None = None
        self.headers: httputil.HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.writes = 0
        self.close_callback: Any = None
        self.max_body_size: int | None = None
        self.detached = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _resolved(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        assert self.start_line is None, "headers written twice"
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.start_line = start_line
        self.headers = headers.copy()
        if chunk:
            self.chunks.append(chunk)
        self.writes += 1
        return self._resolved()

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        assert self.start_line is not None
        assert not self.done.done(), "write after finish"
        self.chunks.append(chunk)
        self.writes += 1
        return self._resolved()

    def finish(self) -> None:
        assert not self.done.done(), "finish called twice"
        self.done.set_result(None)

    def set_close_callback(self, callback: Any) -> None:
        self.close_callback = callback

    def set_max_body_size(self, size: int) -> None:
        self.max_body_size = size

    def detach(self) -> str:
        self.detached = True
        if not self.done.done():
            self.done.set_result(None)
        return "detached-stream"

    def close(self) -> None:
        """Simulate the client going away."""
        if self.close_callback is not None:
            callback, self.close_callback = self.close_callback, None
            callback()


@dataclass
class Response:
    code: int
    reason: str
    headers: httputil.HTTPHeaders
    body: bytes
    connection: RecordingConnection = field(repr=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


async def _maybe_await(value: Any) -> None:
    if value is not None and inspect.isawaitable(value):
        await value


async def start(
    app: Any,
    method: str,
    uri: str,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | list[bytes] = b"",
    *,
    version: str = "HTTP/1.1",
    connection: RecordingConnection | None = None,
    finish: bool = True,
) -> RecordingConnection:
    """Deliver a request to ``app`` and return the connection (maybe still running)."""
    conn = connection or RecordingConnection()
    request_headers = httputil.HTTPHeaders()
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for name, value in items:
        request_headers.add(name, value)
    if "Host" not in request_headers:
        request_headers["Host"] = "example.com"
    chunks = body if isinstance(body, list) else ([body] if body else [])
    if chunks and "Content-Length" not in request_headers:
        request_headers["Content-Length"] = str(sum(map(len, chunks)))
    delegate = app.start_request(object(), conn)
    await _maybe_await(
        delegate.headers_received(httputil.RequestStartLine(method, uri, version), request_headers)
    )
    for chunk in chunks:
        await _maybe_await(delegate.data_received(chunk))
    if finish:
        delegate.finish()
    return conn


async def fetch(
    app: Any,
    uri: str,
    method: str = "GET",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | list[bytes] = b"",
    *,
    timeout: float = 5.0,
    **kwargs: Any,
) -> Response:
    """Run one request through ``app`` in process and return the recorded response."""
    conn = await start(app, method, uri, headers, body, **kwargs)
    await asyncio.wait_for(asyncio.shield(conn.done), timeout)
    assert conn.start_line is not None
    assert conn.headers is not None
    return Response(
        code=conn.start_line.code,
        reason=conn.start_line.reason,
        headers=conn.headers,
        body=b"".join(conn.chunks),
        connection=conn,
    )
