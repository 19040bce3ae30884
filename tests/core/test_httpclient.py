"""typhoon.httpclient: the request/response objects, client construction and configuration,
the blocking facade, the command line, and plain fetches against http.server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _httpclient_helpers import WAIT, stdlib_server
from typhoon import errors
from typhoon.httpclient import (
    AsyncHTTPClient,
    HTTPClient,
    HTTPClientError,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
    _RequestProxy,
    main,
)
from typhoon.httputil import HTTPHeaders
from typhoon.ioloop import IOLoop
from typhoon.simple_httpclient import SimpleAsyncHTTPClient


@contextlib.asynccontextmanager
async def client(**kwargs: Any) -> AsyncIterator[AsyncHTTPClient]:
    """A private client, closed (and its sockets released) at the end."""
    instance = AsyncHTTPClient(force_instance=True, **kwargs)
    try:
        yield instance
    finally:
        await instance.aclose()


@pytest.fixture
def server() -> Iterator[tuple[str, Any]]:
    with stdlib_server() as (base, log):
        yield base, log


@pytest.fixture
def saved_configuration() -> Iterator[None]:
    saved = AsyncHTTPClient._save_configuration()
    try:
        yield
    finally:
        AsyncHTTPClient._restore_configuration(saved)


def echo(response: HTTPResponse) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.body)
    data["headers"] = {name.lower(): value for name, value in data["headers"]}
    return data


# --- HTTPRequest, HTTPResponse, _RequestProxy -------------------------------------------


def test_request_defaults_and_conversions() -> None:
    request = HTTPRequest("http://example.com/", body="héllo")
    assert request.method == "GET"
    assert isinstance(request.headers, HTTPHeaders)
    assert len(request.headers) == 0
    assert request.body == "héllo".encode()
    assert request.proxy_host is None
    assert request.follow_redirects is None
    assert request.expect_100_continue is False
    request.headers = {"X-A": "1"}
    # A plain dict is kept as given; fetch() converts it.
    assert request.headers == {"X-A": "1"}
    request.headers = None  # type: ignore[assignment]
    assert len(request.headers) == 0
    assert "GET" in repr(request)


def test_request_if_modified_since_and_use_gzip() -> None:
    when = datetime.datetime(2013, 1, 27, 18, 43, 20, tzinfo=datetime.UTC)
    request = HTTPRequest("http://example.com/", if_modified_since=when, use_gzip=False)
    assert request.headers["If-Modified-Since"] == "Sun, 27 Jan 2013 18:43:20 GMT"
    assert request.decompress_response is False
    assert HTTPRequest("http://x/", use_gzip=False, decompress_response=True).decompress_response


async def test_request_header_injection_is_refused() -> None:
    client = SimpleAsyncHTTPClient(force_instance=True)
    try:
        for headers in ({"X-A": "1\r\nX-Injected: 2"}, {"Bad Name": "1"}):
            request = HTTPRequest("http://127.0.0.1:1/", headers=headers)
            with pytest.raises(errors.HTTPOutputError):
                await client.fetch(request)
    finally:
        await client.aclose()


def test_request_proxy_falls_back_to_defaults() -> None:
    request = HTTPRequest("http://example.com/", connect_timeout=3)
    proxy = _RequestProxy(request, {"connect_timeout": 7, "request_timeout": 9})
    assert proxy.connect_timeout == 3
    assert proxy.request_timeout == 9
    assert proxy.proxy_host is None
    assert proxy.url == "http://example.com/"
    assert _RequestProxy(request, None).request_timeout is None
    with pytest.raises(AttributeError):
        _ = proxy.no_such_option


def test_response_error_and_body() -> None:
    request = HTTPRequest("http://example.com/")
    ok = HTTPResponse(request, 200, buffer=io.BytesIO(b"data"))
    assert ok.error is None
    assert ok.body == b"data"
    assert ok.reason == "OK"
    assert ok.effective_url == "http://example.com/"
    ok.rethrow()
    missing = HTTPResponse(_RequestProxy(request, {}), 404, reason="Gone Fishing")
    assert missing.request is request
    assert missing.body == b""
    assert isinstance(missing.error, HTTPClientError)
    assert missing.error.code == 404
    assert missing.error.response is missing
    assert str(missing.error) == "HTTP 404: Gone Fishing"
    assert missing._error_is_response_code
    with pytest.raises(HTTPClientError):
        missing.rethrow()
    failed = HTTPResponse(request, 599, error=errors.HTTPTimeoutError("Timeout"))
    assert not failed._error_is_response_code
    assert "code=599" in repr(failed)
    assert HTTPResponse(request, 799).reason == "Unknown"


def test_error_names() -> None:
    assert HTTPError is HTTPClientError
    assert issubclass(errors.HTTPTimeoutError, HTTPClientError)
    assert errors.HTTPTimeoutError().code == 599
    assert errors.HTTPStreamClosedError().code == 599


# --- construction and configuration -----------------------------------------------------


async def test_one_shared_instance_per_loop() -> None:
    first = AsyncHTTPClient()
    try:
        assert AsyncHTTPClient() is first
        assert isinstance(first, SimpleAsyncHTTPClient)
        assert first.io_loop is IOLoop.current()
        private = AsyncHTTPClient(force_instance=True)
        assert private is not first
        await private.aclose()
        # The implementation class keeps its own shared instance.
        simple = SimpleAsyncHTTPClient()
        assert simple is not first
        assert SimpleAsyncHTTPClient() is simple
        simple.close()
    finally:
        first.close()
    second = AsyncHTTPClient()
    assert second is not first
    second.close()


def test_shared_instances_differ_between_loops() -> None:
    async def make() -> AsyncHTTPClient:
        return AsyncHTTPClient()

    clients = []
    for _ in range(2):
        loop = IOLoop(make_current=False)
        try:
            made = loop.run_sync(make)
            clients.append(made)
            made.close()
        finally:
            loop.close()
    assert clients[0] is not clients[1]


async def test_closed_client_refuses_fetch() -> None:
    instance = AsyncHTTPClient(force_instance=True)
    instance.close()
    instance.close()
    with pytest.raises(RuntimeError, match="closed"):
        instance.fetch("http://127.0.0.1:1/")


async def test_kwargs_with_a_request_object_are_refused() -> None:
    async with client() as c:
        with pytest.raises(ValueError, match="kwargs"):
            c.fetch(HTTPRequest("http://127.0.0.1:1/"), method="POST")


class _CannedClient(AsyncHTTPClient):
    """An implementation answering every request with a canned status."""

    def initialize(self, status: int = 200, defaults: dict[str, Any] | None = None) -> None:  # type: ignore[override]
        super().initialize(defaults=defaults)
        self.status = status

    def fetch_impl(self, request: _RequestProxy, callback: Any) -> None:
        callback(HTTPResponse(request, self.status, buffer=io.BytesIO(request.url.encode())))


async def test_configure_chooses_implementation_and_arguments(saved_configuration: None) -> None:
    AsyncHTTPClient.configure(_CannedClient, status=204)
    assert AsyncHTTPClient.configured_class() is _CannedClient
    made = AsyncHTTPClient(force_instance=True)
    assert isinstance(made, _CannedClient)
    assert made.status == 204
    response = await made.fetch("http://x/y")
    assert response.code == 204
    assert response.body == b"http://x/y"
    # Arguments given at construction win over configured ones.
    assert AsyncHTTPClient(force_instance=True, status=201).status == 201  # type: ignore[attr-defined]
    AsyncHTTPClient.configure(f"{__name__}._CannedClient", status=500)
    failing = AsyncHTTPClient(force_instance=True)
    with pytest.raises(HTTPClientError) as info:
        await failing.fetch("http://x/")
    assert info.value.code == 500
    response = await failing.fetch("http://x/", raise_error=False)
    assert response.code == 500
    AsyncHTTPClient.configure(None, max_clients=3)
    default = AsyncHTTPClient(force_instance=True)
    assert isinstance(default, SimpleAsyncHTTPClient)
    assert default.max_clients == 3
    await default.aclose()


def test_configure_refuses_other_classes(saved_configuration: None) -> None:
    with pytest.raises(ValueError, match="Invalid subclass"):
        AsyncHTTPClient.configure(dict)  # type: ignore[arg-type]


async def test_defaults_fill_unset_options(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client(defaults={"user_agent": "DefaultAgent/1"}) as c:
        assert echo(await c.fetch(base + "/echo"))["headers"]["user-agent"] == "DefaultAgent/1"
        response = await c.fetch(base + "/echo", user_agent="Mine/2")
        assert echo(response)["headers"]["user-agent"] == "Mine/2"


# --- plain fetches ----------------------------------------------------------------------


async def test_get(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        response = await c.fetch(base + "/hello")
        assert response.code == 200
        assert response.reason == "OK"
        assert response.body == b"Hello world!"
        assert response.headers["Content-Type"] == "text/plain"
        assert response.effective_url == base + "/hello"
        assert response.request.url == base + "/hello"
        assert response.error is None
        assert response.request_time is not None
        assert 0 <= response.request_time < WAIT
        assert response.start_time is not None
        assert set(response.time_info) == {"queue", "redirect", "connect", "starttransfer", "total"}


async def test_default_request_headers(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        headers = echo(await c.fetch(base + "/echo?a=1#fragment"))["headers"]
        data = echo(await c.fetch(base + "/echo?a=1#fragment"))
    assert headers["host"] == base.removeprefix("http://")
    assert headers["user-agent"].startswith("Typhoon/")
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "connection" not in headers
    assert data["path"] == "/echo?a=1"


async def test_methods_and_bodies(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        data = echo(await c.fetch(base + "/echo", method="POST", body="a=1&b=2"))
        assert data["method"] == "POST"
        assert data["body"] == "a=1&b=2"
        assert data["headers"]["content-type"] == "application/x-www-form-urlencoded"
        assert data["headers"]["content-length"] == "7"
        data = echo(await c.fetch(base + "/echo", method="POST", body=b""))
        assert data["headers"]["content-length"] == "0"
        for method in ("PUT", "PATCH"):
            data = echo(
                await c.fetch(
                    base + "/echo",
                    method=method,
                    body=b"{}",
                    headers={"Content-Type": "application/json"},
                )
            )
            assert (data["method"], data["body"]) == (method, "{}")
            assert data["headers"]["content-type"] == "application/json"
        for method in ("DELETE", "OPTIONS", "GET"):
            data = echo(await c.fetch(base + "/echo", method=method))
            assert data["method"] == method
            assert "content-length" not in data["headers"]
        head = await c.fetch(base + "/hello", method="HEAD")
        assert head.code == 200
        assert head.body == b""
        assert head.headers["Content-Length"] == "12"


async def test_body_rules_follow_the_method(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        with pytest.raises(ValueError, match="must not be None"):
            await c.fetch(base + "/echo", method="POST")
        with pytest.raises(ValueError, match="must be None"):
            await c.fetch(base + "/echo", method="GET", body=b"x")
        with pytest.raises(KeyError, match="PROPFIND"):
            await c.fetch(base + "/echo", method="PROPFIND")
        with pytest.raises(ValueError, match="both"):
            await c.fetch(
                base + "/echo", method="POST", body=b"x", body_producer=lambda write: None
            )
        data = echo(
            await c.fetch(base + "/echo", method="GET", body=b"odd", allow_nonstandard_methods=True)
        )
        assert data["body"] == "odd"
        data = echo(
            await c.fetch(base + "/echo", method="PROPFIND", allow_nonstandard_methods=True)
        )
        assert data["method"] == "PROPFIND"
        data = echo(await c.fetch(base + "/echo", method="POST", allow_nonstandard_methods=True))
        assert data["method"] == "POST"


async def test_error_statuses(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        with pytest.raises(HTTPClientError) as info:
            await c.fetch(base + "/status?code=404")
        assert info.value.code == 404
        assert info.value.response is not None
        assert info.value.response.body == b"status 404"
        response = await c.fetch(base + "/status?code=503", raise_error=False)
        assert response.code == 503
        assert response.error is not None
        assert (await c.fetch(base + "/status?code=204")).body == b""


async def test_network_errors_raise_even_without_raise_error() -> None:
    port = _unused_port()
    async with client() as c:
        with pytest.raises(ConnectionRefusedError):
            await c.fetch(f"http://127.0.0.1:{port}/")
        with pytest.raises(ConnectionRefusedError):
            await c.fetch(f"http://127.0.0.1:{port}/", raise_error=False)


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_invalid_urls_are_refused() -> None:
    async with client() as c:
        with pytest.raises(ValueError, match="Unsupported url scheme"):
            await c.fetch("ftp://127.0.0.1/")
        with pytest.raises(ValueError, match="no host"):
            await c.fetch("http:///path")
        with pytest.raises(ValueError, match="out of range"):
            await c.fetch("http://127.0.0.1:99999/")


async def test_chunked_and_large_responses(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        assert (await c.fetch(base + "/chunked?pieces=4")).body == b"piece0;piece1;piece2;piece3;"
        big = await c.fetch(base + "/large?size=3000000")
        assert big.body == b"z" * 3000000


async def test_local_address_and_family(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        response = await c.fetch(base + "/hello", network_interface="127.0.0.1", allow_ipv6=False)
        assert response.body == b"Hello world!"


async def test_hostname_mapping(server: tuple[str, Any]) -> None:
    base, _log = server
    port = base.rsplit(":", 1)[1]
    async with client(hostname_mapping={"www.example.invalid": "127.0.0.1"}) as c:
        response = await c.fetch(f"http://www.example.invalid:{port}/echo")
        assert echo(response)["headers"]["host"] == f"www.example.invalid:{port}"


async def test_keep_alive_connections_are_reused(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        ports = [int((await c.fetch(base + "/port")).body) for _ in range(3)]
        assert len(set(ports)) == 1
        await c.fetch(base + "/close")
        after = int((await c.fetch(base + "/port")).body)
        assert after != ports[0]


async def test_fetch_future_cancellation_stops_the_fetch(server: tuple[str, Any]) -> None:
    base, _log = server
    async with client() as c:
        future = c.fetch(base + "/slow?delay=2")
        await asyncio.sleep(0.2)
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future
        assert (await c.fetch(base + "/hello")).code == 200
        assert not c.active  # type: ignore[attr-defined]


# --- the blocking client and the command line -------------------------------------------


def test_blocking_client(server: tuple[str, Any]) -> None:
    base, _log = server
    blocking = HTTPClient()
    try:
        assert blocking.fetch(base + "/hello").body == b"Hello world!"
        request = HTTPRequest(base + "/echo", method="POST", body=b"x")
        assert echo(blocking.fetch(request))["body"] == "x"
        with pytest.raises(HTTPClientError) as info:
            blocking.fetch(base + "/status?code=418")
        assert info.value.code == 418
        assert blocking.fetch(base + "/status?code=418", raise_error=False).code == 418
    finally:
        blocking.close()
    blocking.close()
    with pytest.raises(RuntimeError):
        blocking.fetch(base + "/hello")


def test_blocking_client_with_arguments(server: tuple[str, Any]) -> None:
    base, _log = server
    blocking = HTTPClient(SimpleAsyncHTTPClient, defaults={"user_agent": "Blocking/1"})
    try:
        assert echo(blocking.fetch(base + "/echo"))["headers"]["user-agent"] == "Blocking/1"
    finally:
        blocking.close()


async def test_blocking_client_refuses_a_running_loop(server: tuple[str, Any]) -> None:
    base, _log = server
    blocking = await asyncio.to_thread(HTTPClient)
    try:
        with pytest.raises(RuntimeError):
            blocking.fetch(base + "/hello")
    finally:
        await asyncio.to_thread(blocking.close)


def test_command_line_module(server: tuple[str, Any]) -> None:
    base, _log = server
    result = subprocess.run(
        [sys.executable, "-m", "typhoon.httpclient", "--print_headers", base + "/hello"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Content-Type: text/plain" in result.stdout
    assert "Hello world!" in result.stdout


def test_command_line_options(server: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    base, _log = server
    main(["--print_body=false", "--print-headers", base + "/status?code=404"])
    out = capsys.readouterr().out
    assert "Content-Length: 10" in out
    assert "status 404" not in out
    main(["--follow_redirects=0", base + "/redirect?to=/hello"])
    assert capsys.readouterr().out.strip() == "redirecting"
    with pytest.raises(SystemExit):
        main(["--print_body=maybe", base + "/hello"])
