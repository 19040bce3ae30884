"""Argument accessors: query, body, path, typed conversion, control characters, JSON body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _webclient import RecordingConnection, fetch
from typhoon.httpclient import AsyncHTTPClient
from typhoon.httpserver import HTTPServer
from typhoon.httputil import HTTPMessageDelegate, HTTPServerRequest
from typhoon.routing import Router
from typhoon.web import Application, RequestHandler

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Echo(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "a": self.get_argument("a", None),
                "all": self.get_arguments("a"),
                "raw": self.get_argument("a", None, strip=False),
                "q": self.get_query_arguments("a"),
                "n": self.get_argument("n", 0, type=int),
                "ns": self.get_arguments("n", type=int),
            }
        )

    def post(self) -> None:
        self.write(
            {
                "merged": self.get_arguments("a"),
                "query": self.get_query_argument("a", None),
                "body": self.get_body_argument("a", None),
                "bodies": self.get_body_arguments("a"),
                "typed": self.get_body_argument("n", None, type=float),
            }
        )


def app() -> Application:
    return Application([("/", Echo)], load_entrypoints=False)


async def test_query_arguments_last_value_strip_and_all() -> None:
    response = await fetch(app(), "/?a=+first+&a=%20second%20&n=7&n=8")
    body = response.text
    assert '"a": "second"' in body
    assert '"all": ["first", "second"]' in body
    assert '"raw": " second "' in body
    assert '"q": ["first", "second"]' in body
    assert '"n": 8' in body
    assert '"ns": [7, 8]' in body


async def test_missing_argument_is_400_and_default_is_returned_unconverted() -> None:
    class Required(RequestHandler):
        def get(self) -> None:
            self.write({"v": self.get_argument("needed")})

    response = await fetch(Application([("/", Required)], load_entrypoints=False), "/")
    assert response.code == 400
    assert '"n": 0' in (await fetch(app(), "/")).text


async def test_body_and_query_sources_are_kept_apart() -> None:
    response = await fetch(app(), "/?a=q", "POST", FORM, b"a=b1&a=b2&n=1.5")
    assert response.text == (
        '{"merged": ["q", "b1", "b2"], "query": "q", "body": "b2", '
        '"bodies": ["b1", "b2"], "typed": 1.5}'
    )


async def test_conversion_failure_is_400() -> None:
    assert (await fetch(app(), "/?n=seven")).code == 400
    assert (await fetch(app(), "/", "POST", FORM, b"n=x")).code == 400


async def test_invalid_utf8_is_400_and_control_characters_are_replaced() -> None:
    assert (await fetch(app(), "/?a=%FF")).code == 400
    response = await fetch(app(), "/?a=x%00y%01z%09t")
    assert '"a": "x y z\\tt"' in response.text


async def test_path_arguments_invalid_utf8_is_400() -> None:
    class Path(RequestHandler):
        def get(self, value: str) -> None:
            self.write(value)

    response = await fetch(Application([("/(.*)", Path)], load_entrypoints=False), "/%FF")
    assert response.code == 400


async def test_decode_argument_override() -> None:
    class Latin(Echo):
        def decode_argument(self, value: bytes, name: str | None = None) -> str:
            return value.decode("latin-1")

    response = await fetch(Application([("/", Latin)], load_entrypoints=False), "/?a=%E9")
    assert '"a": "\\u00e9"' in response.text


class JsonBody(RequestHandler):
    def post(self) -> None:
        data: Any = self.json_body
        assert self.json_body is data  # parsed once
        self.write({"got": data})


def json_app() -> Application:
    return Application([("/", JsonBody)], load_entrypoints=False)


async def test_json_body() -> None:
    response = await fetch(json_app(), "/", "POST", {"Content-Type": "application/json"}, b"[1]")
    assert response.text == '{"got": [1]}'
    response = await fetch(json_app(), "/", "POST", {}, b"null")
    assert response.text == '{"got": null}'


async def test_json_body_errors_are_400() -> None:
    for body in (b"", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000):
        response = await fetch(json_app(), "/", "POST", {}, body)
        assert response.code == 400, body[:10]


# --- path arguments handed over as text by a router ------------------------------------------


class PathType(RequestHandler):
    def get(self, path: str, *, kind: str = "") -> None:
        self.write({"path": path, "kind": kind, "type": type(path).__name__})


class TextPathRouter(Router):
    """Routes every request to PathType with the request path as a ``str`` argument."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HTTPMessageDelegate:
        text_args: list[Any] = [request.path]
        text_kwargs: dict[str, Any] = {"kind": "text"}
        return self.app.get_handler_delegate(request, PathType, {}, text_args, text_kwargs)


@pytest.fixture
def typhoon_app() -> TextPathRouter:
    return TextPathRouter(Application([], load_entrypoints=False))


async def test_text_path_arguments_from_a_router_reach_the_handler(
    http_server: HTTPServer, http_client: AsyncHTTPClient, base_url: str
) -> None:
    response = await http_client.fetch(base_url + "/caf%C3%A9/x")
    assert json.loads(response.body) == {"path": "/caf%C3%A9/x", "kind": "text", "type": "str"}


async def test_decode_argument_returns_text_unchanged() -> None:
    handler = PathType(
        Application([], load_entrypoints=False),
        HTTPServerRequest(method="GET", uri="/", connection=RecordingConnection()),
    )
    text: Any = "caf\u00e9"  # annotated bytes, as in Tornado; text is accepted too
    assert handler.decode_argument(text) is text
    assert handler.decode_argument("caf\u00e9".encode()) == "caf\u00e9"
