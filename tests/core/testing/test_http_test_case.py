"""AsyncHTTPTestCase / AsyncHTTPSTestCase over real loopback servers.

The first classes are written exactly as Tornado's documentation and test suites write
them, with only ``tornado`` replaced by ``typhoon`` in the imports: they must run
unchanged.
"""

# ruff: noqa: PT009, PT027, UP031 -- the Tornado idiom (unittest assertions) is the point here

from __future__ import annotations

import gzip
import json
import socket
import ssl
import tempfile
import unittest
from typing import Any

from typhoon import hookimpl
from typhoon.httpclient import AsyncHTTPClient, HTTPClientError
from typhoon.httputil import HTTPHeaders, ResponseStartLine
from typhoon.testing import (
    TEST_CA_CERTS,
    AsyncHTTPSTestCase,
    AsyncHTTPTestCase,
    ExpectLog,
    bind_unused_port,
    gen_test,
)
from typhoon.web import Application, RequestHandler, StaticFileHandler

# --- Tornado-style, unchanged apart from imports -----------------------------------------


class MainHandler(RequestHandler):
    def get(self):
        self.write("Hello, world")


class EchoHandler(RequestHandler):
    def post(self):
        self.write({"name": self.get_argument("name"), "length": len(self.request.body)})


class FailHandler(RequestHandler):
    def get(self):
        raise ValueError("handler failure")


def make_app():
    return Application(
        [
            (r"/", MainHandler),
            (r"/echo", EchoHandler),
            (r"/fail", FailHandler),
        ]
    )


class MyHTTPTest(AsyncHTTPTestCase):
    def get_app(self):
        return make_app()

    def test_homepage(self):
        response = self.fetch("/")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.body, b"Hello, world")

    def test_post(self):
        response = self.fetch("/echo", method="POST", body="name=typhoon")
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(response.body), {"name": "typhoon", "length": 12})

    def test_missing_page_is_returned_not_raised(self):
        response = self.fetch("/nowhere")
        self.assertEqual(response.code, 404)

    def test_raise_error(self):
        with self.assertRaises(HTTPClientError) as context:
            self.fetch("/nowhere", raise_error=True)
        self.assertEqual(context.exception.code, 404)

    def test_server_error_is_logged(self):
        with ExpectLog("typhoon.application", "Uncaught exception"):
            response = self.fetch("/fail")
        self.assertEqual(response.code, 500)

    @gen_test
    async def test_http_fetch(self):
        client = AsyncHTTPClient()
        response = await client.fetch(self.get_url("/"))
        self.assertIn(b"Hello", response.body)

    @gen_test
    async def test_http_client_attribute(self):
        response = await self.http_client.fetch(self.get_url("/"))
        self.assertEqual(response.body, b"Hello, world")

    def test_absolute_url(self):
        response = self.fetch("http://127.0.0.1:%d/" % self.get_http_port())
        self.assertEqual(response.body, b"Hello, world")


class MyHTTPSTest(AsyncHTTPSTestCase):
    def get_app(self):
        return make_app()

    def test_homepage(self):
        response = self.fetch("/")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.body, b"Hello, world")
        self.assertTrue(self.get_url("/").startswith("https://127.0.0.1:"))


# --- beyond the basic port ------------------------------------------------------------------


class VerifiedHTTPSTest(AsyncHTTPSTestCase):
    def get_app(self) -> Any:
        return make_app()

    def test_the_certificate_verifies_against_the_shipped_ca(self) -> None:
        response = self.fetch("/", validate_cert=True, ca_certs=TEST_CA_CERTS)
        assert response.body == b"Hello, world"

    def test_the_server_really_speaks_tls(self) -> None:
        context = ssl.create_default_context(cafile=TEST_CA_CERTS)
        port = self.get_http_port()

        def blocking_client() -> bytes:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
                return data

        data = self.io_loop.run_sync(lambda: self.io_loop.run_in_executor(None, blocking_client))
        assert data.startswith(b"HTTP/1.1 200")
        assert data.endswith(b"Hello, world")


