"""WSGIContainer: a real WSGI framework (Flask) and hand-written PEP 3333 applications
served by typhoon's HTTP server on loopback sockets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import flask
import pytest
import requests
from _httphelpers import WAIT, RawClient, Response, get, run_in_thread, serve
from typhoon.httpclient import AsyncHTTPClient, HTTPRequest
from typhoon.web import Application, FallbackHandler, RequestHandler
from typhoon.wsgi import WSGIContainer

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]


class Gates:
    """Events a Flask view waits on or reports through (set from the test's loop)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed = threading.Event()
        self.entered = threading.Event()


def make_flask(gates: Gates) -> flask.Flask:
    app = flask.Flask("typhoon_wsgi_test")

    @app.get("/hello")
    def hello() -> str:
        return "Hello from Flask"

    @app.post("/echo")
    def echo() -> Any:
        request = flask.request
        return flask.jsonify(
            form=request.form.to_dict(),
            files={name: f.read().decode() for name, f in request.files.items()},
            json=request.get_json(silent=True),
            length=request.content_length,
            content_type=request.content_type,
            raw=request.get_data(as_text=True) if not request.form else None,
        )

    @app.get("/where/<name>")
    def where(name: str) -> Any:
        request = flask.request
        return flask.jsonify(
            name=name,
            path=request.path,
            args=request.args.to_dict(),
            url=request.url,
            remote=request.remote_addr,
            header=request.headers.get("X-Custom"),
        )

    @app.get("/stream")
    def stream() -> flask.Response:
        def generate() -> Iterator[str]:
            try:
                yield "first\n"
                gates.release.wait(WAIT)
                yield "second\n"
            finally:
                gates.closed.set()

        return flask.Response(generate(), mimetype="text/plain")

    @app.get("/slow")
    def slow() -> str:
        gates.entered.set()
        gates.release.wait(WAIT)
        return "slow done"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("view failed")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


class Native(RequestHandler):
    def get(self) -> None:
        self.write("typhoon handler")


def mounted(wsgi_app: Any, **kwargs: Any) -> tuple[Application, WSGIContainer]:
    container = WSGIContainer(wsgi_app, **kwargs)
    application = Application(
        [(r"/native", Native), (r"/.*", FallbackHandler, {"fallback": container})],
        load_entrypoints=False,
    )
    return application, container


@asynccontextmanager
async def flask_server() -> AsyncIterator[tuple[int, Gates, AsyncHTTPClient]]:
    """Flask mounted with FallbackHandler next to a typhoon handler; plus a client."""
    gates = Gates()
    application, container = mounted(make_flask(gates))
    client = AsyncHTTPClient(force_instance=True)
    try:
        async with serve(application) as (_, port):
            yield port, gates, client
    finally:
        gates.release.set()
        client.close()
        container.close()


async def fetch_raw(port: int, data: bytes) -> Response:
    """One request on a new connection, closed afterwards."""
    client = await RawClient.connect(port)
    try:
        return await client.request(data)
    finally:
        await client.close()


@asynccontextmanager
async def wsgi_server(app: Any) -> AsyncIterator[int]:
    """Serve a plain WSGI callable with the container as the server's request callback."""
    container = WSGIContainer(app)
    try:
        async with serve(container) as (_, port):
            yield port
    finally:
        container.close()


# --- Flask over FallbackHandler -----------------------------------------------------------


async def test_flask_views_next_to_typhoon_handlers() -> None:
    async with flask_server() as (port, _, client):
        hello = await client.fetch(f"http://127.0.0.1:{port}/hello")
        assert hello.code == 200
        assert hello.body == b"Hello from Flask"
        assert hello.headers["Content-Type"] == "text/html; charset=utf-8"
        assert hello.headers["Content-Length"] == str(len(b"Hello from Flask"))
        native = await client.fetch(f"http://127.0.0.1:{port}/native")
        assert native.body == b"typhoon handler"
        missing = await client.fetch(f"http://127.0.0.1:{port}/nowhere", raise_error=False)
        assert missing.code == 404
        assert b"Not Found" in missing.body


async def test_flask_reads_form_json_and_multipart_bodies() -> None:
    async with flask_server() as (port, _, _):
        url = f"http://127.0.0.1:{port}/echo"
        form = await run_in_thread(requests.post, url, data={"a": "1", "b": "two words"})
        assert form.json()["form"] == {"a": "1", "b": "two words"}
        assert form.json()["content_type"] == "application/x-www-form-urlencoded"
        body = await run_in_thread(requests.post, url, json={"x": [1, 2]})
        assert body.json()["json"] == {"x": [1, 2]}
        assert body.json()["length"] == len(b'{"x": [1, 2]}')
        upload = await run_in_thread(
            requests.post, url, data={"f": "v"}, files={"doc": ("a.txt", b"file body")}
        )
        assert upload.json()["form"] == {"f": "v"}
        assert upload.json()["files"] == {"doc": "file body"}


async def test_chunked_request_body_reaches_wsgi_input() -> None:
    async with flask_server() as (port, _, _):
        raw = await RawClient.connect(port)
        try:
            response = await raw.request(
                b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
        finally:
            await raw.close()
        assert response.status == 200
        data = response.json()
        assert data["raw"] == "hello world"


async def test_flask_sees_decoded_path_query_host_and_headers() -> None:
    async with flask_server() as (port, _, client):
        response = await client.fetch(
            f"http://127.0.0.1:{port}/where/caf%C3%A9%20bar?q=%C3%BC&n=1",
            headers={"X-Custom": "yes"},
        )
        data = json.loads(response.body)
        assert data["name"] == "café bar"
        assert data["path"] == "/where/café bar"
        assert data["args"] == {"q": "ü", "n": "1"}
        assert (
            urllib.parse.unquote(data["url"]) == f"http://127.0.0.1:{port}/where/café bar?q=ü&n=1"
        )
        assert data["remote"] == "127.0.0.1"
        assert data["header"] == "yes"


async def test_flask_streaming_response_streams_and_closes() -> None:
    async with flask_server() as (port, gates, client):
        received: list[bytes] = []
        first_seen = asyncio.get_running_loop().create_future()

        def on_chunk(chunk: bytes) -> None:
            received.append(chunk)
            if not first_seen.done():
                first_seen.set_result(b"".join(received))

        fetch = asyncio.ensure_future(
            client.fetch(
                HTTPRequest(f"http://127.0.0.1:{port}/stream", streaming_callback=on_chunk)
            )
        )
        # The first piece arrives while the generator is still blocked on the gate.
        assert await asyncio.wait_for(first_seen, WAIT) == b"first\n"
        assert not gates.closed.is_set()
        gates.release.set()
        response = await asyncio.wait_for(fetch, WAIT)
        assert response.code == 200
        assert b"".join(received) == b"first\nsecond\n"
        assert response.headers.get("Transfer-Encoding") == "chunked"
        assert await run_in_thread(gates.closed.wait, WAIT)


async def test_blocking_view_does_not_block_the_loop() -> None:
    async with flask_server() as (port, gates, client):
        slow = asyncio.ensure_future(client.fetch(f"http://127.0.0.1:{port}/slow"))
        assert await run_in_thread(gates.entered.wait, WAIT)
        # The Flask view is blocked in its thread; typhoon and Flask still answer.
        native = await asyncio.wait_for(client.fetch(f"http://127.0.0.1:{port}/native"), WAIT)
        assert native.body == b"typhoon handler"
        other = await asyncio.wait_for(client.fetch(f"http://127.0.0.1:{port}/hello"), WAIT)
        assert other.body == b"Hello from Flask"
        assert not slow.done()
        gates.release.set()
        assert (await asyncio.wait_for(slow, WAIT)).body == b"slow done"


async def test_flask_error_page_comes_from_flask() -> None:
    async with flask_server() as (port, _, client):
        response = await client.fetch(f"http://127.0.0.1:{port}/boom", raise_error=False)
        assert response.code == 500
        assert b"Internal Server Error" in response.body


# --- the environment ----------------------------------------------------------------------


def environ_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    shown = {
        key: value
        for key, value in environ.items()
        if isinstance(value, str | int | bool | tuple) and key != "wsgi.input"
    }
    shown["body"] = environ["wsgi.input"].read().decode("latin-1")
    shown["errors_writable"] = callable(getattr(environ["wsgi.errors"], "write", None))
    body = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


async def test_environ_follows_pep_3333() -> None:
    async with wsgi_server(environ_app) as port:
        client = await RawClient.connect(port)
        try:
            response = await client.request(
                b"POST /a%20b/%C3%A9?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\n"
                b"Content-Type: text/plain\r\nContent-Length: 4\r\nX-Multi: one\r\n"
                b"X-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\nX_Smuggled: 1\r\n\r\nbody"
            )
        finally:
            await client.close()
    env = response.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    # Percent-decoded bytes, one latin-1 character each (PEP 3333 "bytes in str").
    assert env["PATH_INFO"] == "/a b/\xc3\xa9"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["SERVER_NAME"] == "example.com"
    assert env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "4"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_HOST"] == "example.com:8080"
    assert env["HTTP_X_MULTI"] == "one,two"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    # A name with "_" would alias X-Smuggled: dropped rather than guessed.
    assert "HTTP_X_SMUGGLED" not in env
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["errors_writable"] is True
    assert env["body"] == "body"


async def test_environ_without_host_header_uses_the_socket() -> None:
    async with wsgi_server(environ_app) as port:
        client = await RawClient.connect(port)
        try:
            await client.send(b"GET /x HTTP/1.0\r\n\r\n")
            response = await client.read_response()
        finally:
            await client.close()
    env = response.json()
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "CONTENT_LENGTH" not in env
    assert env["body"] == ""


async def test_environ_content_length_of_a_chunked_body() -> None:
    async with wsgi_server(environ_app) as port:
        client = await RawClient.connect(port)
        try:
            response = await client.request(
                b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            )
        finally:
            await client.close()
    env = response.json()
    # wsgi.input holds the de-chunked body, and CONTENT_LENGTH says how long it is.
    assert env["CONTENT_LENGTH"] == "5"
    assert env["body"] == "abcde"
    assert env["wsgi.input_terminated"] is True


# --- start_response and the response ------------------------------------------------------


def simple(status: str, headers: list[tuple[str, str]], body: list[bytes]) -> Any:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)
        return body

    return app


async def test_list_body_gets_content_length_and_head_has_no_body() -> None:
    app = simple("201 Created", [("Content-Type", "text/plain")], [b"ab", b"cd"])
    async with wsgi_server(app) as port:
        client = await RawClient.connect(port)
        try:
            response = await client.request(get("/"))
            assert response.status == 201
            assert response.reason == "Created"
            assert response.header("Content-Length") == "4"
            assert response.body == b"abcd"
            await client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await client.read_response(head_only=True)
            assert head.header("Content-Length") == "4"
            assert head.body == b""
            # Keep-alive survived both exchanges.
            again = await client.request(get("/"))
            assert again.body == b"abcd"
        finally:
            await client.close()


async def test_empty_body_and_no_content() -> None:
    async with wsgi_server(simple("200 OK", [], [])) as port:
        response = await fetch_raw(port, get("/"))
        assert response.header("Content-Length") == "0"
        assert response.body == b""
    async with wsgi_server(simple("204 No Content", [], [b""])) as port:
        response = await fetch_raw(port, get("/"))
        assert response.status == 204
        assert response.header("Content-Length") is None


async def test_write_callable_and_iterable_are_sent_in_order() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one ")
        write(b"two ")
        yield b"three"

    async with wsgi_server(app) as port:
        client = await RawClient.connect(port)
        try:
            response = await client.request(get("/"))
        finally:
            await client.close()
    assert response.chunked
    assert response.body == b"one two three"


async def test_exc_info_before_headers_replaces_the_response() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late failure")
        except ValueError as exc:
            start_response(
                "503 Service Unavailable", [("Retry-After", "1")], (ValueError, exc, None)
            )
        return [b"try later"]

    async with wsgi_server(app) as port:
        response = await fetch_raw(port, get("/"))
    assert response.status == 503
    assert response.header("Retry-After") == "1"
    assert response.header("Content-Type") is None
    assert response.body == b"try later"


async def test_exc_info_after_headers_reraises_and_cuts_the_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise ValueError("mid-stream failure")
        except ValueError as exc:
            start_response("500 Internal Server Error", [], (ValueError, exc, exc.__traceback__))
        yield b"never"

    async with wsgi_server(app) as port:
        client = await RawClient.connect(port)
        try:
            await client.send(get("/"))
            raw = await client.read_to_end()
        finally:
            await client.close()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"partial" in raw
    assert b"never" not in raw
    # The chunked body never got its terminating zero-length chunk.
    assert not raw.endswith(b"0\r\n\r\n")
    assert "mid-stream failure" in caplog.text


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        ("200 OK", [("X-Bad", "a\r\nInjected: yes")], "invalid characters"),
        ("200 OK", [("X-Bad", "a\nb")], "invalid characters"),
        ("200 OK", [("Bad Name", "v")], "invalid header name"),
        ("200 OK", [("Connection", "close")], "hop-by-hop"),
        ("200 OK", [("Transfer-Encoding", "chunked")], "hop-by-hop"),
        ("200 OK", [("X-Type", b"bytes")], "must be str"),
        ("200 OK", {"X": "dict"}, "must be a list"),
        ("200OK", [], "malformed WSGI status"),
        ("OK 200", [], "malformed WSGI status"),
        ("200 OK\r\nX: y", [], "malformed WSGI status"),
    ],
)
async def test_invalid_status_or_headers_answer_500(
    status: str, headers: Any, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with wsgi_server(simple(status, headers, [b"body"])) as port:
        client = await RawClient.connect(port)
        try:
            response = await client.request(get("/"))
        finally:
            await client.close()
    assert response.status == 500
    assert b"Injected" not in response.body
    assert all(name != "Injected" for name, _ in response.headers)
    assert message in caplog.text


async def test_application_misuse_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    def twice(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"x"]

    def no_start(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return [b"x"]

    def text_body(environ: Environ, start_response: StartResponse) -> list[Any]:
        start_response("200 OK", [])
        return ["text is not bytes"]

    def raises(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise KeyError("application bug")

    cases = [
        (twice, "second time"),
        (no_start, "before start_response"),
        (text_body, "must be bytes"),
        (raises, "application bug"),
    ]
    for app, message in cases:
        caplog.clear()
        async with wsgi_server(app) as port:
            response = await fetch_raw(port, get("/"))
        assert response.status == 500, message
        assert b"500: Internal Server Error" in response.body
        assert message in caplog.text


async def test_declared_length_mismatch_cuts_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = simple("200 OK", [("Content-Length", "10")], [b"short"])
    async with wsgi_server(app) as port:
        client = await RawClient.connect(port)
        try:
            await client.send(get("/"))
            raw = await client.read_to_end()
        finally:
            await client.close()
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert raw.endswith(b"short")
    assert "invalid response" in caplog.text


async def test_iterable_close_runs_when_the_client_leaves(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="typhoon.application")
    produced: list[int] = []
    closed = threading.Event()

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            for index in range(100_000):
                produced.append(index)
                time.sleep(0.001)
                yield b"x" * 1024

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Endless:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless()

    async with wsgi_server(app) as port:
        client = await RawClient.connect(port)
        await client.send(get("/"))
        await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), WAIT)
        await client.close()
        assert await run_in_thread(closed.wait, WAIT)
    assert len(produced) < 100_000
    assert "left during WSGI response" in caplog.text


async def test_slow_reader_pauses_the_application() -> None:
    """A client that does not read stops the application once the buffers are full."""
    produced = 0
    chunk = b"y" * 65536
    done = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        nonlocal produced
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        try:
            for _ in range(1024):  # 64 MiB if nothing pushed back
                produced += len(chunk)
                yield chunk
        finally:
            done.set()

    async with wsgi_server(app) as port:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), WAIT)
        await loop.sock_sendall(sock, get("/"))
        await asyncio.sleep(1.0)
        stalled_at = produced
        assert stalled_at < 24 * 1024 * 1024
        assert not done.is_set()
        # Reading lets it continue; closing ends it.
        received = 0
        deadline = loop.time() + WAIT
        while received < 2 * stalled_at and loop.time() < deadline:
            data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), WAIT)
            if not data:
                break
            received += len(data)
        assert produced > stalled_at
        sock.close()
        assert await run_in_thread(done.wait, WAIT)


