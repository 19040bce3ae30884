"""Requests that arrive whole, without a body: the server hands them to the application
in one call (``Application._whole_request_runner``). Every kind of route must behave as
it does through ``start_request``: over real loopback connections, both server modes."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from typing import Any

import pytest
from _webserver import WAIT, serve
from typhoon import httputil
from typhoon.httpserver import HTTPServer
from typhoon.routing import PathMatches, Rule
from typhoon.web import Application, RequestHandler, stream_request_body

MODES = ["transport", "stream"]


async def exchange(port: int, raw: bytes, responses: int = 1) -> list[tuple[int, bytes]]:
    """Send ``raw`` on a new connection; read ``responses`` responses (status, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
    try:
        writer.write(raw)
        await writer.drain()
        results = []
        for _ in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            fields = dict(line.split(": ", 1) for line in lines[1:] if line)
            length = int(fields.get("Content-Length", "0"))
            body = await asyncio.wait_for(reader.readexactly(length), WAIT)
            results.append((status, body))
        return results
    finally:
        writer.close()


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


class Hello(RequestHandler):
    def get(self, *args: str) -> None:
        self.write("hello " + "/".join(args))


@stream_request_body
class Streaming(RequestHandler):
    def initialize(self, log: list[str]) -> None:
        self.log = log

    def prepare(self) -> None:
        self.log.append("prepare")

    def data_received(self, chunk: bytes) -> None:
        self.log.append(f"data {len(chunk)}")

    def get(self) -> None:
        self.log.append("get")
        self.write("streamed")

    def post(self) -> None:
        self.log.append("post")
        self.write("posted")


def raw_callable(request: httputil.HTTPServerRequest) -> None:
    """A plain callable route target: answers with the request's own method and path."""
    body = f"{request.method} {request.path}".encode()
    connection: Any = request.connection
    connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    connection.finish()


def make_app(log: list[str], **settings: Any) -> Application:
    nested = Application([("/nested/inner", Hello)], load_entrypoints=False)
    return Application(
        [
            (r"/hello/(\w+)", Hello),
            ("/stream", Streaming, {"log": log}),
            Rule(PathMatches("/raw"), raw_callable),
            Rule(PathMatches("/nested/.*"), nested),
            # A list of rules becomes a nested router of the same application.
            Rule(PathMatches("/router/.*"), [(r"/router/(\w+)", Hello)]),
        ],
        load_entrypoints=False,
        **settings,
    )


def test_the_application_offers_the_shortcut_only_with_its_own_routing() -> None:
    assert make_app([])._whole_request_runner() is not None

    class OwnRouting(Application):
        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            return super().find_handler(request, **kwargs)

    assert OwnRouting([], load_entrypoints=False)._whole_request_runner() is None


@pytest.mark.parametrize("mode", MODES)
async def test_every_kind_of_route_answers_a_bodiless_request(mode: str) -> None:
    log: list[str] = []
    async with serve(make_app(log), mode) as port:
        assert await exchange(port, get("/hello/there")) == [(200, b"hello there")]
        assert await exchange(port, get("/raw")) == [(200, b"GET /raw")]
        assert await exchange(port, get("/nested/inner")) == [(200, b"hello ")]
        assert await exchange(port, get("/router/deep")) == [(200, b"hello deep")]
        assert (await exchange(port, get("/missing")))[0][0] == 404
        assert await exchange(port, get("/stream")) == [(200, b"streamed")]
    # A streaming handler still runs prepare, gets no body, then its verb method.
    assert log == ["prepare", "get"]


@pytest.mark.parametrize("mode", MODES)
async def test_bodiless_and_body_requests_mix_in_order_on_one_connection(mode: str) -> None:
    log: list[str] = []
    post = b"POST /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nabcde"
    raw = get("/hello/one") + post + get("/raw") + get("/stream") + get("/nested/inner")
    async with serve(make_app(log), mode) as port:
        answers = await exchange(port, raw, responses=5)
    assert answers == [
        (200, b"hello one"),
        (200, b"posted"),
        (200, b"GET /raw"),
        (200, b"streamed"),
        (200, b"hello "),
    ]
    assert log == ["prepare", "data 5", "post", "prepare", "get"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_overridden_find_handler_is_still_asked(mode: str) -> None:
    asked: list[str] = []

    class Counting(Application):
        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            asked.append(request.path)
            return super().find_handler(request, **kwargs)

    app = Counting([(r"/hello/(\w+)", Hello)], load_entrypoints=False)
    async with serve(app, mode) as port:
        assert await exchange(port, get("/hello/a") + get("/hello/b"), 2) == [
            (200, b"hello a"),
            (200, b"hello b"),
        ]
    assert asked == ["/hello/a", "/hello/b"]


class EchoBody(RequestHandler):
    def get(self) -> None:
        self.write(self.request.headers.get("Content-Encoding", "-"))

    def post(self) -> None:
        self.write(self.request.body)


async def test_decompression_still_sees_every_request() -> None:
    # With decompress_request the server wraps every message, bodiless ones included,
    # so it does not take the shortcut.
    app = Application([("/", EchoBody)], load_entrypoints=False)
    packed = gzip.compress(b"unpacked")
    post = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(packed), packed)
    )
    server = HTTPServer(app, decompress_request=True)
    assert server._wire_settings().whole_request is None
    async with serve(app, decompress_request=True) as port:
        answers = await exchange(port, get("/", "Content-Encoding: gzip\r\n") + post, 2)
    # A gzip-coded message is decoded and its coding no longer announced; one without
    # content has nothing to decode.
    assert answers == [(200, b"-"), (200, b"unpacked")]


