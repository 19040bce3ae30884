"""Tornado's OAuth 1.0a login mixins for ``RequestHandler``: ``OAuthMixin`` and ``TwitterMixin``.

The flow of RFC 5849 section 2 with Tornado's method names: :meth:`OAuthMixin.authorize_redirect`
obtains temporary credentials (a request token), keeps them in the ``_oauth_request_token``
cookie and sends the browser to the provider; when the browser comes back with
``oauth_token`` and ``oauth_verifier``, :meth:`OAuthMixin.get_authenticated_user` checks the
token against the cookie, trades it for token credentials (an access token) and asks the
subclass for the user. Every request is signed by authlib's OAuth 1.0 client
(:class:`authlib.oauth1.ClientAuth`, HMAC-SHA1); HTTP goes through typhoon's
``AsyncHTTPClient`` with the ``auth_timeout`` setting as deadline.

Unlike Tornado, the credential requests are ``POST`` with the ``Authorization`` header,
the method RFC 5849 section 2.1 names, and the request-token cookie is signed when the
application has a ``cookie_secret``.
"""

from __future__ import annotations

__all__ = ["AuthError", "OAuthMixin", "TwitterMixin"]

import base64
import binascii
import json
import urllib.parse
from typing import Any

from authlib.oauth1 import (  # type: ignore[import-untyped]
    SIGNATURE_TYPE_HEADER,
    SIGNATURE_TYPE_QUERY,
    ClientAuth,
)
from typhoon.errors import AuthError
from typhoon.httpclient import AsyncHTTPClient
from typhoon.web import RequestHandler

from typhoon_auth._http import DEFAULT_TIMEOUT, ProviderResponse, fetch

_COOKIE = "_oauth_request_token"
_FORM = "application/x-www-form-urlencoded"


def _as_handler(obj: object) -> RequestHandler:
    if not isinstance(obj, RequestHandler):
        raise TypeError("the auth mixins must be mixed into a RequestHandler")
    return obj


def _timeout(handler: RequestHandler) -> float:
    value = handler.settings.get("auth_timeout")
    return float(value) if value is not None else DEFAULT_TIMEOUT


def _token_field(token: dict[str, Any], name: str) -> str:
    value = token.get(name)
    if isinstance(value, bytes):
        return value.decode()
    return str(value) if value is not None else ""


def _refusal(response: ProviderResponse, what: str) -> AuthError:
    """The ``AuthError`` for a non-2xx credential or API answer, naming the OAuth error."""
    detail = ""
    text = response.body.decode("utf-8", "replace")
    fields = dict(urllib.parse.parse_qsl(text))
    problem = fields.get("error") or fields.get("oauth_problem")
    if problem is None:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            problem = data["error"]
    if problem:
        detail = f": {problem}"
    return AuthError(
        f"the login provider refused the {what} request (HTTP {response.code}{detail})"
    )


def _parse_credentials(body: bytes, what: str) -> dict[str, Any]:
    """Token credentials from a form-encoded answer (RFC 5849 sections 2.1 and 2.3).

    Returns Tornado's shape: ``key`` and ``secret`` plus every other field the provider
    sent (``user_id``, ``screen_name``…).
    """
    fields = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    key = fields.pop("oauth_token", "")
    secret = fields.pop("oauth_token_secret", "")
    if not key or not secret:
        raise AuthError(f"the login provider's {what} answer has no token")
    return {"key": key, "secret": secret, **fields}


