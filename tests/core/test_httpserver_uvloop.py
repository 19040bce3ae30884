"""The HTTP server, the web layer and WebSocket on uvloop (DESIGN decision 1: used when asked)."""

from __future__ import annotations

import pytest
from typhoon.httpclient import AsyncHTTPClient
from typhoon.httpserver import HTTPServer
from typhoon.httputil import HTTPHeaders, HTTPServerRequest, ResponseStartLine
from typhoon.netutil import bind_sockets
from typhoon.web import Application, RequestHandler
from typhoon.websocket import WebSocketHandler, websocket_connect

uvloop = pytest.importorskip("uvloop")


def plain(request: HTTPServerRequest) -> None:
    assert request.connection is not None
    body = b"got " + request.body
    headers = HTTPHeaders({"Content-Length": str(len(body))})
    request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body)
    request.connection.finish()


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("hello")


class Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message)


def test_server_client_web_and_websocket_run_on_uvloop() -> None:
    async def main() -> None:
        import asyncio

        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        [raw] = bind_sockets(0, "127.0.0.1")
        raw_port = raw.getsockname()[1]
        server = HTTPServer(plain)
        server.add_sockets([raw])
        app = Application([(r"/", Hello), (r"/ws", Echo)])
        [web_sock] = bind_sockets(0, "127.0.0.1")
        web_port = web_sock.getsockname()[1]
        web_server = HTTPServer(app)
        web_server.add_sockets([web_sock])
        client = AsyncHTTPClient(force_instance=True)
        try:
            for body in (b"one", b"two"):  # keep-alive: the second request reuses the connection
                response = await client.fetch(
                    f"http://127.0.0.1:{raw_port}/", method="POST", body=body
                )
                assert response.body == b"got " + body
            response = await client.fetch(f"http://127.0.0.1:{web_port}/")
            assert response.body == b"hello"
            ws = await websocket_connect(f"ws://127.0.0.1:{web_port}/ws")
            await ws.write_message("ping over uvloop")
            assert await ws.read_message() == "ping over uvloop"
            ws.close()
        finally:
            client.close()
            server.stop()
            web_server.stop()
            await server.close_all_connections()
            await web_server.close_all_connections()

    uvloop.run(main())
