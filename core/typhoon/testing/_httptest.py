"""AsyncHTTPTestCase and AsyncHTTPSTestCase: a real server on a loopback port per test.

Layer 6 (assembly). Imports ``typhoon.httpserver``, ``typhoon.httpclient``,
``typhoon.netutil``, ``typhoon.web`` and the standard library.
"""

from __future__ import annotations

__all__ = [
    "TEST_CA_CERTS",
    "TEST_CERTFILE",
    "TEST_KEYFILE",
    "AsyncHTTPSTestCase",
    "AsyncHTTPTestCase",
    "bind_unused_port",
]

import os
import socket
from typing import Any

from typhoon.httpclient import AsyncHTTPClient, HTTPResponse
from typhoon.httpserver import HTTPServer
from typhoon.netutil import bind_sockets
from typhoon.testing._asynctest import AsyncTestCase, get_async_test_timeout
from typhoon.web import Application

_CERT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "certs")
#: The test server certificate (for ``localhost``, ``127.0.0.1`` and ``::1``).
TEST_CERTFILE = os.path.join(_CERT_DIR, "test.crt")
#: The private key of :data:`TEST_CERTFILE`. It is public: never use it outside tests.
TEST_KEYFILE = os.path.join(_CERT_DIR, "test.key")
#: The certificate authority that signed :data:`TEST_CERTFILE`, for clients that verify.
TEST_CA_CERTS = os.path.join(_CERT_DIR, "ca.crt")


def bind_unused_port(
    reuse_port: bool = False, address: str = "127.0.0.1"
) -> tuple[socket.socket, int]:
    """A listening socket on a free port of ``address``, and that port.

    The kernel picks the port (port 0), so parallel test runs never collide.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = bind_sockets(0, address, family=family, reuse_port=reuse_port)[0]
    port: int = sock.getsockname()[1]
    return sock, port


class AsyncHTTPTestCase(AsyncTestCase):
    """Serves :meth:`get_app` on a loopback port for each test; :meth:`fetch` requests it.

    Override :meth:`get_app` to return the application (or any request callback an
    :class:`~typhoon.httpserver.HTTPServer` accepts). ``self.http_server`` and
    ``self.http_client`` are the server and an
    :class:`~typhoon.httpclient.AsyncHTTPClient`. In a plain test method use
    ``self.fetch("/path")``; in a ``gen_test`` coroutine use
    ``await self.http_client.fetch(self.get_url("/path"))``. An ``Application``'s
    ``startup`` hooks run before the first request and its ``shutdown`` hooks after the
    test.
    """

    http_server: HTTPServer
    http_client: AsyncHTTPClient

    def setUp(self) -> None:
        """Start the server on a free port and create the client."""
        super().setUp()
        sock, port = bind_unused_port()
        self.__port = port
        self.http_client = self.get_http_client()
        self._app = self.get_app()
        self.http_server = self.get_http_server()
        self.http_server.add_sockets([sock])
        if isinstance(self._app, Application):
            self.io_loop.run_sync(self._app.startup, timeout=get_async_test_timeout())

    def tearDown(self) -> None:
        """Stop the server, close its connections and the client."""
        self.http_server.stop()
        self.io_loop.run_sync(
            self.http_server.close_all_connections, timeout=get_async_test_timeout()
        )
        self.http_client.close()
        if isinstance(self._app, Application):
            self.io_loop.run_sync(self._app.shutdown, timeout=get_async_test_timeout())
        del self.http_server
        del self._app
        super().tearDown()

    def get_app(self) -> Any:
        """The application to serve (override it)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_app()")

    def get_http_client(self) -> AsyncHTTPClient:
        """The client :meth:`fetch` uses (a private instance, closed after the test)."""
        return AsyncHTTPClient(force_instance=True)

    def get_http_server(self) -> HTTPServer:
        """The server of :meth:`get_app`, built with :meth:`get_httpserver_options`."""
        return HTTPServer(self._app, **self.get_httpserver_options())

    def get_httpserver_options(self) -> dict[str, Any]:
        """Keyword arguments for the :class:`~typhoon.httpserver.HTTPServer`."""
        return {}

    def get_http_port(self) -> int:
        """The port the server listens on."""
        return self.__port

    def get_protocol(self) -> str:
        """``http`` (``https`` in :class:`AsyncHTTPSTestCase`)."""
        return "http"

    def get_url(self, path: str) -> str:
        """The absolute URL of ``path`` on the test server."""
        return f"{self.get_protocol()}://127.0.0.1:{self.get_http_port()}{path}"

    def fetch(self, path: str, raise_error: bool = False, **kwargs: Any) -> HTTPResponse:
        """Request ``path`` (or an absolute URL) synchronously and return the response.

        Unlike ``AsyncHTTPClient.fetch``, error statuses are returned, not raised,
        unless ``raise_error`` is true; ``kwargs`` are ``HTTPRequest`` options. Runs the
        loop, so call it from plain test methods, not from ``gen_test`` coroutines.
        """
        absolute = path.lower().startswith(("http://", "https://"))
        url = path if absolute else self.get_url(path)
        response: HTTPResponse = self.io_loop.run_sync(
            lambda: self.http_client.fetch(url, raise_error=raise_error, **kwargs),
            timeout=get_async_test_timeout(),
        )
        return response


class AsyncHTTPSTestCase(AsyncHTTPTestCase):
    """:class:`AsyncHTTPTestCase` over TLS, with the certificate shipped in
    ``typhoon.testing`` (valid for ``localhost``, ``127.0.0.1`` and ``::1``).

    The client does not verify the certificate (as in Tornado); pass
    ``ca_certs=TEST_CA_CERTS, validate_cert=True`` to a fetch to check it.
    """

    def get_http_client(self) -> AsyncHTTPClient:
        """A client that accepts the test certificate."""
        return AsyncHTTPClient(force_instance=True, defaults={"validate_cert": False})

    def get_httpserver_options(self) -> dict[str, Any]:
        """Serve TLS with :meth:`get_ssl_options`."""
        return {"ssl_options": self.get_ssl_options()}

    def get_ssl_options(self) -> Any:
        """The server's ``ssl_options``: an ``SSLContext`` or Tornado's dict form."""
        return AsyncHTTPSTestCase.default_ssl_options()

    @staticmethod
    def default_ssl_options() -> dict[str, Any]:
        """``certfile`` and ``keyfile`` of the shipped test certificate."""
        return {"certfile": TEST_CERTFILE, "keyfile": TEST_KEYFILE}

    def get_protocol(self) -> str:
        """``https``."""
        return "https"
