"""Servers for the auth tests: the development OpenID Connect provider and a client app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import typhoon_auth.plugin as auth_plugin
from _browser import Browser
from typhoon.httpserver import HTTPServer
from typhoon.netutil import bind_sockets
from typhoon.web import Application, RequestHandler, authenticated
from typhoon_auth.devprovider import DevProvider

SECRET = "test-cookie-secret-0123456789"


class MeHandler(RequestHandler):
    @authenticated
    def get(self) -> None:
        self.write({"user": self.current_user})


class OpenHandler(RequestHandler):
    def get(self) -> None:
        self.write("open")


@dataclass
class Servers:
    provider: DevProvider
    issuer: str
    app_url: str
    app: Application
    browser: Browser


def listen(app: Application) -> tuple[HTTPServer, int]:
    [sock] = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets([sock])
    return server, sock.getsockname()[1]


def client_app(issuer: str, **settings: Any) -> Application:
    providers = settings.pop(
        "auth_providers",
        {"dev": {"type": "oidc", "issuer": issuer, "client_id": "app", "client_secret": "s3cret"}},
    )
    return Application(
        [(r"/me", MeHandler), (r"/open", OpenHandler)],
        plugins=[auth_plugin],
        load_entrypoints=False,
        cookie_secret=SECRET,
        auth_providers=providers,
        **settings,
    )


@contextlib.asynccontextmanager
async def running(auto_consent: bool = False, **settings: Any) -> AsyncIterator[Servers]:
    """A provider and a client application on loopback ports, and a browser."""
    [psock] = bind_sockets(0, "127.0.0.1")
    issuer = f"http://127.0.0.1:{psock.getsockname()[1]}"
    provider = DevProvider(issuer, auto_consent=auto_consent)
    pserver = HTTPServer(provider.application())
    pserver.add_sockets([psock])
    app = client_app(issuer, **settings)
    aserver, aport = listen(app)
    app_url = f"http://127.0.0.1:{aport}"
    provider.add_client("app", "s3cret", [f"{app_url}/auth/callback/dev"])
    browser = Browser()
    try:
        yield Servers(provider, issuer, app_url, app, browser)
    finally:
        browser.close()
        pserver.stop()
        aserver.stop()
        await pserver.close_all_connections()
        await aserver.close_all_connections()
