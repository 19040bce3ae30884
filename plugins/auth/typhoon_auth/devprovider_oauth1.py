"""A development OAuth 1.0a provider served by typhoon.  NOT FOR PRODUCTION.

For tests and offline development of code written against :class:`~typhoon_auth.TwitterMixin`
or :class:`~typhoon_auth.OAuthMixin`. It is a real RFC 5849 server -- authlib's
:class:`~authlib.oauth1.AuthorizationServer` issues temporary and token credentials and
its :class:`~authlib.oauth1.ResourceProtector` checks HMAC-SHA1 signatures, timestamps
and nonces -- with a Twitter-shaped layout::

    POST /oauth/request_token        temporary credentials (section 2.1)
    GET  /oauth/authorize            consent page, or at once with auto_consent (2.2)
    GET  /oauth/authenticate         the same (Twitter's sign-in variant)
    POST /oauth/access_token         token credentials (2.3)
    GET  /1.1/account/verify_credentials.json   the signed-in user
    POST /1.1/statuses/update.json   echoes ``status`` (to test signed POSTs)

Everything lives in memory; users are listed in the constructor and have no passwords.
"""

from __future__ import annotations

__all__ = ["DevOAuth1Client", "DevOAuth1Provider"]

import secrets
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth1 import (  # type: ignore[import-untyped]
    AuthorizationServer,
    OAuth1Request,
    ResourceProtector,
    TemporaryCredential,
)
from authlib.oauth1.rfc5849.errors import OAuth1Error  # type: ignore[import-untyped]
from typhoon.escape import json_encode, xhtml_escape
from typhoon.web import Application, RequestHandler


@dataclass
class DevOAuth1Client:
    """A registered consumer (client application) of the development provider."""

    client_id: str
    client_secret: str
    default_redirect_uri: str | None = None

    # authlib's ClientMixin protocol.
    def get_default_redirect_uri(self) -> str | None:
        """Where to send the browser when the request token named no callback."""
        return self.default_redirect_uri

    def get_client_secret(self) -> str:
        """The consumer secret (the HMAC-SHA1 key's first half, RFC 5849 section 3.4.2)."""
        return self.client_secret

    def get_rsa_public_key(self) -> None:
        """RSA-SHA1 is not offered."""
        return None


@dataclass
class _TokenCredential:
    oauth_token: str
    oauth_token_secret: str
    client_id: str
    user: str

    def get_oauth_token(self) -> str:
        return self.oauth_token

    def get_oauth_token_secret(self) -> str:
        return self.oauth_token_secret


def _oauth1_request(handler: RequestHandler) -> Any:
    request = handler.request
    body = (request.body or b"").decode("utf-8", "replace")
    try:
        return OAuth1Request(request.method or "GET", request.full_url(), body, request.headers)
    except ValueError as exc:
        # A malformed Authorization header (RFC 5849 section 3.5.1).
        raise _BadRequest("invalid_request", str(exc)) from exc