class RecordingPlugin:
    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def startup(self, app: Any) -> None:
        self.events.append("startup")

    @hookimpl
    def shutdown(self, app: Any) -> None:
        self.events.append("shutdown")


class LifecycleCase(AsyncHTTPTestCase):
    __test__ = False  # run by test_application_startup_and_shutdown_hooks_run
    plugin = RecordingPlugin()

    def get_app(self) -> Any:
        return Application([("/", MainHandler)], plugins=[self.plugin], load_entrypoints=False)

    def test_fetch(self) -> None:
        assert self.plugin.events == ["startup"]
        assert self.fetch("/").code == 200


def test_application_startup_and_shutdown_hooks_run() -> None:
    result = unittest.TestResult()
    LifecycleCase("test_fetch").run(result)
    assert result.wasSuccessful(), result.errors + result.failures
    assert LifecycleCase.plugin.events == ["startup", "shutdown"]


class PlainCallableCase(AsyncHTTPTestCase):
    """get_app may return any request callback an HTTPServer accepts."""

    def get_app(self) -> Any:
        def respond(request: Any) -> None:
            body = b"plain " + request.path.encode()
            request.connection.write_headers(
                ResponseStartLine("HTTP/1.1", 200, "OK"),
                HTTPHeaders({"Content-Length": str(len(body))}),
                body,
            )
            request.connection.finish()

        return respond

    def test_plain_callable(self) -> None:
        assert self.fetch("/x").body == b"plain /x"


class StaticOverLoopback(AsyncHTTPTestCase):
    """StaticFileHandler through the real server and client."""

    def get_app(self) -> Any:
        self._dir = tempfile.TemporaryDirectory()
        self.addCleanup(self._dir.cleanup)
        self.big = bytes(range(256)) * 4096  # 1 MiB
        with open(self._dir.name + "/big.bin", "wb") as f:
            f.write(self.big)
        self.text = b"static text, compressible " * 400
        with open(self._dir.name + "/page.txt", "wb") as f:
            f.write(self.text)
        return Application(
            [(r"/files/(.*)", StaticFileHandler, {"path": self._dir.name})],
            static_path=self._dir.name,
            compress_response=True,
            load_entrypoints=False,
        )

    def test_large_file(self) -> None:
        response = self.fetch("/files/big.bin")
        assert response.code == 200
        assert response.body == self.big

    def test_range_and_conditional(self) -> None:
        response = self.fetch("/static/big.bin", headers={"Range": "bytes=1000-1999"})
        assert response.code == 206
        assert response.body == self.big[1000:2000]
        assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(self.big)}"
        etag = self.fetch("/static/big.bin", method="HEAD").headers["Etag"]
        assert self.fetch("/static/big.bin", headers={"If-None-Match": etag}).code == 304
        assert self.fetch("/static/big.bin", headers={"Range": "bytes=9999999-"}).code == 416

    def test_gzip_streamed(self) -> None:
        response = self.fetch(
            "/static/page.txt", headers={"Accept-Encoding": "gzip"}, decompress_response=False
        )
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(response.body) == self.text
        plain = self.fetch("/static/page.txt", headers={"Accept-Encoding": "identity"})
        assert plain.body == self.text
        assert "Content-Encoding" not in plain.headers

    def test_traversal_is_refused_over_the_wire(self) -> None:
        with ExpectLog("typhoon.general", ".*403", required=False):
            response = self.fetch("/files/..%2f..%2fetc%2fpasswd")
        assert response.code == 403


def test_bind_unused_port() -> None:
    sock, port = bind_unused_port()
    try:
        assert sock.getsockname() == ("127.0.0.1", port)
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # it listens
    finally:
        sock.close()


def test_bind_unused_port_ipv6() -> None:
    if not socket.has_ipv6:
        return
    try:
        sock, port = bind_unused_port(address="::1")
    except OSError:
        return  # no IPv6 loopback on this machine
    try:
        assert sock.family == socket.AF_INET6
        assert sock.getsockname()[1] == port
    finally:
        sock.close()
