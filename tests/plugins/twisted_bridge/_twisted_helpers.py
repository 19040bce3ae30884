"""Helpers of the Twisted bridge tests: a typhoon application served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import typhoon_twisted_bridge.plugin
from typhoon.httpclient import AsyncHTTPClient
from typhoon.httpserver import HTTPServer
from typhoon.netutil import bind_sockets
from typhoon.web import Application


def make_app(handlers: Sequence[Any], *plugins: object, **settings: Any) -> Application:
    """An application with the bridge plugin (and ``plugins``), nothing autoloaded."""
    return Application(
        list(handlers),
        plugins=[typhoon_twisted_bridge.plugin, *plugins],
        load_entrypoints=False,
        **settings,
    )


@asynccontextmanager
async def serving(app: Application, **server_options: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields ``http://127.0.0.1:<port>``."""
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app, **server_options)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await server.close_all_connections()


def client() -> AsyncHTTPClient:
    """A client of its own, so no connection outlives the test's loop."""
    return AsyncHTTPClient(force_instance=True)