class _BadRequest(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, owner: DevOAuth1Provider) -> None:
        self.owner = owner

    def get_client_by_id(self, client_id: str) -> DevOAuth1Client | None:
        return self.owner.clients.get(client_id)

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.owner._seen_nonce(nonce, request)

    def create_oauth1_request(self, request: Any) -> Any:
        if isinstance(request, OAuth1Request):
            return request
        return _oauth1_request(request)

    def handle_response(
        self, status: int, payload: Any, headers: Sequence[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, payload, list(headers)

    def create_temporary_credential(self, request: Any) -> Any:
        credential = TemporaryCredential(
            oauth_token=secrets.token_urlsafe(24),
            oauth_token_secret=secrets.token_urlsafe(32),
            client_id=request.client_id,
            oauth_callback=request.redirect_uri,
        )
        self.owner.temporary[credential["oauth_token"]] = credential
        return credential

    def get_temporary_credential(self, request: Any) -> Any:
        credential = self.owner.temporary.get(request.token)
        if credential is None:
            return None
        # A request token belongs to the consumer it was issued to.
        if request.client_id and credential.get_client_id() != request.client_id:
            return None
        return credential

    def delete_temporary_credential(self, request: Any) -> None:
        self.owner.temporary.pop(request.token, None)

    def create_authorization_verifier(self, request: Any) -> str:
        verifier = secrets.token_urlsafe(24)
        request.credential["oauth_verifier"] = verifier
        request.credential["user_id"] = request.user
        return verifier

    def create_token_credential(self, request: Any) -> _TokenCredential:
        temporary = request.credential
        token = _TokenCredential(
            oauth_token=secrets.token_urlsafe(24),
            oauth_token_secret=secrets.token_urlsafe(32),
            client_id=temporary.get_client_id(),
            user=temporary.get_user_id(),
        )
        self.owner.tokens[token.oauth_token] = token
        return token


class _Protector(ResourceProtector):  # type: ignore[misc]
    def __init__(self, owner: DevOAuth1Provider) -> None:
        self.owner = owner

    def get_client_by_id(self, client_id: str) -> DevOAuth1Client | None:
        return self.owner.clients.get(client_id)

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.owner._seen_nonce(nonce, request)

    def get_token_credential(self, request: Any) -> _TokenCredential | None:
        token = self.owner.tokens.get(request.token)
        if token is None or token.client_id != request.client_id:
            return None
        return token


@dataclass
class DevOAuth1Provider:
    """An in-memory OAuth 1.0a provider for development and tests.

    ``base_url`` is where it is served (``http://127.0.0.1:<port>``); ``users`` maps a
    screen name to the profile ``verify_credentials`` returns. With ``auto_consent`` the
    authorization endpoint approves at once for the first user; otherwise it shows a
    page to pick a user, allow or deny.
    """

    base_url: str
    users: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "alice": {"id": 1001, "name": "Alice Example"},
            "bob": {"id": 1002, "name": "Bob Example"},
        }
    )
    auto_consent: bool = False
    clients: dict[str, DevOAuth1Client] = field(default_factory=dict)
    temporary: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, _TokenCredential] = field(default_factory=dict)
    nonces: set[tuple[str, str, str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.server = _Server(self)
        self.protector = _Protector(self)

    def add_client(
        self, client_id: str, client_secret: str, default_redirect_uri: str | None = None
    ) -> DevOAuth1Client:
        """Register a consumer."""
        client = DevOAuth1Client(client_id, client_secret, default_redirect_uri)
        self.clients[client_id] = client
        return client

    def _seen_nonce(self, nonce: str, request: Any) -> bool:
        # RFC 5849 section 3.3: a nonce is unique per timestamp, client and token.
        key = (nonce, str(request.timestamp), str(request.client_id), str(request.token or ""))
        if key in self.nonces:
            return True
        self.nonces.add(key)
        return False

    def profile(self, user: str) -> dict[str, Any]:
        """What ``verify_credentials`` answers for ``user``."""
        data = dict(self.users.get(user, {}))
        data.setdefault("id", 0)
        data["id_str"] = str(data["id"])
        data["screen_name"] = user
        return data

    def routes(self) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
        """URL rules serving the provider at the root of ``base_url``."""
        kwargs = {"provider": self}
        return [
            (r"/oauth/request_token", _RequestTokenHandler, kwargs),
            (r"/oauth/(?:authorize|authenticate)", _AuthorizeHandler, kwargs),
            (r"/oauth/access_token", _AccessTokenHandler, kwargs),
            (r"/1\.1/account/verify_credentials\.json", _VerifyCredentialsHandler, kwargs),
            (r"/1\.1/statuses/update\.json", _StatusUpdateHandler, kwargs),
        ]

    def application(self, **settings: Any) -> Application:
        """An application serving only this provider (plugins off)."""
        return Application(self.routes(), load_entrypoints=False, **settings)


class _Handler(RequestHandler):
    provider: DevOAuth1Provider

    def initialize(self, **kwargs: Any) -> None:
        self.provider = kwargs["provider"]

    def check_xsrf_cookie(self) -> None:
        # Consumers post from their own servers; consent posts carry the request token.
        return None

    def _send(self, status: int, payload: Any, headers: Sequence[tuple[str, str]]) -> None:
        self.set_status(status)
        for name, value in headers:
            self.set_header(name, value)
        if isinstance(payload, list | dict):
            items = payload.items() if isinstance(payload, dict) else payload
            payload = urllib.parse.urlencode(
                [(k, "true" if v is True else str(v)) for k, v in items]
            )
        self.finish(payload or "")

    def _error(self, status: int, error: str, description: str) -> None:
        self._send(
            status,
            [("error", error), ("error_description", description)],
            [("Content-Type", "application/x-www-form-urlencoded")],
        )

    def _protected(self) -> _TokenCredential | None:
        """The token credential of a signed API request, or None after a 401."""
        request = self.request
        try:
            checked = self.provider.protector.validate_request(
                request.method or "GET",
                request.full_url(),
                (request.body or b"").decode("utf-8", "replace"),
                request.headers,
            )
        except OAuth1Error as error:
            self._error(401, error.error, error.description or error.error)
            return None
        except ValueError as exc:
            self._error(400, "invalid_request", str(exc))
            return None
        credential: _TokenCredential = checked.credential
        return credential


class _RequestTokenHandler(_Handler):
    def post(self) -> None:
        try:
            request = _oauth1_request(self)
        except _BadRequest as exc:
            self._error(400, exc.error, exc.description)
            return
        self._send(*self.provider.server.create_temporary_credentials_response(request))


class _AccessTokenHandler(_Handler):
    def post(self) -> None:
        try:
            request = _oauth1_request(self)
        except _BadRequest as exc:
            self._error(400, exc.error, exc.description)
            return
        self._send(*self.provider.server.create_token_response(request))


class _AuthorizeHandler(_Handler):
    def get(self) -> None:
        if self.provider.auto_consent:
            self._decide(next(iter(self.provider.users)))
            return
        token = self.get_argument("oauth_token", "")
        if token not in self.provider.temporary:
            self._error(400, "invalid_token", "unknown or used request token")
            return
        options = "".join(
            f'<option value="{xhtml_escape(u)}">{xhtml_escape(u)}</option>'
            for u in self.provider.users
        )
        self.set_header("Cache-Control", "no-store")
        self.finish(
            "<!DOCTYPE html><html><head><title>Development sign-in</title></head><body>"
            "<h1>Development sign-in (OAuth 1.0a, not for production)</h1>"
            f'<form method="post" action="{xhtml_escape(self.request.path)}">'
            f'<input type="hidden" name="oauth_token" value="{xhtml_escape(token)}">'
            f'<select name="user">{options}</select>'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Deny</button></form></body></html>'
        )

    def post(self) -> None:
        user = self.get_argument("user", "")
        allowed = self.get_argument("decision", "") == "allow" and user in self.provider.users
        self._decide(user if allowed else None)

    def _decide(self, user: str | None) -> None:
        try:
            response = self.provider.server.create_authorization_response(
                _oauth1_request(self), grant_user=user
            )
        except _BadRequest as exc:
            self._error(400, exc.error, exc.description)
            return
        except OAuth1Error as error:
            self._error(400, error.error, error.description or error.error)
            return
        self._send(*response)


class _VerifyCredentialsHandler(_Handler):
    def get(self) -> None:
        credential = self._protected()
        if credential is None:
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json_encode(self.provider.profile(credential.user)))


class _StatusUpdateHandler(_Handler):
    def post(self) -> None:
        credential = self._protected()
        if credential is None:
            return
        self.set_header("Content-Type", "application/json")
        self.finish(
            json_encode(
                {
                    "text": self.get_body_argument("status", ""),
                    "user": self.provider.profile(credential.user),
                }
            )
        )