class OAuthMixin:
    """OAuth 1.0 and 1.0a login (RFC 5849).

    Subclasses set ``_OAUTH_REQUEST_TOKEN_URL``, ``_OAUTH_ACCESS_TOKEN_URL`` and
    ``_OAUTH_AUTHORIZE_URL``, and implement :meth:`_oauth_consumer_token` and
    :meth:`_oauth_get_user_future`. ``_OAUTH_VERSION`` is ``"1.0a"`` (the callback goes
    with the request token and a verifier comes back) or ``"1.0"`` (the callback goes in
    the authorization URL); ``_OAUTH_NO_CALLBACKS`` is true for providers that refuse a
    callback URL.
    """

    _OAUTH_REQUEST_TOKEN_URL: str = ""
    _OAUTH_ACCESS_TOKEN_URL: str = ""
    _OAUTH_AUTHORIZE_URL: str = ""
    _OAUTH_VERSION: str = "1.0a"
    _OAUTH_NO_CALLBACKS: bool = False

    def _oauth_consumer_token(self) -> dict[str, Any]:
        """The application's consumer credentials: a dict with ``key`` and ``secret``."""
        raise NotImplementedError(f"{type(self).__name__} must define _oauth_consumer_token")

    async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any] | None:
        """The user that ``access_token`` (``key``, ``secret``…) belongs to, or None."""
        raise NotImplementedError(f"{type(self).__name__} must define _oauth_get_user_future")

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """The HTTP client used for provider requests (override to use another)."""
        return AsyncHTTPClient()

    def _client_auth(
        self,
        token: dict[str, Any] | None = None,
        *,
        callback: str | None = None,
        verifier: str | None = None,
        signature_type: str = SIGNATURE_TYPE_HEADER,
    ) -> Any:
        consumer = self._oauth_consumer_token()
        return ClientAuth(
            _token_field(consumer, "key"),
            client_secret=_token_field(consumer, "secret"),
            token=_token_field(token, "key") if token else None,
            token_secret=_token_field(token, "secret") if token else None,
            redirect_uri=callback,
            verifier=verifier,
            signature_type=signature_type,
        )

    async def _signed_post(
        self, url: str, auth: Any, what: str, http_client: AsyncHTTPClient | None
    ) -> dict[str, Any]:
        handler = _as_handler(self)
        uri, headers, body = auth.prepare("POST", url, {"Content-Type": _FORM}, "")
        response = await fetch(
            uri,
            method="POST",
            body=body or "",
            headers=headers,
            timeout=_timeout(handler),
            client=http_client or self.get_auth_http_client(),
        )
        if not 200 <= response.code < 300:
            raise _refusal(response, what)
        return _parse_credentials(response.body, what)

    async def authorize_redirect(
        self,
        callback_uri: str | None = None,
        extra_params: dict[str, Any] | None = None,
        http_client: AsyncHTTPClient | None = None,
    ) -> None:
        """Get a request token and redirect the browser to the provider's authorization page.

        ``callback_uri`` (relative URIs are resolved against the request) is where the
        provider sends the browser back; ``extra_params`` are added to the request-token
        request (for example ``x_auth_access_type``).

        Raises:
            AuthError: the provider refused or could not be reached.
            Exception: ``callback_uri`` given to a provider that takes no callbacks.
        """
        await self._redirect_to(self._OAUTH_AUTHORIZE_URL, callback_uri, extra_params, http_client)

    async def _redirect_to(
        self,
        authorize_url: str,
        callback_uri: str | None,
        extra_params: dict[str, Any] | None,
        http_client: AsyncHTTPClient | None,
    ) -> None:
        handler = _as_handler(self)
        if callback_uri and self._OAUTH_NO_CALLBACKS:
            raise Exception("This service does not support oauth_callback")
        full_callback = None
        if callback_uri:
            full_callback = urllib.parse.urljoin(handler.request.full_url(), callback_uri)
        url = self._OAUTH_REQUEST_TOKEN_URL
        if extra_params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(extra_params)
        # RFC 5849 section 2.1: 1.0a sends the callback with the request token ("oob"
        # when there is none); plain 1.0 names it in the authorization URL instead.
        is_10a = self._OAUTH_VERSION == "1.0a"
        auth = self._client_auth(callback=(full_callback or "oob") if is_10a else None)
        request_token = await self._signed_post(url, auth, "request token", http_client)
        self._store_request_token(handler, request_token)
        params = {"oauth_token": request_token["key"]}
        if full_callback and not is_10a:
            params["oauth_callback"] = full_callback
        separator = "&" if "?" in authorize_url else "?"
        handler.redirect(authorize_url + separator + urllib.parse.urlencode(params))

    def _store_request_token(self, handler: RequestHandler, token: dict[str, Any]) -> None:
        raw = b"|".join(
            base64.b64encode(_token_field(token, name).encode()) for name in ("key", "secret")
        ).decode()
        options: dict[str, Any] = {
            "httponly": True,
            "samesite": "Lax",
            "secure": handler.request.protocol == "https",
        }
        if handler.settings.get("cookie_secret"):
            handler.set_signed_cookie(_COOKIE, raw, expires_days=None, **options)
        else:
            handler.set_cookie(_COOKIE, raw, **options)

    def _load_request_token(self, handler: RequestHandler) -> tuple[str, str] | None:
        if handler.settings.get("cookie_secret"):
            signed = handler.get_signed_cookie(_COOKIE, max_age_days=1)
            raw = signed.decode() if signed is not None else None
        else:
            raw = handler.get_cookie(_COOKIE)
        if not raw or "|" not in raw:
            return None
        key_b64, _, secret_b64 = raw.partition("|")
        try:
            key = base64.b64decode(key_b64, validate=True).decode()
            secret = base64.b64decode(secret_b64, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return key, secret

    async def get_authenticated_user(
        self, http_client: AsyncHTTPClient | None = None
    ) -> dict[str, Any]:
        """Finish the login on the callback request and return the user.

        The user dict comes from :meth:`_oauth_get_user_future`, with the token
        credentials added under ``access_token`` (``key``, ``secret`` and whatever else
        the provider sent with them).

        Raises:
            AuthError: the user denied access, the request-token cookie is missing or
                does not match ``oauth_token``, or the provider refused or could not be
                reached.
        """
        handler = _as_handler(self)
        stored = self._load_request_token(handler)
        # The request token is single-use whatever happens next.
        handler.clear_cookie(_COOKIE)
        problem = handler.get_argument("error", None) or handler.get_argument("denied", None)
        if problem is not None and not handler.get_argument("oauth_verifier", None):
            raise AuthError("the user did not grant access")
        request_key = handler.get_argument("oauth_token", None)
        if stored is None:
            raise AuthError("Missing OAuth request token cookie")
        if not request_key or request_key != stored[0]:
            raise AuthError("Request token does not match cookie")
        token: dict[str, Any] = {"key": stored[0], "secret": stored[1]}
        verifier = handler.get_argument("oauth_verifier", None)
        if verifier is None and self._OAUTH_VERSION == "1.0a":
            raise AuthError("the login provider sent no oauth_verifier")
        auth = self._client_auth(token, verifier=verifier)
        access_token = await self._signed_post(
            self._OAUTH_ACCESS_TOKEN_URL, auth, "access token", http_client
        )
        user = await self._oauth_get_user_future(access_token)
        if not user:
            raise AuthError("Error getting user")
        user["access_token"] = access_token
        return user

    def _oauth_request_parameters(
        self,
        url: str,
        access_token: dict[str, Any],
        parameters: dict[str, Any] = {},  # noqa: B006 - Tornado's signature; never mutated
        method: str = "GET",
    ) -> dict[str, str]:
        """The ``oauth_*`` parameters, signature included, that authorize one API call.

        The signature covers ``method``, ``url`` and ``parameters`` (sent in the query
        for ``GET``, in a form body otherwise); add the result to those parameters.
        """
        auth = self._client_auth(access_token, signature_type=SIGNATURE_TYPE_QUERY)
        args = {k: str(v) for k, v in parameters.items()}
        if method.upper() in ("GET", "HEAD", "DELETE"):
            target = url
            if args:
                target += ("&" if "?" in url else "?") + urllib.parse.urlencode(args)
            signed_uri, _, _ = auth.sign(method.upper(), target, {}, b"")
        else:
            signed_uri, _, _ = auth.sign(
                method.upper(), url, {"Content-Type": _FORM}, urllib.parse.urlencode(args)
            )
        query = urllib.parse.urlsplit(signed_uri).query
        return {k: v for k, v in urllib.parse.parse_qsl(query) if k.startswith("oauth_")}


class TwitterMixin(OAuthMixin):
    """Sign in with X (Twitter) and call its v1.1 API.

    Credentials come from the ``twitter_consumer_key`` and ``twitter_consumer_secret``
    settings. Use :meth:`authenticate_redirect` for sign-in (no consent page for users
    who already approved the application) and :meth:`authorize_redirect` to ask for
    access again.
    """

    _OAUTH_REQUEST_TOKEN_URL = "https://api.twitter.com/oauth/request_token"
    _OAUTH_ACCESS_TOKEN_URL = "https://api.twitter.com/oauth/access_token"
    _OAUTH_AUTHORIZE_URL = "https://api.twitter.com/oauth/authorize"
    _OAUTH_AUTHENTICATE_URL = "https://api.twitter.com/oauth/authenticate"
    _OAUTH_NO_CALLBACKS = False
    _TWITTER_BASE_URL = "https://api.twitter.com/1.1"

    async def authenticate_redirect(
        self, callback_uri: str | None = None, http_client: AsyncHTTPClient | None = None
    ) -> None:
        """Like :meth:`authorize_redirect`, through the sign-in page."""
        await self._redirect_to(self._OAUTH_AUTHENTICATE_URL, callback_uri, None, http_client)

    async def twitter_request(
        self,
        path: str,
        access_token: dict[str, Any],
        post_args: dict[str, Any] | None = None,
        **args: Any,
    ) -> Any:
        """Call the API at ``path`` (``/statuses/update``; ``.json`` is added) signed with
        ``access_token``; ``post_args`` make it a form POST. Returns the decoded JSON.

        Raises:
            AuthError: the API refused or could not be reached.
        """
        handler = _as_handler(self)
        if path.startswith(("http://", "https://")):
            url = path
        else:
            url = self._TWITTER_BASE_URL + path + ".json"
        method = "POST" if post_args is not None else "GET"
        signed_args = dict(args)
        if post_args is not None:
            signed_args.update(post_args)
        oauth = self._oauth_request_parameters(url, access_token, signed_args, method=method)
        # Tornado's layout: API and oauth_* parameters in the query, post_args in the body.
        query = {**args, **oauth}
        body = urllib.parse.urlencode(post_args) if post_args is not None else None
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        response = await fetch(
            url,
            method=method,
            body=body,
            headers={"Content-Type": _FORM} if body is not None else None,
            timeout=_timeout(handler),
            client=self.get_auth_http_client(),
        )
        if not 200 <= response.code < 300:
            raise _refusal(response, "API")
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise AuthError("the provider API sent an unreadable answer") from exc

    def _oauth_consumer_token(self) -> dict[str, Any]:
        """The ``twitter_consumer_key`` and ``twitter_consumer_secret`` settings."""
        handler = _as_handler(self)
        for name in ("twitter_consumer_key", "twitter_consumer_secret"):
            if not handler.settings.get(name):
                raise AuthError(f"set the {name!r} setting to sign in with Twitter")
        return {
            "key": handler.settings["twitter_consumer_key"],
            "secret": handler.settings["twitter_consumer_secret"],
        }

    async def _oauth_get_user_future(self, access_token: dict[str, Any]) -> dict[str, Any] | None:
        """The account of ``access_token`` from ``/account/verify_credentials``, with
        ``username`` set to its ``screen_name``."""
        user = await self.twitter_request("/account/verify_credentials", access_token=access_token)
        if isinstance(user, dict) and "screen_name" in user:
            user["username"] = user["screen_name"]
            return user
        return None
