"""Tornado's OAuth 2.0 login mixins for ``RequestHandler`` (``tornado.auth``'s API).

The same names and flow as Tornado: a handler mixes one in, calls
:meth:`OAuth2Mixin.authorize_redirect` on the first visit and
``get_authenticated_user`` when the provider sends the browser back with ``code``.
Request building and token parsing are authlib's; HTTP goes through typhoon's
``AsyncHTTPClient`` with bounded timeouts. For new code the settings-driven routes of
the ``auth`` plugin (with state, nonce and PKCE handled for you) are the better choice.

The OAuth 1.0a mixins (:mod:`typhoon_auth.oauth1`) and the deprecated OpenID 2.0 mixin
(:mod:`typhoon_auth.openid`) are importable from here too, as from ``tornado.auth``.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "FacebookGraphMixin",
    "GoogleOAuth2Mixin",
    "OAuth2Mixin",
    "OAuthMixin",
    "OpenIdMixin",
    "TwitterMixin",
]

import json
import urllib.parse
from typing import Any

from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_grant_uri,
    prepare_token_request,
)
from typhoon.errors import AuthError
from typhoon.web import RequestHandler

from typhoon_auth._http import DEFAULT_TIMEOUT, fetch, fetch_json
from typhoon_auth.oauth1 import OAuthMixin, TwitterMixin
from typhoon_auth.openid import OpenIdMixin


class OAuth2Mixin:
    """OAuth 2.0 authorization-code login; subclasses set the two endpoint URLs."""

    _OAUTH_AUTHORIZE_URL: str = ""
    _OAUTH_ACCESS_TOKEN_URL: str = ""

    def authorize_redirect(
        self,
        redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        extra_params: dict[str, Any] | None = None,
        scope: list[str] | None = None,
        response_type: str = "code",
    ) -> None:
        """Redirect the browser to the provider's authorization page.

        ``client_secret`` is accepted for compatibility and ignored (it never belongs in
        a browser URL).
        """
        handler = self._handler()
        params = dict(extra_params or {})
        url = prepare_grant_uri(
            self._OAUTH_AUTHORIZE_URL,
            client_id,
            response_type,
            redirect_uri=redirect_uri,
            scope=" ".join(scope) if scope else None,
            **params,
        )
        handler.redirect(url)

    async def _exchange(
        self, redirect_uri: str, client_id: str, client_secret: str, code: str, **extra: Any
    ) -> dict[str, Any]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            client_id=client_id,
            client_secret=client_secret,
            **extra,
        )
        return await fetch_json(
            self._OAUTH_ACCESS_TOKEN_URL,
            what="token",
            method="POST",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=self._timeout(),
        )

    async def oauth2_request(
        self,
        url: str,
        access_token: str | None = None,
        post_args: dict[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call a provider API; ``access_token`` and ``args`` go in the query string,
        ``post_args`` (when given) make it a form POST. Returns the decoded JSON.

        Raises:
            AuthError: unreachable provider or a non-2xx answer.
        """
        query = dict(args)
        if access_token:
            query["access_token"] = access_token
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        if post_args is not None:
            response = await fetch(
                url,
                method="POST",
                body=urllib.parse.urlencode(post_args),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=self._timeout(),
            )
        else:
            response = await fetch(url, timeout=self._timeout())
        if not 200 <= response.code < 300:
            raise AuthError(f"the provider API answered HTTP {response.code}")
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise AuthError("the provider API sent an unreadable answer") from exc

    def _timeout(self) -> float:
        """The ``auth_timeout`` setting: seconds each provider request may take."""
        value = self._handler().settings.get("auth_timeout")
        return float(value) if value is not None else DEFAULT_TIMEOUT

    def _handler(self) -> RequestHandler:
        if not isinstance(self, RequestHandler):
            raise TypeError("the auth mixins must be mixed into a RequestHandler")
        return self


class GoogleOAuth2Mixin(OAuth2Mixin):
    """Google login; credentials from the ``google_oauth`` setting (``key``, ``secret``)."""

    _OAUTH_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
    _OAUTH_ACCESS_TOKEN_URL = "https://oauth2.googleapis.com/token"
    _OAUTH_USERINFO_URL = "https://www.googleapis.com/oauth2/v1/userinfo"
    _OAUTH_SETTINGS_KEY = "google_oauth"

    def get_google_oauth_settings(self) -> dict[str, Any]:
        """The ``google_oauth`` setting (override to read credentials elsewhere)."""
        value = self._handler().settings.get(self._OAUTH_SETTINGS_KEY) or {}
        return dict(value)

    async def get_authenticated_user(
        self,
        redirect_uri: str,
        code: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict[str, Any]:
        """Trade ``code`` for tokens; the token response (``access_token``, ``id_token``…).

        As in Tornado, the profile is not fetched: call :meth:`oauth2_request` with
        ``_OAUTH_USERINFO_URL`` and the access token for it.
        """
        settings = self.get_google_oauth_settings()
        return await self._exchange(
            redirect_uri,
            client_id or settings.get("key", ""),
            client_secret or settings.get("secret", ""),
            code,
        )


class FacebookGraphMixin(OAuth2Mixin):
    """Facebook login through the Graph API."""

    _OAUTH_AUTHORIZE_URL = "https://www.facebook.com/dialog/oauth"
    _OAUTH_ACCESS_TOKEN_URL = "https://graph.facebook.com/oauth/access_token"
    _FACEBOOK_BASE_URL = "https://graph.facebook.com"

    async def get_authenticated_user(
        self,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        code: str,
        extra_fields: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Trade ``code`` for a token and return the user's profile with ``access_token``.

        Fields: ``id``, ``name``, ``first_name``, ``last_name``, ``locale``, ``picture``,
        ``link`` and any ``extra_fields``.
        """
        token = await self._exchange(redirect_uri, client_id, client_secret, code)
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise AuthError("the login provider's token response has no access token")
        fields = {"id", "name", "first_name", "last_name", "locale", "picture", "link"}
        fields.update(extra_fields or {})
        user = await self.facebook_request(
            "/me", access_token=access_token, fields=",".join(sorted(fields))
        )
        if not isinstance(user, dict):
            return None
        user["access_token"] = access_token
        user["session_expires"] = str(token.get("expires_in", ""))
        return user

    async def facebook_request(
        self,
        path: str,
        access_token: str | None = None,
        post_args: dict[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call the Graph API at ``path`` (for example ``/me/feed``)."""
        return await self.oauth2_request(
            self._FACEBOOK_BASE_URL + path, access_token=access_token, post_args=post_args, **args
        )
