"""Twisted servers and clients next to typhoon's, on one loop in one process.

typhoon's IOStream/TCPClient and AsyncHTTPClient talk to a Twisted echo protocol and a
twisted.web Site that Twisted itself listens for; a typhoon handler awaits Twisted's
Agent fetching from a typhoon server in the same process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _twisted_helpers import client, make_app, serving
from twisted.internet import error as twisted_errors
from twisted.internet import protocol
from twisted.web import server
from twisted.web.client import Agent, readBody
from twisted.web.resource import Resource
from typhoon import gen
from typhoon.iostream import IOStream
from typhoon.netutil import bind_sockets
from typhoon.tcpclient import TCPClient
from typhoon.web import RequestHandler
from typhoon_twisted_bridge import as_deferred, deferred_to_future, install

pytestmark = [
    pytest.mark.reactor,
    # Twisted's readBody warns about its own response transport proxy, whatever the reactor.
    pytest.mark.filterwarnings("ignore:Using readBody with a transport:DeprecationWarning"),
]


class Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class EchoFactory(protocol.Factory):
    protocol = Echo


async def stop_listening(port: Any) -> None:
    stopped = port.stopListening()
    if stopped is not None:
        await deferred_to_future(stopped)


async def test_typhoon_streams_talk_to_a_twisted_echo_protocol() -> None:
    reactor = install()
    port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
    try:
        stream: IOStream = await TCPClient().connect("127.0.0.1", port.getHost().port)
        for line in (b"one\n", b"two\n", b"x" * 100_000 + b"\n"):
            await stream.write(line)
            assert await stream.read_until(b"\n", max_bytes=200_000) == line
        stream.close()
    finally:
        await stop_listening(port)


async def test_async_http_client_fetches_from_a_twisted_web_site() -> None:
    class Hello(Resource):
        isLeaf = True

        def render_GET(self, request: server.Request) -> bytes:
            return b"hello " + request.args.get(b"name", [b"?"])[0]

        def render_POST(self, request: server.Request) -> bytes:
            return request.content.read()[::-1]

    reactor = install()
    port = reactor.listenTCP(0, server.Site(Hello(), reactor=reactor), interface="127.0.0.1")
    base = f"http://127.0.0.1:{port.getHost().port}"
    http = client()
    try:
        response = await http.fetch(base + "/?name=twisted")
        assert response.body == b"hello twisted"
        assert response.headers["Server"].startswith("TwistedWeb/")
        response = await http.fetch(base + "/", method="POST", body=b"abc")
        assert response.body == b"cba"
    finally:
        http.close()
        await stop_listening(port)


async def test_a_typhoon_handler_awaits_twisted_agent_fetching_from_typhoon() -> None:
    reactor = install()

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("hello from typhoon")

    class ViaAgent(RequestHandler):
        async def get(self) -> None:
            agent = Agent(reactor)
            target = self.get_argument("target").encode()
            response = await deferred_to_future(agent.request(b"GET", target))
            body = await deferred_to_future(readBody(response))
            self.write(f"{response.code}: ".encode() + body)

    class ViaCoroutine(RequestHandler):
        @gen.coroutine
        def get(self) -> Any:
            agent = Agent(reactor)
            target = self.get_argument("target").encode()
            response = yield agent.request(b"GET", target)
            body = yield readBody(response)
            self.write(body.upper())

    app = make_app([(r"/hello", Hello), (r"/agent", ViaAgent), (r"/coroutine", ViaCoroutine)])
    http = client()
    async with serving(app) as base:
        target = base + "/hello"
        response = await http.fetch(f"{base}/agent?target={target}")
        assert response.body == b"200: hello from typhoon"
        response = await http.fetch(f"{base}/coroutine?target={target}")
        assert response.body == b"HELLO FROM TYPHOON"
    http.close()


async def test_a_failed_twisted_request_raises_its_original_error() -> None:
    reactor = install()
    closed = bind_sockets(0, "127.0.0.1")[0]
    port = closed.getsockname()[1]
    closed.close()
    agent = Agent(reactor)
    with pytest.raises(twisted_errors.ConnectionRefusedError):
        await deferred_to_future(agent.request(b"GET", f"http://127.0.0.1:{port}/".encode()))


async def test_twisted_code_waits_on_typhoon_coroutines() -> None:
    reactor = install()
    results: list[Any] = []

    async def typhoon_side(value: int) -> int:
        await asyncio.sleep(0.01)
        return value * 2

    def twisted_side() -> None:
        deferred = as_deferred(typhoon_side(21))
        deferred.addCallback(results.append)

    reactor.callLater(0, twisted_side)
    for _ in range(200):
        if results:
            break
        await asyncio.sleep(0.01)
    assert results == [42]
