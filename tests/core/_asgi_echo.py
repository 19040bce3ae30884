"""What the ``asgi_app`` tests check of the application in ``_asgi_app``, under any
ASGI server (uvicorn, hypercorn): its HTTP routes and a WebSocket conversation."""

from __future__ import annotations

import asyncio
import hashlib
import json

import requests
import websockets
from _httphelpers import WAIT, run_in_thread
from typhoon.httpclient import AsyncHTTPClient


async def check_streamed_upload(base: str, client: AsyncHTTPClient) -> None:
    """A 2 MiB PUT to ``/upload`` reaches the streaming handler in pieces, intact."""
    body = bytes(range(256)) * (8 * 1024)
    response = await client.fetch(
        f"{base}/upload",
        method="PUT",
        body=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    data = json.loads(response.body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["pieces"] > 1


async def check_routes(base: str, client: AsyncHTTPClient) -> None:
    """A form POST, a HEAD, a missing path and a streamed response, served at ``base``."""
    posted = await run_in_thread(requests.post, f"{base}/info", data={"a": "form value"})
    assert posted.json() == {"a": "form value", "size": len(b"a=form+value")}
    head = await run_in_thread(requests.head, f"{base}/info")
    assert head.status_code == 200
    assert head.headers["X-Head"] == "yes"
    assert head.content == b""
    missing = await client.fetch(f"{base}/missing", raise_error=False)
    assert missing.code == 404
    assert b"404: Not Found" in missing.body
    streamed = await client.fetch(f"{base}/stream")
    assert streamed.body == b"chunk0\nchunk1\nchunk2\n"
    assert streamed.headers["Transfer-Encoding"] == "chunked"


async def chat_with_echo(url: str) -> None:
    """Talk to the echo handler at ``url`` with the ``websockets`` library, then close 4000.

    The handler selects the ``chat`` subprotocol, echoes text as ``echo:<text>``, binary
    reversed, answers ``json`` with a JSON message and ``slow`` after an async pause
    (so a message sent right after it must come back second).
    """
    async with websockets.connect(url, subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "echo:hello"
        await ws.send(b"abc")
        assert await asyncio.wait_for(ws.recv(), WAIT) == b"cba"
        await ws.send("json")
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"kind": "json"}
        # An async on_message holds the next message until it is done: order kept.
        await ws.send("slow")
        await ws.send("after")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "slow done"
        assert await asyncio.wait_for(ws.recv(), WAIT) == "echo:after"
        await ws.close(code=4000, reason="client leaving")
