"""@authenticated, @addslash, @removeslash, @stream_request_body and the ready-made handlers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _webclient import fetch, start
from typhoon import httputil
from typhoon.web import (
    Application,
    ErrorHandler,
    FallbackHandler,
    RedirectHandler,
    RequestHandler,
    addslash,
    authenticated,
    removeslash,
    stream_request_body,
)


def make_app(*handlers: Any, **settings: Any) -> Application:
    return Application(list(handlers), load_entrypoints=False, **settings)


class Private(RequestHandler):
    def get_current_user(self) -> str | None:
        return self.get_argument("user", None)

    @authenticated
    def get(self) -> None:
        self.write(f"hello {self.current_user}")

    @authenticated
    def post(self) -> None:
        self.write("posted")


async def test_authenticated_redirects_reads_and_forbids_writes() -> None:
    app = make_app(("/private", Private), login_url="/login")
    response = await fetch(app, "/private?x=1")
    assert response.code == 302
    assert response.headers["Location"] == "/login?next=%2Fprivate%3Fx%3D1"
    assert (await fetch(app, "/private", "POST", body=b"x")).code == 403
    assert (await fetch(app, "/private?user=al")).body == b"hello al"


async def test_authenticated_with_absolute_or_query_login_url() -> None:
    app = make_app(("/private", Private), login_url="https://sso.example/login")
    response = await fetch(app, "/private")
    assert response.headers["Location"] == (
        "https://sso.example/login?next=http%3A%2F%2Fexample.com%2Fprivate"
    )
    app = make_app(("/private", Private), login_url="/login?from=app")
    assert (await fetch(app, "/private")).headers["Location"] == "/login?from=app"


async def test_authenticated_without_login_url_is_a_server_error() -> None:
    assert (await fetch(make_app(("/private", Private)), "/private")).code == 500


async def test_async_get_current_user_is_awaited_before_prepare() -> None:
    class AsyncUser(RequestHandler):
        async def get_current_user(self) -> str:
            await asyncio.sleep(0)
            return "async-user"

        def prepare(self) -> None:
            self.seen_in_prepare = self.current_user

        @authenticated
        def get(self) -> None:
            self.write(f"{self.seen_in_prepare}/{self.current_user}")

    response = await fetch(make_app(("/", AsyncUser), login_url="/l"), "/")
    assert response.body == b"async-user/async-user"


class Slashy(RequestHandler):
    @addslash
    def get(self) -> None:
        self.write("added")

    @addslash
    def post(self) -> None:
        self.write("added")


class Unslashy(RequestHandler):
    @removeslash
    def get(self) -> None:
        self.write("removed")

    @removeslash
    def post(self) -> None:
        self.write("removed")


async def test_addslash() -> None:
    app = make_app(("/.*", Slashy))
    response = await fetch(app, "/dir?q=1")
    assert (response.code, response.headers["Location"]) == (301, "/dir/?q=1")
    assert (await fetch(app, "/dir/")).body == b"added"
    assert (await fetch(app, "/dir", "POST", body=b"x")).code == 404


async def test_removeslash() -> None:
    app = make_app(("/.*", Unslashy))
    response = await fetch(app, "/dir/?q=1")
    assert (response.code, response.headers["Location"]) == (301, "/dir?q=1")
    assert (await fetch(app, "/")).body == b"removed"
    assert (await fetch(app, "/dir")).body == b"removed"
    assert (await fetch(app, "/dir/", "POST", body=b"x")).code == 404


@pytest.mark.parametrize(
    ("handler", "path", "location"),
    [
        (Unslashy, "//evil.example/", "/evil.example"),
        (Unslashy, "/\\evil.example/", "/evil.example"),
        (Unslashy, "///evil.example//", "/evil.example"),
        (Slashy, "//evil.example", "/evil.example/"),
        (Slashy, "/\\/evil.example", "/evil.example/"),
    ],
)
async def test_slash_redirects_never_leave_the_host(
    handler: type[RequestHandler], path: str, location: str
) -> None:
    response = await fetch(make_app(("/.*", handler)), path)
    assert response.code == 301
    assert response.headers["Location"] == location


# --- ready-made handlers --------------------------------------------------------------------


async def test_redirect_handler_substitutes_groups_and_keeps_query() -> None:
    app = make_app(
        (r"/old/(\d+)", RedirectHandler, {"url": "/new/{0}"}),
        (r"/named/(?P<slug>\w+)", RedirectHandler, {"url": "/n/{slug}", "permanent": False}),
        (r"/ext", RedirectHandler, {"url": "https://other.example/path?x=1"}),
    )
    response = await fetch(app, "/old/42?a=1&a=%C3%A9")
    assert (response.code, response.headers["Location"]) == (301, "/new/42?a=1&a=%C3%A9")
    response = await fetch(app, "/named/abc")
    assert (response.code, response.headers["Location"]) == (302, "/n/abc")
    response = await fetch(app, "/ext?y=2")
    assert response.headers["Location"] == "https://other.example/path?x=1&y=2"


@pytest.mark.parametrize(
    "captured",
    ["/evil.example", "\\evil.example", "/\\evil.example", "//evil.example"],
)
async def test_redirect_handler_refuses_substitution_that_changes_host(captured: str) -> None:
    app = make_app((r"/go/(.*)", RedirectHandler, {"url": "/{0}"}))
    response = await fetch(app, "/go/" + captured)
    assert response.code == 400
    assert "Location" not in response.headers


async def test_redirect_handler_refuses_substitution_into_the_host() -> None:
    app = make_app((r"/sub/(\w+)", RedirectHandler, {"url": "https://{0}.example.com/"}))
    # The host is fixed by the text before the first field: no value may add to it.
    assert (await fetch(app, "/sub/x")).code == 400
    assert (await fetch(app, "/sub/other")).code == 400


async def test_error_handler_ignores_xsrf_and_cross_origin_checks() -> None:
    app = make_app(
        ("/gone", ErrorHandler, {"status_code": 410}),
        xsrf_cookies=True,
        cross_origin_protection=True,
    )
    response = await fetch(app, "/gone", "POST", {"Sec-Fetch-Site": "cross-site"}, b"x")
    assert response.code == 410


async def test_fallback_handler_passes_the_request_on() -> None:
    def legacy(request: httputil.HTTPServerRequest) -> None:
        assert request.connection is not None
        body = f"legacy {request.path}".encode()
        headers = httputil.HTTPHeaders({"Content-Length": str(len(body))})
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body
        )
        request.connection.finish()

    app = make_app(("/.*", FallbackHandler, {"fallback": legacy}))
    response = await fetch(app, "/anything")
    assert response.body == b"legacy /anything"


# --- streaming request bodies ---------------------------------------------------------------


@stream_request_body
class Upload(RequestHandler):
    def initialize(self, log: list[Any]) -> None:
        self.log = log

    def prepare(self) -> None:
        assert self.request.connection is not None
        self.request.connection.set_max_body_size(1000)  # type: ignore[attr-defined]
        self.log.append("prepare")

    async def data_received(self, chunk: bytes) -> None:
        await asyncio.sleep(0)
        self.log.append(chunk)

    def put(self) -> None:
        self.log.append(("put", self.request.body))
        self.write("stored")


async def test_stream_request_body_delivers_chunks_after_prepare() -> None:
    log: list[Any] = []
    app = make_app(("/", Upload, {"log": log}))
    response = await fetch(app, "/", "PUT", body=[b"ab", b"cd", b"ef"])
    assert response.body == b"stored"
    assert log == ["prepare", b"ab", b"cd", b"ef", ("put", b"")]
    assert response.connection.max_body_size == 1000


async def test_stream_request_body_connection_closed_mid_body() -> None:
    log: list[Any] = []
    app = make_app(("/", Upload, {"log": log}))
    conn = await start(app, "PUT", "/", {"Content-Length": "10"}, [b"part"], finish=False)
    delegate_log = list(log)
    conn.close()
    await asyncio.sleep(0.01)
    assert delegate_log == ["prepare", b"part"]
    assert ("put", b"") not in log
    assert conn.start_line is None


def test_stream_request_body_only_decorates_handlers() -> None:
    with pytest.raises(TypeError, match="RequestHandler"):
        stream_request_body(object)  # type: ignore[type-var]


async def test_stream_request_body_without_data_received() -> None:
    @stream_request_body
    class Forgetful(RequestHandler):
        def put(self) -> None:
            self.write("never")

    app = make_app(("/", Forgetful))
    conn = await start(app, "PUT", "/", body=b"")
    assert conn.start_line is None or conn.start_line.code == 200
    with pytest.raises(NotImplementedError, match="data_received"):
        await fetch(app, "/", "PUT", body=[b"x"])
