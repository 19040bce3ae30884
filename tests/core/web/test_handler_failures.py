"""Handlers whose responses go wrong, unusual statuses and cookie arguments, served live.

Each request is sent as raw bytes over a loopback socket on a persistent connection,
so a response that never completes shows up as a read that times out rather than as
a closed connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookies
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from typhoon import hookimpl
from typhoon.errors import CookieError, HTTPError
from typhoon.httpserver import HTTPServer
from typhoon.netutil import bind_sockets
from typhoon.web import Application, RequestHandler, stream_request_body
from typhoon.web.cookies import format_set_cookie

# How long a test waits for bytes that should come: a hang fails well within it.
_PATIENCE = 5.0


@dataclass
class Reply:
    """What came back for one request."""

    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The server closed the connection after (or instead of) the response.
    closed: bool = False


@contextlib.asynccontextmanager
async def serving(*rules: Any, **settings: Any) -> AsyncIterator[int]:
    """Serve an application of ``rules`` on a loopback port; yield the port."""
    app = Application(list(rules), load_entrypoints=False, **settings)
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    try:
        yield sockets[0].getsockname()[1]
    finally:
        server.stop()
        await server.close_all_connections()


async def request(port: int, target: str, method: str = "GET", body: bytes = b"") -> Reply:
    """Send one keep-alive request; read its response, or up to the connection's end.

    Fails the test when neither a complete response nor the end of the connection
    arrives in time (the client would hang).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    reply = Reply()
    try:
        length = f"Content-Length: {len(body)}\r\n" if body else ""
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{length}\r\n"
        writer.write(head.encode() + body)
        async with asyncio.timeout(_PATIENCE):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                partial = exc.partial
                reply.closed = True
                if partial:
                    pytest.fail(f"the connection ended within the head: {partial!r}")
                return reply
            status_line, *lines = head.decode("latin-1").split("\r\n")
            _, code, reason = status_line.split(" ", 2)
            reply.status = int(code)
            reply.reason = reason
            for line in filter(None, lines):
                name, _, value = line.partition(":")
                reply.headers[name.strip().lower()] = value.strip()
            length = int(reply.headers.get("content-length", "0"))
            if method == "HEAD" or reply.status in (204, 304):
                length = 0
            try:
                if reply.headers.get("transfer-encoding") == "chunked":
                    reply.body = await _read_chunked(reader)
                else:
                    reply.body = await reader.readexactly(length)
            except asyncio.IncompleteReadError as exc:
                reply.body = exc.partial
                reply.closed = True
                return reply
            # Anything else on the connection is a protocol error; its end is noted.
            extra = await _read_briefly(reader)
            assert extra in (b"", None), f"bytes after the response: {extra!r}"
            reply.closed = extra == b""
    except ConnectionResetError:
        reply.closed = True
    except TimeoutError:
        pytest.fail(f"no complete response and no end of connection for {target}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return reply


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body (RFC 9112, section 7.1), without extensions or trailers."""
    pieces = []
    while True:
        size = int(await reader.readuntil(b"\r\n"), 16)
        piece = await reader.readexactly(size + 2)
        if not size:
            return b"".join(pieces)
        pieces.append(piece[:-2])


async def _read_briefly(reader: asyncio.StreamReader) -> bytes | None:
    """What arrives within a short while: ``b""`` at the end, ``None`` when nothing."""
    try:
        async with asyncio.timeout(0.2):
            return await reader.read(1)
    except TimeoutError:
        return None


# --- status codes (RFC 9110, section 15) ------------------------------------------------


class StatusFromQuery(RequestHandler):
    def get(self) -> None:
        code = int(self.get_argument("code"))
        reason = self.get_argument("reason", None)
        if self.get_argument("how", "raise") == "raise":
            raise HTTPError(code, reason=reason)
        self.set_status(code, reason)
        self.finish("custom")


async def test_any_three_digit_status_can_be_raised_or_set() -> None:
    async with serving(("/", StatusFromQuery)) as port:
        raised = await request(port, "/?code=682&reason=Foo")
        assert (raised.status, raised.reason) == (682, "Foo")
        assert b"682: Foo" in raised.body
        unnamed = await request(port, "/?code=682")
        assert (unnamed.status, unnamed.reason) == (682, "Unknown")
        assert b"682: Unknown" in unnamed.body
        highest = await request(port, "/?code=999&how=set")
        assert (highest.status, highest.reason, highest.body) == (999, "Unknown", b"custom")
        named = await request(port, "/?code=599&how=set&reason=Far%20Away")
        assert (named.status, named.reason) == (599, "Far Away")
        assert [raised.closed, unnamed.closed, highest.closed, named.closed] == [False] * 4


async def test_status_codes_outside_three_digits_are_refused() -> None:
    refused: list[object] = []

    class Handler(RequestHandler):
        def get(self) -> None:
            for code in (99, 1000, -200, True, 200.0, "200"):
                try:
                    self.set_status(code)  # type: ignore[arg-type]
                except ValueError:
                    refused.append(code)
            self.write(str(self.get_status()))

    async with serving(("/", Handler)) as port:
        reply = await request(port, "/")
    assert refused == [99, 1000, -200, True, 200.0, "200"]
    assert (reply.status, reply.body) == (200, b"200")


async def test_an_impossible_error_status_answers_500() -> None:
    async with serving(("/", StatusFromQuery)) as port:
        reply = await request(port, "/?code=1000")
    assert (reply.status, reply.reason) == (500, "Internal Server Error")
    assert b"500: Internal Server Error" in reply.body


async def test_an_unsafe_reason_gives_way_to_unknown() -> None:
    async with serving(("/", StatusFromQuery)) as port:
        split = await request(port, "/?code=200&reason=OK%0D%0AX-Injected:%201")
        assert (split.status, split.reason) == (200, "Unknown")
        assert "x-injected" not in split.headers
        markup = await request(port, "/?code=400&reason=%3Cscript%3Ealert(1)%3C/script%3E")
        assert (markup.status, markup.reason) == (400, "Unknown")
        assert b"script" not in markup.body
        assert b"Unknown" in markup.body
        unknown = await request(port, "/?code=682&reason=b%0Aad")
        assert (unknown.status, unknown.reason) == (682, "Unknown")


# --- cookies that cannot be set (RFC 6265, section 4.1.1) -------------------------------


async def test_invalid_cookies_raise_cookie_error_which_is_also_value_error() -> None:
    caught: list[tuple[bool, bool]] = []

    class Handler(RequestHandler):
        def get(self) -> None:
            attempts: list[dict[str, Any]] = [
                {"name": "a;b", "value": "c"},
                {"name": "a b", "value": "c"},
                {"name": "a", "value": "c\r\nX-Injected: 1"},
                {"name": "a", "value": "c", "path": "/x;y"},
                {"name": "a", "value": "c", "domain": "example.com\n"},
                {"name": "a", "value": "c", "samesite": "Sometimes"},
                {"name": "a", "value": "c", "flavour": "mint"},
            ]
            for attempt in attempts:
                try:
                    self.set_cookie(**attempt)
                except http.cookies.CookieError as exc:
                    caught.append((isinstance(exc, ValueError), isinstance(exc, CookieError)))
            try:
                self.set_cookie("a", "c", max_age="soon")  # type: ignore[arg-type]
            except ValueError as exc:
                caught.append((True, isinstance(exc, http.cookies.CookieError)))
            self.finish("done")

    async with serving(("/", Handler)) as port:
        reply = await request(port, "/")
    assert (reply.status, reply.body) == (200, b"done")
    assert "set-cookie" not in reply.headers
    assert caught == [(True, True)] * 8


async def test_an_uncaught_cookie_error_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("bad name", "value")

    async with serving(("/", Handler)) as port:
        reply = await request(port, "/")
    assert reply.status == 500
    assert "set-cookie" not in reply.headers
    assert any(
        record.exc_info and isinstance(record.exc_info[1], http.cookies.CookieError)
        for record in caplog.records
    )


async def test_mixed_case_cookie_keywords_work_with_a_deprecation_warning() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_cookie("a", "b", HttpOnly=True, pATH="/foo", Max_Age=60, SameSite="lax")
            self.finish()

    async with serving(("/", Handler)) as port:
        with pytest.warns(DeprecationWarning, match="should be spelled") as warned:
            reply = await request(port, "/")
    assert [str(warning.message).split()[3] for warning in warned] == [
        "'HttpOnly'",
        "'pATH'",
        "'Max_Age'",
        "'SameSite'",
    ]
    assert reply.status == 200
    assert reply.headers["set-cookie"] == "a=b; HttpOnly; Max-Age=60; Path=/foo; SameSite=Lax"


def test_format_set_cookie_reads_mixed_case_keywords_as_the_named_ones() -> None:
    with pytest.warns(DeprecationWarning, match="should be spelled") as warned:
        line = format_set_cookie("a", "b", Domain="example.com", SECURE=False, Priority="High")
    assert line == "a=b; Domain=example.com; Path=/; Priority=High"
    assert len(warned) == 3
    with (
        pytest.warns(DeprecationWarning, match="should be spelled"),
        pytest.raises(CookieError, match="flavour"),
    ):
        format_set_cookie("a", "b", Flavour="mint")


# --- handlers in tasks, and cancellation ------------------------------------------------


def _cancelled_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    return future


def _uncaught(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "typhoon.application" and "Uncaught exception" in record.getMessage()
    ]


async def test_coroutine_handlers_run_in_a_task_of_their_own() -> None:
    seen: list[asyncio.Task[Any] | None] = []

    class AsyncVerb(RequestHandler):
        async def get(self) -> None:
            seen.append(asyncio.current_task())
            async with asyncio.timeout(_PATIENCE):
                await asyncio.sleep(0)
            self.write("in time")

    class AsyncPrepare(RequestHandler):
        async def prepare(self) -> None:
            seen.append(asyncio.current_task())
            async with asyncio.timeout(_PATIENCE):
                await asyncio.sleep(0)

        def get(self) -> None:
            seen.append(asyncio.current_task())
            self.write("prepared")

    async with serving(("/verb", AsyncVerb), ("/prepare", AsyncPrepare)) as port:
        first = await request(port, "/verb")
        second = await request(port, "/verb")
        prepared = await request(port, "/prepare")
    assert (first.status, first.body, second.body) == (200, b"in time", b"in time")
    assert (prepared.status, prepared.body) == (200, b"prepared")
    assert all(task is not None for task in seen)
    # One task per request; prepare and the verb method of a request share it.
    assert len({id(task) for task in seen}) == 3
    assert seen[2] is seen[3]
    assert asyncio.current_task() not in seen


async def test_coroutine_handlers_run_in_a_task_when_plugin_hooks_are_awaited() -> None:
    seen: list[asyncio.Task[Any] | None] = []

    class Handler(RequestHandler):
        async def get(self) -> None:
            seen.append(asyncio.current_task())
            async with asyncio.timeout(_PATIENCE):
                await asyncio.sleep(0)
            self.write("hooked")

    class Plugin:
        @hookimpl
        async def prepare_request(self, handler: RequestHandler) -> None:
            seen.append(asyncio.current_task())

    async with serving(("/", Handler), plugins=[Plugin()]) as port:
        reply = await request(port, "/")
    assert (reply.status, reply.body) == (200, b"hooked")
    assert len(seen) == 2
    assert seen[0] is not None
    assert seen[0] is seen[1]


async def test_cancellation_inside_a_handler_is_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Raises(RequestHandler):
        async def get(self) -> None:
            raise asyncio.CancelledError

    class AwaitsCancelled(RequestHandler):
        async def get(self) -> None:
            await _cancelled_future()

    class ReturnsCancelled(RequestHandler):
        def get(self) -> asyncio.Future[None]:
            return _cancelled_future()

    class RaisesInline(RequestHandler):
        def get(self) -> None:
            raise asyncio.CancelledError

    @stream_request_body
    class StreamingPrepare(RequestHandler):
        async def prepare(self) -> None:
            await _cancelled_future()

        def data_received(self, chunk: bytes) -> None:
            raise AssertionError("the body is not read after prepare failed")

        def put(self) -> None:
            raise AssertionError("the verb method is not called after prepare failed")

    rules = [
        ("/raises", Raises),
        ("/awaits", AwaitsCancelled),
        ("/returns", ReturnsCancelled),
        ("/inline", RaisesInline),
        ("/streaming", StreamingPrepare),
    ]
    async with serving(*rules) as port:
        for path in ("/raises", "/awaits", "/returns", "/inline"):
            reply = await request(port, path)
            assert (path, reply.status) == (path, 500)
            assert not reply.closed
        streamed = await request(port, "/streaming", method="PUT", body=b"x" * 100)
        assert streamed.status == 500
    assert len(_uncaught(caplog)) == 5


async def test_a_cancelled_request_task_answers_500_and_ends_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks: list[asyncio.Task[Any]] = []
    waiting = asyncio.Event()

    class Waits(RequestHandler):
        async def get(self) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.append(task)
            waiting.set()
            await asyncio.get_running_loop().create_future()

    async with serving(("/", Waits)) as port:
        pending = asyncio.ensure_future(request(port, "/"))
        async with asyncio.timeout(_PATIENCE):
            await waiting.wait()
        tasks[0].cancel()
        reply = await pending
        assert reply.status == 500
        assert b"500: Internal Server Error" in reply.body
        assert tasks[0].cancelled()
    assert not _uncaught(caplog)


# --- responses that break after they started --------------------------------------------


class WrongLength(RequestHandler):
    def get(self, declared: str, body: str) -> None:
        self.set_header("Content-Length", declared)
        self.finish(body)


async def test_a_body_shorter_than_its_content_length_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving((r"/(\d+)/(\w+)", WrongLength)) as port:
        reply = await request(port, "/42/ok")
    assert reply.closed
    assert reply.status in (None, 200)
    assert len(reply.body) < 42
    assert _uncaught(caplog)


async def test_a_body_longer_than_its_content_length_is_never_left_hanging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving((r"/(\d+)/(\w+)", WrongLength)) as port:
        reply = await request(port, "/2/hello")
        # Either a 500 on a connection that stays usable, or a closed connection.
        assert reply.closed or reply.status == 500
        assert reply.body != b"he"
        after = await request(port, "/5/hello")
    assert (after.status, after.body) == (200, b"hello")
    assert _uncaught(caplog)


async def test_a_header_value_http_cannot_carry_is_never_left_hanging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.set_header("X-Word", "\u4e2d")
            self.finish("unsendable")

    async with serving(("/", Handler)) as port:
        reply = await request(port, "/")
    assert reply.closed or reply.status == 500
    assert b"unsendable" not in reply.body
    assert _uncaught(caplog)


async def test_a_stream_failing_after_flush_ends_its_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Handler(RequestHandler):
        async def get(self) -> None:
            self.write("first part")
            await self.flush()
            raise RuntimeError("the rest cannot be produced")

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("hello")

    async with serving(("/", Handler), ("/hello", Hello)) as port:
        reply = await request(port, "/")
        after = await request(port, "/hello")
    # A chunked response is ended properly: the client sees its first part.
    assert reply.status == 200
    assert b"first part" in reply.body
    assert (after.status, after.body) == (200, b"hello")
    assert _uncaught(caplog)


class RaisesStatus(RequestHandler):
    def get(self, code: str) -> None:
        self.set_header("Content-Language", "en")
        raise HTTPError(int(code))


@pytest.mark.parametrize("code", [204, 304])
async def test_an_error_status_without_content_is_a_plain_response(code: int) -> None:
    async with serving((r"/(\d+)", RaisesStatus)) as port:
        reply = await request(port, f"/{code}")
        again = await request(port, f"/{code}")
    assert (reply.status, reply.body, reply.closed) == (code, b"", False)
    assert "content-length" not in reply.headers
    assert "content-language" not in reply.headers
    assert again.status == code


async def test_a_custom_error_page_for_304_falls_back_to_a_bare_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            raise HTTPError(304)

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.finish(f"page for {status_code}")

    async with serving(("/", Handler)) as port:
        reply = await request(port, "/")
    assert (reply.status, reply.body, reply.closed) == (500, b"", False)
    assert "Cannot send body with 304" in caplog.text


async def test_redirects_to_non_ascii_urls_send_them_percent_encoded() -> None:
    class Handler(RequestHandler):
        def get(self) -> None:
            self.redirect(self.get_argument("to"))

    async with serving(("/", Handler)) as port:
        chinese = await request(port, "/?to=/%E4%B8%AD%E6%96%87")
        mixed = await request(port, "/?to=/caf%C3%A9%3Fq%3D%C3%BC%23top")
        slashes = await request(port, "/?to=%EF%BC%8F%EF%BC%8Fexample.com")
        encoded = await request(port, "/?to=/a%2520b")
    assert (chinese.status, chinese.headers["location"]) == (302, "/%E4%B8%AD%E6%96%87")
    assert mixed.headers["location"] == "/caf%C3%A9?q=%C3%BC#top"
    # Look-alike slashes stay part of a relative path: no protocol-relative URL.
    assert slashes.headers["location"] == "%EF%BC%8F%EF%BC%8Fexample.com"
    assert encoded.headers["location"] == "/a%20b"
