"""The WebSocket conversation the ASGI tests hold with their echo handler, under any
ASGI server (uvicorn, hypercorn)."""

from __future__ import annotations

import asyncio
import json

import websockets
from _httphelpers import WAIT


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
