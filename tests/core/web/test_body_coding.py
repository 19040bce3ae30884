"""Request bodies carrying Content-Encoding when the server does not decode them.

Without ``decompress_request`` the coded bytes reach the handler unchanged, except for
form bodies: no field can be read from them, so they are refused with 415 (logged).
Requests go through the real HTTP server over loopback sockets.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from _webserver import WAIT
from _webserver import serve as serve_app
from typhoon.web import Application, RequestHandler


class Describe(RequestHandler):
    def post(self) -> None:
        self.write(
            {
                "body": self.request.body.hex(),
                "arguments": {
                    k: [v.decode() for v in vs] for k, vs in self.request.body_arguments.items()
                },
                "encoding": self.request.headers.get("Content-Encoding"),
            }
        )

    put = post


def serve(**settings: Any) -> AbstractAsyncContextManager[int]:
    return serve_app(Application([("/", Describe)], load_entrypoints=False), **settings)


async def post(port: int, method: bytes, content_type: bytes, body: bytes) -> tuple[bytes, bytes]:
    """Send one request that closes the connection; return (status line, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            method + b" / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
            b"Content-Type: " + content_type + b"\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        data = await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], payload


async def test_coded_octet_stream_reaches_the_handler_unchanged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = gzip.compress(b"stored as sent")
    with caplog.at_level(logging.WARNING, logger="typhoon"):
        async with serve() as port:
            status, payload = await post(port, b"PUT", b"application/octet-stream", body)
    assert status == b"HTTP/1.1 200 OK"
    info = json.loads(payload)
    assert bytes.fromhex(info["body"]) == body
    assert info["encoding"] == "gzip"
    assert info["arguments"] == {}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    "content_type", [b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=b"]
)
async def test_coded_form_is_refused_before_the_handler(
    content_type: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = gzip.compress(b"foo=bar")
    with caplog.at_level(logging.WARNING, logger="typhoon"):
        async with serve() as port:
            status, payload = await post(port, b"POST", content_type, body)
    assert status == b"HTTP/1.1 415 Unsupported Media Type"
    assert b"arguments" not in payload  # an error page: the handler did not run
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Unsupported Content-Encoding: gzip" in message for message in warnings)


async def test_decoded_form_still_gives_fields() -> None:
    async with serve(decompress_request=True) as port:
        status, payload = await post(
            port, b"POST", b"application/x-www-form-urlencoded", gzip.compress(b"foo=bar")
        )
    assert status == b"HTTP/1.1 200 OK"
    info = json.loads(payload)
    assert info["arguments"] == {"foo": ["bar"]}
    assert info["encoding"] is None
