"""The typhoon application the ``asgi_app`` tests serve: under uvicorn in the test's own
process, and under hypercorn in a process of its own (which imports this module, so it
depends on typhoon and the standard library only)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from typhoon.web import RequestHandler, stream_request_body
from typhoon.websocket import WebSocketHandler


class Info(RequestHandler):
    """What the server saw of the request, as JSON; two cookies; a HEAD with a header."""

    def get(self) -> None:
        request = self.request
        self.set_cookie("a", "1")
        self.set_cookie("b", "2")
        self.write(
            {
                "path": request.path,
                "query": self.get_argument("q", None),
                "remote_ip": request.remote_ip,
                "protocol": request.protocol,
                "host": request.host,
                "version": request.version,
            }
        )

    def post(self) -> None:
        self.write({"a": self.get_body_argument("a"), "size": len(self.request.body)})

    def head(self) -> None:
        self.set_header("X-Head", "yes")


class Streamer(RequestHandler):
    """A response in three flushed pieces."""

    async def get(self) -> None:
        for index in range(3):
            self.write(f"chunk{index}\n")
            await self.flush()


@stream_request_body
class Upload(RequestHandler):
    """Counts the pieces of a streamed body and answers its SHA-256."""

    def prepare(self) -> None:
        self.pieces = 0
        self.digest = hashlib.sha256()

    def data_received(self, chunk: bytes) -> None:
        self.pieces += 1
        self.digest.update(chunk)

    def put(self) -> None:
        self.write({"pieces": self.pieces, "sha256": self.digest.hexdigest()})


class EchoBase(WebSocketHandler):
    """The echo handler ``chat_with_echo`` talks to; ``bye`` closes 4001, ``fail`` raises."""

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[0] if subprotocols else None

    async def on_message(self, message: str | bytes) -> None:
        if message == "json":
            await self.write_message({"kind": "json"})
        elif message == "bye":
            self.close(4001, "bye")
        elif message == "fail":
            raise RuntimeError("handler bug")
        elif message == "slow":
            await asyncio.sleep(0.05)
            await self.write_message("slow done")
        elif isinstance(message, bytes):
            await self.write_message(message[::-1], binary=True)
        else:
            await self.write_message("echo:" + message)


def routes(echo: type[EchoBase]) -> list[tuple[str, Any]]:
    """The application's rules, with ``echo`` at ``/ws``."""
    return [(r"/info", Info), (r"/stream", Streamer), (r"/upload", Upload), (r"/ws", echo)]
