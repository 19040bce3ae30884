"""Tornado's deprecated OpenID 2.0 mixin against the development OpenID provider."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _browser import Browser
from _servers import listen
from typhoon.errors import AuthError
from typhoon.web import Application, RequestHandler
from typhoon_auth import OpenIdMixin
from typhoon_auth.devprovider_openid import DevOpenIdProvider
from typhoon_auth.openid import parse_key_value_form


class OpenIdLogin(RequestHandler, OpenIdMixin):
    def initialize(self, **kwargs: Any) -> None:
        self._OPENID_ENDPOINT = kwargs["endpoint"]

    async def get(self) -> None:
        if not self.get_argument("openid.mode", None):
            self.authenticate_redirect()
            return
        try:
            user = await self.get_authenticated_user()
        except AuthError as exc:
            self.set_status(403 if "did not sign in" in str(exc) else 400)
            self.finish(str(exc))
            return
        self.write({"user": user})


@contextlib.contextmanager
def deprecated() -> Iterator[None]:
    with pytest.warns(DeprecationWarning, match="OpenIdMixin is deprecated"):
        yield


@contextlib.asynccontextmanager
async def running(
    auto_consent: bool = True,
) -> AsyncIterator[tuple[DevOpenIdProvider, str, Browser]]:
    provider = DevOpenIdProvider("http://127.0.0.1:0", auto_consent=auto_consent)
    pserver, pport = listen(provider.application())
    provider.base_url = f"http://127.0.0.1:{pport}"
    app = Application(
        [(r"/login", OpenIdLogin, {"endpoint": provider.endpoint})], load_entrypoints=False
    )
    aserver, aport = listen(app)
    browser = Browser()
    try:
        yield provider, f"http://127.0.0.1:{aport}", browser
    finally:
        browser.close()
        for server in (pserver, aserver):
            server.stop()
            await server.close_all_connections()


async def test_full_flow_with_consent_and_attribute_exchange() -> None:
    async with running(auto_consent=False) as (provider, app_url, browser):
        with deprecated():
            url, page = await browser.go(f"{app_url}/login")
        assert url.startswith(provider.endpoint + "?")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert query["openid.mode"] == "checkid_setup"
        assert query["openid.return_to"] == f"{app_url}/login"
        assert query["openid.realm"] == f"{app_url}/"
        assert query["openid.ax.required"] == "firstname,fullname,lastname,email,language,username"
        with deprecated():
            final, response = await browser.consent(url, page, user="bob", decision="allow")
        assert final.startswith(f"{app_url}/login?")
        assert response.code == 200, response.body
        user = json.loads(response.body)["user"]
        assert user == {
            "name": "Bob Example",
            "first_name": "Bob",
            "last_name": "Example",
            "email": "bob@example.com",
            "claimed_id": f"{provider.endpoint}/id/bob",
        }


async def test_all_attributes() -> None:
    async with running() as (_provider, app_url, browser):
        with deprecated():
            _, response = await browser.go(f"{app_url}/login")
        assert response.code == 200, response.body
        user = json.loads(response.body)["user"]
        assert user["name"] == "Alice Example"
        assert user["locale"] == "en-gb"
        assert user["username"] == "alice"
        assert user["email"] == "alice@example.com"


async def test_cancel_is_403() -> None:
    async with running(auto_consent=False) as (_, app_url, browser):
        with deprecated():
            url, page = await browser.go(f"{app_url}/login")
            _, response = await browser.consent(url, page, user="bob", decision="cancel")
        assert response.code == 403
        assert b"did not sign in" in response.body


async def _assertion(app_url: str, browser: Browser) -> str:
    with deprecated():
        start = await browser.request(f"{app_url}/login")
    back = await browser.request(start.headers["Location"])
    assert back.code == 302
    return str(back.headers["Location"])


async def test_tampered_assertion_is_refused() -> None:
    async with running() as (_, app_url, browser):
        callback = await _assertion(app_url, browser)
        forged = callback.replace("alice%40example.com", "mallory%40example.com")
        assert forged != callback
        with deprecated():
            response = await browser.request(forged)
        assert response.code == 400
        assert b"did not confirm" in response.body


async def test_replayed_assertion_is_refused() -> None:
    async with running() as (_, app_url, browser):
        callback = await _assertion(app_url, browser)
        with deprecated():
            first = await browser.request(callback)
            again = await browser.request(callback)
        assert first.code == 200, first.body
        assert again.code == 400
        assert b"did not confirm" in again.body


async def test_assertion_for_another_url_is_refused() -> None:
    async with running() as (_, app_url, browser):
        callback = await _assertion(app_url, browser)
        # The assertion names /login?x=1 as return_to but arrives at /login.
        other = callback.replace("%2Flogin&", "%2Flogin%3Fx%3D1&")
        assert other != callback
        with deprecated():
            response = await browser.request(other)
        assert response.code == 400
        assert b"another URL" in response.body


@pytest.mark.parametrize(
    "answer",
    [
        b"is_valid:false\n",
        b"ns:http://specs.openid.net/auth/2.0\nbogus is_valid:true\n",
        b"is_valid:true_enough\n",
        b"is_valid:false\nis_valid:true\n",
        b"<html>is_valid:true</html>",
    ],
)
async def test_loose_verification_answers_are_refused(answer: bytes) -> None:
    async with running() as (provider, app_url, browser):
        provider.verification_override = answer
        callback = await _assertion(app_url, browser)
        with deprecated():
            response = await browser.request(callback)
        assert response.code == 400, response.body


def test_key_value_form_parsing() -> None:
    ns = "http://specs.openid.net/auth/2.0"
    assert parse_key_value_form(f"ns:{ns}\nis_valid:true\n".encode()) == {
        "ns": ns,
        "is_valid": "true",
    }
    assert parse_key_value_form(b"a:b:c\n") == {"a": "b:c"}
    for bad in (b"novalue\n", b"a:1\na:2\n", b" a:1\n", b"\xff:1\n", b":x\n"):
        with pytest.raises(AuthError):
            parse_key_value_form(bad)