async def test_custom_executor_is_used() -> None:
    seen: list[str] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(threading.current_thread().name)
        start_response("200 OK", [])
        return [b"ok"]

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="custom-pool") as pool:
        container = WSGIContainer(app, executor=pool)
        async with serve(container) as (_, port):
            response = await fetch_raw(port, get("/"))
        container.close()  # leaves a caller's executor alone
        assert pool.submit(lambda: 1).result(WAIT) == 1
    assert response.body == b"ok"
    assert seen[0].startswith("custom-pool")


async def test_closed_container_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    container = WSGIContainer(simple("200 OK", [], [b"ok"]))
    async with serve(container) as (_, port):
        client = await RawClient.connect(port)
        try:
            assert (await client.request(get("/"))).body == b"ok"
            container.close()
            assert (await client.request(get("/"))).status == 500
        finally:
            await client.close()
    assert "shutdown" in caplog.text


async def test_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="typhoon.access")
    async with wsgi_server(simple("404 Not Found", [], [b"no"])) as port:
        await fetch_raw(port, get("/missing?q=1"))
        # The client may have the whole (sized) response before the job reports its end.
        for _ in range(100):
            if any(r.name == "typhoon.access" for r in caplog.records):
                break
            await asyncio.sleep(0.01)
    [record] = [r for r in caplog.records if r.name == "typhoon.access"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("404 GET /missing?q=1 (127.0.0.1)")
