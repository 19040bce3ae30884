"""The ``auth_user_authenticated`` hook, signing-key rotation and bounded provider calls."""

from __future__ import annotations

import socket
import time
from typing import Any

import typhoon_auth.plugin as auth_plugin
from _browser import Browser
from _servers import SECRET, MeHandler, listen, running
from joserfc.jwk import RSAKey
from typhoon import hookimpl
from typhoon.errors import HTTPError
from typhoon.web import Application
from typhoon_auth.devprovider import DevProvider


class Recorder:
    """A plugin that sees each login, stores a local id, and refuses ``bob``."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @hookimpl
    async def auth_user_authenticated(self, handler: Any, user: dict[str, Any]) -> None:
        self.seen.append(dict(user))
        if user["id"] == "bob":
            raise HTTPError(403, reason="Not on the guest list")
        user["local_id"] = 42


async def _login_as(user: str, recorder: Recorder) -> tuple[int, bytes]:
    provider = DevProvider("http://127.0.0.1:0", auto_consent=True)
    pserver, pport = listen(provider.application())
    provider.issuer = f"http://127.0.0.1:{pport}"
    app = Application(
        [(r"/me", MeHandler)],
        plugins=[auth_plugin, recorder],
        load_entrypoints=False,
        cookie_secret=SECRET,
        auth_providers={
            "dev": {"type": "oidc", "issuer": provider.issuer, "client_id": "app"},
        },
    )
    aserver, aport = listen(app)
    provider.add_client("app", None, [f"http://127.0.0.1:{aport}/auth/callback/dev"])
    browser = Browser()
    try:
        start = await browser.request(f"http://127.0.0.1:{aport}/auth/login/dev?next=/me")
        login = start.headers["Location"] + "&login_hint=" + user
        _, response = await browser.go(login)
        return response.code, response.body
    finally:
        browser.close()
        for server in (pserver, aserver):
            server.stop()
            await server.close_all_connections()


async def test_hook_sees_the_user_and_can_extend_it() -> None:
    recorder = Recorder()
    code, body = await _login_as("alice", recorder)
    assert code == 200, body
    assert b'"local_id": 42' in body
    [user] = recorder.seen
    assert user["provider"] == "dev"
    assert user["id"] == "alice"
    assert user["email"] == "alice@example.com"
    assert user["claims"]["iss"].startswith("http://127.0.0.1:")


async def test_hook_can_refuse_the_login() -> None:
    recorder = Recorder()
    code, _ = await _login_as("bob", recorder)
    assert code == 403
    assert [u["id"] for u in recorder.seen] == ["bob"]


async def test_unknown_key_id_fetches_the_keys_again() -> None:
    async with running(auto_consent=True) as s:
        _, first = await s.browser.go(f"{s.app_url}/auth/login/dev?next=/me")
        assert first.code == 200, first.body
        state = auth_plugin.auth_state(s.app)
        assert state is not None
        provider = state.registry["dev"]
        assert provider._jwks is not None
        old_kid = provider._jwks["keys"][0]["kid"]
        # The provider rotates its signing key; the client's cached set lacks the new kid.
        s.provider.key = RSAKey.generate_key(2048, auto_kid=True)
        s.browser.jar.clear()
        _, second = await s.browser.go(f"{s.app_url}/auth/login/dev?next=/me")
        assert second.code == 200, second.body
        new_kids = [k["kid"] for k in provider._jwks["keys"]]
        assert new_kids == [s.provider.key.kid]
        assert old_kid not in new_kids


async def test_token_endpoint_that_never_answers_is_bounded() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        async with running(auto_consent=True, auth_timeout=0.5) as s:
            start = await s.browser.request(f"{s.app_url}/auth/login/dev")
            back = await s.browser.request(start.headers["Location"])
            state = auth_plugin.auth_state(s.app)
            assert state is not None
            provider = state.registry["dev"]
            assert provider.timeout == 0.5
            provider.token_url = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
            provider._metadata = None
            started = time.monotonic()
            _, response = await s.browser.go(back.headers["Location"])
            elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert response.code == 502
    assert b"could not be reached" in response.body
    assert elapsed < 5
