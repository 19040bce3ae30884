"""The auth plugin end to end: a browser, a client application and the development provider."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import typhoon_auth.plugin as auth_plugin
from _browser import Browser
from _servers import running


async def test_full_code_flow_with_pkce_and_consent() -> None:
    async with running() as s:
        url, page = await s.browser.go(f"{s.app_url}/me")
        assert url.startswith(f"{s.issuer}/authorize?")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"]
        assert len(query["code_challenge"][0]) == 43
        assert query["nonce"]
        assert query["state"]
        assert query["redirect_uri"] == [f"{s.app_url}/auth/callback/dev"]
        assert page.code == 200
        assert b"Development sign-in" in page.body

        final, response = await s.browser.consent(url, page, user="bob", decision="allow")
        assert final == f"{s.app_url}/me"
        assert response.code == 200
        user = json.loads(response.body)["user"]
        assert user == {
            "provider": "dev",
            "id": "bob",
            "name": "Bob Example",
            "email": "bob@example.com",
        }
        # The session cookie alone keeps the user logged in.
        again = await s.browser.request(f"{s.app_url}/me")
        assert again.code == 200
        # The code was single-use on the provider's side as well.
        assert s.provider.codes == {}

        out, page = await s.browser.go(f"{s.app_url}/auth/logout?next=/open")
        assert out == f"{s.app_url}/open"
        assert page.body == b"open"
        after = await s.browser.request(f"{s.app_url}/me")
        assert after.code == 302


async def test_denied_consent_is_a_clear_403() -> None:
    async with running() as s:
        url, page = await s.browser.go(f"{s.app_url}/me")
        final, response = await s.browser.consent(url, page, user="alice", decision="deny")
        assert final.startswith(f"{s.app_url}/auth/callback/dev?")
        assert response.code == 403
        assert b"Sign-in was cancelled" in response.body
        assert (await s.browser.request(f"{s.app_url}/me")).code == 302


async def test_state_replay_is_refused() -> None:
    async with running(auto_consent=True) as s:
        start = await s.browser.request(f"{s.app_url}/auth/login/dev?next=/open")
        assert start.code == 302
        saved_jar = {host: dict(c) for host, c in s.browser.jar.items()}
        s.browser.jar = {host: dict(c) for host, c in saved_jar.items()}
        _, response = await s.browser.go(start.headers["Location"])
        callback = next(u for u in s.browser.visited if "/auth/callback/dev?" in u)
        assert response.code == 200, response.body
        # The same callback URL with the same (captured) login cookie: refused.
        s.browser.jar = saved_jar
        _, replay = await s.browser.go(callback)
        assert replay.code == 400
        assert b"already used" in replay.body


async def test_state_from_another_browser_is_refused() -> None:
    async with running(auto_consent=True) as s:
        start = await s.browser.request(f"{s.app_url}/auth/login/dev")
        provider_url = start.headers["Location"]
        back = await s.browser.request(provider_url)
        callback = back.headers["Location"]
        # A victim's browser (no login cookie) is sent the attacker's callback URL.
        victim = Browser()
        try:
            _, response = await victim.go(callback)
        finally:
            victim.close()
        assert response.code == 400
        assert b"another browser" in response.body


async def test_tampered_state_is_refused() -> None:
    async with running(auto_consent=True) as s:
        start = await s.browser.request(f"{s.app_url}/auth/login/dev")
        back = await s.browser.request(start.headers["Location"])
        callback = back.headers["Location"].replace("state=", "state=x")
        _, response = await s.browser.go(callback)
        assert response.code == 400
        assert b"does not match" in response.body


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\t/evil.example/",
        "/%0a/evil",
        "evil.example",
        "\\\\evil.example",
    ],
)
async def test_open_redirects_are_refused(target: str) -> None:
    async with running(auto_consent=True) as s:
        query = urllib.parse.urlencode({"next": urllib.parse.unquote(target)})
        final, _ = await s.browser.go(f"{s.app_url}/auth/login/dev?{query}")
        assert final == f"{s.app_url}/", (final, s.browser.visited)
        assert all("evil" not in urllib.parse.urlsplit(u).netloc for u in s.browser.visited)
        out, _ = await s.browser.go(f"{s.app_url}/auth/logout?{query}")
        assert out == f"{s.app_url}/"


async def test_local_next_is_honoured() -> None:
    async with running(auto_consent=True) as s:
        final, response = await s.browser.go(f"{s.app_url}/auth/login/dev?next=/open%3Fa%3D1")
        assert final == f"{s.app_url}/open?a=1"
        assert response.body == b"open"


async def test_unknown_provider_is_404() -> None:
    async with running() as s:
        response = await s.browser.request(f"{s.app_url}/auth/login/nope")
        assert response.code == 404


async def test_wrong_client_secret_is_a_clear_400() -> None:
    async with running(auto_consent=True) as s:
        s.provider.clients["app"].client_secret = "other"
        _, response = await s.browser.go(f"{s.app_url}/auth/login/dev")
        assert response.code == 400
        assert b"invalid_client" in response.body


async def test_provider_down_is_a_clean_502() -> None:
    async with running(auto_consent=True) as s:
        start = await s.browser.request(f"{s.app_url}/auth/login/dev")
        back = await s.browser.request(start.headers["Location"])
        callback = back.headers["Location"]
        state = auth_plugin.auth_state(s.app)
        assert state is not None
        provider = state.registry["dev"]
        provider.token_url = "http://127.0.0.1:9/token"
        provider._metadata = None
        _, response = await s.browser.go(callback)
        assert response.code == 502
        assert b"could not be reached" in response.body
