"""Tornado's OAuth2 mixin API driven through the development provider."""

from __future__ import annotations

import json
from typing import Any

from _browser import Browser
from _servers import listen
from typhoon.errors import AuthError
from typhoon.web import Application, RequestHandler
from typhoon_auth.devprovider import DevProvider
from typhoon_auth.mixins import FacebookGraphMixin, GoogleOAuth2Mixin


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


class FakeGraph(RequestHandler):
    """The three Facebook endpoints FacebookGraphMixin uses, answering like the Graph API."""

    def check_xsrf_cookie(self) -> None:
        return None

    def get(self, path: str) -> None:
        if path == "dialog/oauth":
            redirect_uri = self.get_argument("redirect_uri")
            self.redirect(redirect_uri + "?code=fb-code&state=" + self.get_argument("state"))
        elif path == "me":
            if self.get_argument("access_token", "") != "fb-token":
                self.set_status(400)
                self.write({"error": "invalid_token"})
                return
            fields = self.get_argument("fields").split(",")
            self.write({"id": "77", "name": "Fay Book", "locale": "fr_FR", "fields": fields})
        else:
            self.send_error(404)

    def post(self, path: str) -> None:
        expected = {"client_id": "fb-app", "client_secret": "fb-secret", "code": "fb-code"}
        if path != "oauth/access_token" or any(
            self.get_body_argument(k, "") != v for k, v in expected.items()
        ):
            self.set_status(400)
            self.write({"error": "invalid_grant"})
            return
        self.write({"access_token": "fb-token", "token_type": "bearer", "expires_in": 5000})


class FacebookLogin(RequestHandler, FacebookGraphMixin):
    def initialize(self, **kwargs: Any) -> None:
        base = kwargs["base"]
        self._OAUTH_AUTHORIZE_URL = base + "/dialog/oauth"
        self._OAUTH_ACCESS_TOKEN_URL = base + "/oauth/access_token"
        self._FACEBOOK_BASE_URL = base
        self.secret = kwargs["secret"]

    async def get(self) -> None:
        redirect_uri = f"{self.request.protocol}://{self.request.host}/fb"
        code = self.get_argument("code", None)
        if code is None:
            self.authorize_redirect(
                redirect_uri=redirect_uri, client_id="fb-app", extra_params={"state": "st"}
            )
            return
        try:
            user = await self.get_authenticated_user(
                redirect_uri=redirect_uri,
                client_id="fb-app",
                client_secret=self.secret,
                code=code,
                extra_fields={"email"},
            )
        except AuthError as exc:
            self.set_status(400)
            self.finish(str(exc))
            return
        self.write({"user": user})


async def _facebook(secret: str) -> tuple[int, bytes]:
    graph = Application([(r"/(.*)", FakeGraph)], load_entrypoints=False)
    gserver, gport = listen(graph)
    app = Application(
        [(r"/fb", FacebookLogin, {"base": f"http://127.0.0.1:{gport}", "secret": secret})],
        load_entrypoints=False,
    )
    aserver, aport = listen(app)
    browser = Browser()
    try:
        _, response = await browser.go(f"http://127.0.0.1:{aport}/fb")
        return response.code, response.body
    finally:
        browser.close()
        for server in (gserver, aserver):
            server.stop()
            await server.close_all_connections()


async def test_facebook_graph_mixin_flow() -> None:
    code, body = await _facebook("fb-secret")
    assert code == 200, body
    user = json.loads(body)["user"]
    assert user["id"] == "77"
    assert user["name"] == "Fay Book"
    assert user["access_token"] == "fb-token"
    assert user["session_expires"] == "5000"
    assert {"id", "name", "first_name", "last_name", "locale", "picture", "link", "email"} == set(
        user["fields"]
    )


async def test_facebook_token_error_is_a_clear_auth_error() -> None:
    code, body = await _facebook("wrong")
    assert code == 400
    assert b"refused the token request (HTTP 400: invalid_grant)" in body
