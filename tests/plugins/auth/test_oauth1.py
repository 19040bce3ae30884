"""Tornado's OAuth 1.0a mixins (``OAuthMixin``, ``TwitterMixin``) against the development provider."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from _browser import Browser
from _servers import SECRET, listen
from typhoon.errors import AuthError
from typhoon.web import Application, RequestHandler
from typhoon_auth import TwitterMixin
from typhoon_auth.devprovider_oauth1 import DevOAuth1Provider


class TwitterLogin(RequestHandler, TwitterMixin):
    """A sign-in handler written as for Tornado, pointed at the development provider."""

    def initialize(self, **kwargs: Any) -> None:
        base = kwargs["base"]
        self._OAUTH_REQUEST_TOKEN_URL = base + "/oauth/request_token"
        self._OAUTH_ACCESS_TOKEN_URL = base + "/oauth/access_token"
        self._OAUTH_AUTHORIZE_URL = base + "/oauth/authorize"
        self._OAUTH_AUTHENTICATE_URL = base + "/oauth/authenticate"
        self._TWITTER_BASE_URL = base + "/1.1"
        self.use_authenticate = kwargs.get("authenticate", False)

    async def get(self) -> None:
        try:
            if any(self.get_argument(n, None) for n in ("oauth_token", "denied", "error")):
                user = await self.get_authenticated_user()
                status = await self.twitter_request(
                    "/statuses/update",
                    access_token=user["access_token"],
                    post_args={"status": "hello & welcome"},
                )
                self.write({"user": user, "status": status})
                return
            if self.use_authenticate:
                await self.authenticate_redirect(callback_uri="/login")
            else:
                await self.authorize_redirect(callback_uri="/login")
        except AuthError as exc:
            reached = isinstance(exc.__cause__, OSError | TimeoutError) or (
                "could not be reached" in str(exc)
            )
            self.set_status(502 if reached else 403 if "grant" in str(exc) else 400)
            self.finish(str(exc))


@dataclass
class Flow:
    provider: DevOAuth1Provider
    base: str
    app_url: str
    browser: Browser


@contextlib.asynccontextmanager
async def running(
    auto_consent: bool = True, secret: str = "c-secret", **settings: Any
) -> AsyncIterator[Flow]:
    provider = DevOAuth1Provider("http://127.0.0.1:0", auto_consent=auto_consent)
    pserver, pport = listen(provider.application())
    provider.base_url = f"http://127.0.0.1:{pport}"
    base = settings.pop("base", provider.base_url)
    authenticate = settings.pop("authenticate", False)
    app = Application(
        [(r"/login", TwitterLogin, {"base": base, "authenticate": authenticate})],
        load_entrypoints=False,
        cookie_secret=SECRET,
        twitter_consumer_key="consumer",
        twitter_consumer_secret=secret,
        **settings,
    )
    aserver, aport = listen(app)
    provider.add_client("consumer", "c-secret")
    browser = Browser()
    try:
        yield Flow(provider, provider.base_url, f"http://127.0.0.1:{aport}", browser)
    finally:
        browser.close()
        for server in (pserver, aserver):
            server.stop()
            await server.close_all_connections()


@pytest.mark.parametrize("authenticate", [False, True])
async def test_full_flow_with_consent(authenticate: bool) -> None:
    async with running(auto_consent=False, authenticate=authenticate) as f:
        url, page = await f.browser.go(f"{f.app_url}/login")
        path = "/oauth/authenticate" if authenticate else "/oauth/authorize"
        assert url.startswith(f"{f.base}{path}?oauth_token="), url
        assert "_oauth_request_token" in f.browser.jar[urllib.parse.urlsplit(f.app_url).netloc]
        final, response = await f.browser.consent(url, page, user="bob", decision="allow")
        assert final.startswith(f"{f.app_url}/login?oauth_token=")
        assert "oauth_verifier=" in final
        assert response.code == 200, response.body
        body = json.loads(response.body)
        user = body["user"]
        assert user["screen_name"] == user["username"] == "bob"
        assert user["name"] == "Bob Example"
        assert set(user["access_token"]) >= {"key", "secret"}
        assert user["access_token"]["key"] in f.provider.tokens
        # The signed POST reached the API with its body intact.
        assert body["status"]["text"] == "hello & welcome"
        # Request tokens are single-use on both sides.
        assert f.provider.temporary == {}
        assert "_oauth_request_token" not in f.browser.jar[urllib.parse.urlsplit(f.app_url).netloc]


async def test_denied_consent_is_403() -> None:
    async with running(auto_consent=False) as f:
        url, page = await f.browser.go(f"{f.app_url}/login")
        final, response = await f.browser.consent(url, page, user="alice", decision="deny")
        assert "error=access_denied" in final
        assert response.code == 403
        assert b"did not grant access" in response.body


async def test_wrong_consumer_secret_is_a_bad_signature() -> None:
    async with running(secret="not-the-secret") as f:
        _, response = await f.browser.go(f"{f.app_url}/login")
        assert response.code == 400
        assert b"HTTP 401: invalid_signature" in response.body


async def test_callback_without_cookie_or_with_other_token_is_refused() -> None:
    async with running() as f:
        start = await f.browser.request(f"{f.app_url}/login")
        back = await f.browser.request(start.headers["Location"])
        callback = back.headers["Location"]
        stranger = Browser()
        try:
            _, response = await stranger.go(callback)
        finally:
            stranger.close()
        assert response.code == 400
        assert b"Missing OAuth request token cookie" in response.body
        forged = callback.replace("oauth_token=", "oauth_token=x")
        _, response = await f.browser.go(forged)
        assert response.code == 400
        assert b"Request token does not match cookie" in response.body


async def test_replayed_verifier_is_refused_by_the_token_endpoint() -> None:
    async with running() as f:
        start = await f.browser.request(f"{f.app_url}/login")
        cookies = dict(f.browser.jar[urllib.parse.urlsplit(f.app_url).netloc])
        back = await f.browser.request(start.headers["Location"])
        _, first = await f.browser.go(back.headers["Location"])
        assert first.code == 200, first.body
        f.browser.jar[urllib.parse.urlsplit(f.app_url).netloc] = cookies
        _, replay = await f.browser.go(back.headers["Location"])
        assert replay.code == 400
        assert b"HTTP 401: invalid_token" in replay.body


async def test_provider_down_is_502() -> None:
    async with running(base="http://127.0.0.1:9") as f:
        _, response = await f.browser.go(f"{f.app_url}/login")
        assert response.code == 502
        assert b"could not be reached" in response.body


async def test_provider_that_never_answers_is_bounded() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        async with running(base=f"http://127.0.0.1:{port}", auth_timeout=0.5) as f:
            started = time.monotonic()
            _, response = await f.browser.go(f"{f.app_url}/login")
            elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert response.code == 502
    assert b"could not be reached" in response.body
    assert elapsed < 5
