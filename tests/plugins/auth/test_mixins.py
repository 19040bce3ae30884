"""Tornado's OAuth2 mixin API driven through the development provider."""

from __future__ import annotations

import json
from typing import Any

from _browser import Browser
from _servers import listen
from typhoon.web import Application, RequestHandler
from typhoon_auth.devprovider import DevProvider
from typhoon_auth.mixins import GoogleOAuth2Mixin


class GoogleLike(RequestHandler, GoogleOAuth2Mixin):
    def initialize(self, **kwargs: Any) -> None:
        self._OAUTH_AUTHORIZE_URL = kwargs["issuer"] + "/authorize"
        self._OAUTH_ACCESS_TOKEN_URL = kwargs["issuer"] + "/token"
        self.issuer = kwargs["issuer"]

    async def get(self) -> None:
        redirect_uri = f"{self.request.protocol}://{self.request.host}/login"
        code = self.get_argument("code", None)
        if code is None:
            self.authorize_redirect(
                redirect_uri=redirect_uri,
                client_id="mixin",
                scope=["openid", "email"],
                extra_params={"state": "s1"},
            )
            return
        token = await self.get_authenticated_user(redirect_uri, code)
        profile = await self.oauth2_request(self.issuer + "/jwks")
        self.write({"token_keys": sorted(token), "jwks": len(profile["keys"])})


async def test_google_mixin_flow() -> None:
    provider = DevProvider("http://127.0.0.1:0", auto_consent=True)
    pserver, pport = listen(provider.application())
    provider.issuer = f"http://127.0.0.1:{pport}"
    app = Application(
        [(r"/login", GoogleLike, {"issuer": provider.issuer})],
        load_entrypoints=False,
        google_oauth={"key": "mixin", "secret": "m-secret"},
    )
    aserver, aport = listen(app)
    provider.add_client("mixin", "m-secret", [f"http://127.0.0.1:{aport}/login"])
    browser = Browser()
    try:
        _, response = await browser.go(f"http://127.0.0.1:{aport}/login")
        assert response.code == 200, response.body
        body = json.loads(response.body)
        assert {"access_token", "id_token", "token_type"} <= set(body["token_keys"])
        assert body["jwks"] == 1
    finally:
        browser.close()
        pserver.stop()
        aserver.stop()
        await pserver.close_all_connections()
        await aserver.close_all_connections()