class Broken(RequestHandler):
    def initialize(self) -> None:
        raise RuntimeError("cannot start")

    def get(self) -> None:
        self.write("never")

    def post(self) -> None:
        self.write("never")


@pytest.mark.parametrize("mode", MODES)
async def test_a_handler_that_cannot_be_created_gets_a_500_with_or_without_a_body(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([("/broken", Broken), ("/hello/(.*)", Hello)], load_entrypoints=False)
    post = b"POST /broken HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nab"
    async with serve(app, mode) as port:
        answers = await exchange(port, get("/broken") + post + get("/hello/after"), 3)
    assert [status for status, _ in answers] == [500, 500, 200]
    assert answers[2][1] == b"hello after"
    assert b"never" not in answers[0][1] + answers[1][1]
    creating = [r for r in caplog.records if "Uncaught exception creating" in r.getMessage()]
    assert len(creating) == 2
    assert all(r.exc_info and "cannot start" in str(r.exc_info[1]) for r in creating)


class Sized(RequestHandler):
    def get(self, size: str) -> None:
        self.write(b"x" * int(size))


@pytest.mark.parametrize("mode", MODES)
async def test_content_length_is_right_on_both_sides_of_the_kept_sizes(mode: str) -> None:
    app = Application([(r"/(\d+)", Sized)], load_entrypoints=False)
    sizes = [0, 1, 9, 10, 999, 1023, 1024, 1025, 70000]
    async with serve(app, mode) as port:
        raw = b"".join(get(f"/{size}") for size in sizes)
        answers = await exchange(port, raw, len(sizes))
    assert [(status, len(body)) for status, body in answers] == [(200, n) for n in sizes]
    assert all(body == b"x" * n for (_, body), n in zip(answers, sizes, strict=True))


@stream_request_body
class BrokenStreaming(RequestHandler):
    def initialize(self) -> None:
        raise RuntimeError("cannot start")

    def data_received(self, chunk: bytes) -> None:
        raise AssertionError("never called")


@pytest.mark.parametrize("mode", MODES)
async def test_a_streaming_handler_that_cannot_be_created_gets_a_500_and_its_body_is_dropped(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([("/broken", BrokenStreaming)], load_entrypoints=False)
    head = b"POST /broken HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\n\r\n"
    async with serve(app, mode) as port:
        for pieces in ([head + b"abcdef"], [head, b"abc", b"def"]):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(pieces[0])
                await writer.drain()
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
                assert answer.startswith(b"HTTP/1.1 500 ")
                # The response ends before the body is read: the server then closes,
                # and whatever else arrives is dropped, never answered.
                rest = b""
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    for piece in pieces[1:]:
                        writer.write(piece)
                        await writer.drain()
                    rest = await asyncio.wait_for(reader.read(), WAIT)
                assert b"HTTP/1.1" not in rest
            finally:
                writer.close()
        # A new connection is served as usual.
        assert (await exchange(port, get("/broken")))[0][0] == 500
    assert any("Uncaught exception creating" in r.getMessage() for r in caplog.records)
    assert not any("never called" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info and isinstance(r.exc_info[1], AssertionError) for r in caplog.records)
