"""A development OpenID Connect provider served by typhoon.  NOT FOR PRODUCTION.

Sign-in that works offline: demos, local development and the auth plugin's own tests.
It is a real authorization server -- authlib's :class:`AuthorizationServer` with the
authorization-code grant, PKCE (RFC 7636) and OpenID Connect's ``openid`` extension --
publishing discovery metadata, a JWKS and a userinfo endpoint. Everything lives in
memory, users are listed in the constructor, there are no passwords (the consent page
offers the listed users), and the signing key is generated at start-up.

Hooks for tests: :attr:`DevProvider.id_token_overrides` replaces ID-token claims
(``iss``, ``aud``, ``exp``, ``iat``, ``nonce``) and :attr:`DevProvider.signing_key` signs
with a key other than the published one, so a client's checks can be seen failing.
"""

from __future__ import annotations

__all__ = ["DevClient", "DevProvider"]

import secrets
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    AuthorizationServer,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import (  # type: ignore[import-untyped]
    AuthorizationCodeGrant,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from authlib.oidc.core import UserInfo  # type: ignore[import-untyped]
from authlib.oidc.core.grants import OpenIDCode  # type: ignore[import-untyped]
from joserfc.jwk import KeySet, RSAKey
from typhoon.escape import json_encode, xhtml_escape
from typhoon.web import Application, RequestHandler

_CODE_LIFETIME = 300
_TOKEN_LIFETIME = 3600


@dataclass
class DevClient:
    """A registered client application of the development provider."""

    client_id: str
    client_secret: str | None
    redirect_uris: Sequence[str]
    scope: str = "openid email profile"

    # authlib's ClientMixin protocol (RFC 6749 section 2).
    def get_client_id(self) -> str:
        """The client identifier."""
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """The first registered redirect URI."""
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        """The part of ``scope`` this client may ask for."""
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact match against the registered URIs (RFC 6749 section 3.1.2.3)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """Constant-time comparison with the registered secret."""
        return self.client_secret is not None and secrets.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Public clients use ``none``; confidential ones a secret, basic or post."""
        if self.client_secret is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        """Only the authorization-code flow is offered."""
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        """Only the authorization-code grant is offered."""
        return grant_type == "authorization_code"


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._values.items() if v}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, {k: list(v) for k, v in self._values.items()})


class _Request(OAuth2Request):  # type: ignore[misc]
    """A typhoon request seen through authlib's request interface."""

    def __init__(self, handler: RequestHandler) -> None:
        request = handler.request
        super().__init__(request.method or "GET", request.full_url(), headers=request.headers)
        values: dict[str, list[str]] = {}
        for name, raw in request.query_arguments.items():
            values.setdefault(name, []).extend(v.decode() for v in raw)
        for name, raw in request.body_arguments.items():
            values.setdefault(name, []).extend(v.decode() for v in raw)
        self._query = {k: v[0].decode() for k, v in request.query_arguments.items() if v}
        self._form = {k: v[0].decode() for k, v in request.body_arguments.items() if v}
        self.payload = _Payload(values)

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, owner: DevProvider) -> None:
        super().__init__(scopes_supported=["openid", "email", "profile"])
        self.owner = owner
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda **_: secrets.token_urlsafe(32),
                expires_generator=lambda *_: _TOKEN_LIFETIME,
            ),
        )

    def query_client(self, client_id: str) -> DevClient | None:
        return self.owner.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.owner.tokens[token["access_token"]] = (
            request.user,
            token.get("scope", ""),
            time.time() + _TOKEN_LIFETIME,
        )

    def create_oauth2_request(self, request: Any) -> Any:
        return request if isinstance(request, OAuth2Request) else _Request(request)

    def create_json_request(self, request: Any) -> Any:
        raise OAuth2Error("JSON requests are not offered")

    def handle_response(
        self, status: int, body: Any, headers: Sequence[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]

    def save_authorization_code(self, code: str, request: Any) -> None:
        owner: DevProvider = self.server.owner
        payload = request.payload.data
        owner.codes[code] = _Code(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.payload.scope or "",
            user=request.user,
            nonce=payload.get("nonce"),
            code_challenge=payload.get("code_challenge"),
            code_challenge_method=payload.get("code_challenge_method"),
            auth_time=int(time.time()),
            expires_at=time.time() + _CODE_LIFETIME,
        )

    def query_authorization_code(self, code: str, client: DevClient) -> _Code | None:
        item: _Code | None = self.server.owner.codes.get(code)
        if item is None or item.client_id != client.client_id or item.expires_at < time.time():
            return None
        return item

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        self.server.owner.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _Code) -> str:
        return authorization_code.user


class _OpenIDCode(OpenIDCode):  # type: ignore[misc]
    def __init__(self, owner: DevProvider) -> None:
        super().__init__(require_nonce=False)
        self.owner = owner

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return any(code.nonce == nonce for code in self.owner.codes.values())

    def resolve_client_private_key(self, client: DevClient) -> RSAKey:
        return self.owner.signing_key or self.owner.key

    def get_client_algorithm(self, client: DevClient) -> str:
        return "RS256"

    def get_encode_header(self, client: DevClient) -> dict[str, Any]:
        key = self.owner.signing_key or self.owner.key
        return {"alg": "RS256", "kid": key.kid}

    def get_client_claims(self, client: DevClient) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.owner.issuer,
            "aud": [client.client_id],
            "iat": now,
            "exp": now + _TOKEN_LIFETIME,
        }
        claims.update({k: v for k, v in self.owner.id_token_overrides.items() if k in claims})
        return claims

    def get_authorization_code_claims(self, authorization_code: _Code) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if "nonce" in self.owner.id_token_overrides:
            claims["nonce"] = self.owner.id_token_overrides["nonce"]
        return claims

    def generate_user_info(self, user: str, scope: str) -> Any:
        return self.owner.user_info(user, scope)


@dataclass
class DevProvider:
    """An in-memory OpenID Connect provider for development and tests.

    ``issuer`` is the URL the provider is served at (``http://127.0.0.1:<port>``);
    ``users`` maps a login name to its claims (``sub`` defaults to the login name).
    With ``auto_consent`` the authorization endpoint approves at once for the first
    user (or ``login_hint``); otherwise it shows a page to pick a user, allow or deny.
    """

    issuer: str
    clients: dict[str, DevClient] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "alice": {"name": "Alice Example", "email": "alice@example.com"},
            "bob": {"name": "Bob Example", "email": "bob@example.com"},
        }
    )
    auto_consent: bool = False
    #: ID-token claims to force (tests of a client's validation).
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    #: A key to sign ID tokens with instead of the published one (tests).
    signing_key: RSAKey | None = None
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, auto_kid=True))
    codes: dict[str, _Code] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")
        self.server = _Server(self)
        self.server.register_grant(_CodeGrant, [CodeChallenge(required=False), _OpenIDCode(self)])

    def add_client(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris: Sequence[str],
        scope: str = "openid email profile",
    ) -> DevClient:
        """Register a client application."""
        client = DevClient(client_id, client_secret, list(redirect_uris), scope)
        self.clients[client_id] = client
        return client

    def user_info(self, user: str, scope: str) -> dict[str, Any]:
        """The claims of ``user`` that ``scope`` releases (OpenID Connect Core 5.4)."""
        claims = self.users.get(user, {})
        info = UserInfo(sub=str(claims.get("sub", user)))
        scopes = set((scope or "").split())
        if "profile" in scopes and "name" in claims:
            info["name"] = claims["name"]
        if "email" in scopes and "email" in claims:
            info["email"] = claims["email"]
            info["email_verified"] = True
        return dict(info)

    def discovery(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0, section 3)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        """The published signing keys (public parts only)."""
        return dict(KeySet([self.key]).as_dict(private=False))

    def routes(self) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
        """URL rules serving the provider at the root of its issuer URL."""
        kwargs = {"provider": self}
        return [
            (r"/\.well-known/openid-configuration", _DiscoveryHandler, kwargs),
            (r"/jwks", _JWKSHandler, kwargs),
            (r"/authorize", _AuthorizeHandler, kwargs),
            (r"/token", _TokenHandler, kwargs),
            (r"/userinfo", _UserInfoHandler, kwargs),
        ]

    def application(self, **settings: Any) -> Application:
        """An application serving only this provider (plugins off)."""
        return Application(self.routes(), load_entrypoints=False, **settings)


class _ProviderHandler(RequestHandler):
    provider: DevProvider

    def initialize(self, **kwargs: Any) -> None:
        self.provider = kwargs["provider"]

    def check_xsrf_cookie(self) -> None:
        # Token and consent posts come from other sites by design (RFC 6749 section 3.2).
        return None

    def _send(self, status: int, body: Any, headers: Sequence[tuple[str, str]]) -> None:
        self.set_status(status)
        for name, value in headers:
            self.set_header(name, value)
        if isinstance(body, dict):
            self.set_header("Content-Type", "application/json")
            body = json_encode(body)
        self.finish(body or "")


class _DiscoveryHandler(_ProviderHandler):
    def get(self) -> None:
        self.write(self.provider.discovery())


class _JWKSHandler(_ProviderHandler):
    def get(self) -> None:
        self.write(self.provider.jwks())


class _AuthorizeHandler(_ProviderHandler):
    def get(self) -> None:
        server = self.provider.server
        request = _Request(self)
        try:
            grant = server.get_consent_grant(request)
        except OAuth2Error as error:
            self._send(400, {"error": error.error, "error_description": error.description}, [])
            return
        if self.provider.auto_consent:
            user = self.get_argument("login_hint", None) or next(iter(self.provider.users))
            self._send(*server.create_authorization_response(request, grant_user=user, grant=grant))
            return
        self._consent_page(request)

    def post(self) -> None:
        server = self.provider.server
        request = _Request(self)
        try:
            grant = server.get_consent_grant(request)
        except OAuth2Error as error:
            self._send(400, {"error": error.error, "error_description": error.description}, [])
            return
        user = self.get_argument("user", "")
        allowed = self.get_argument("decision", "") == "allow" and user in self.provider.users
        response = server.create_authorization_response(
            request, grant_user=user if allowed else None, grant=grant
        )
        self._send(*response)

    def _consent_page(self, request: _Request) -> None:
        hidden = "".join(
            f'<input type="hidden" name="{xhtml_escape(k)}" value="{xhtml_escape(v)}">'
            for k, v in request.args.items()
        )
        options = "".join(
            f'<option value="{xhtml_escape(u)}">{xhtml_escape(u)}</option>'
            for u in self.provider.users
        )
        client = xhtml_escape(request.args.get("client_id", ""))
        self.set_header("Cache-Control", "no-store")
        self.finish(
            "<!DOCTYPE html><html><head><title>Development sign-in</title></head><body>"
            "<h1>Development sign-in (not for production)</h1>"
            f"<p>{client} asks to know who you are.</p>"
            f'<form method="post" action="/authorize">{hidden}'
            f'<select name="user">{options}</select>'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Deny</button></form></body></html>'
        )


class _TokenHandler(_ProviderHandler):
    def post(self) -> None:
        self._send(*self.provider.server.create_token_response(_Request(self)))


class _UserInfoHandler(_ProviderHandler):
    def get(self) -> None:
        # RFC 6750 section 2.1: the bearer token in the Authorization header.
        auth = self.request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        entry = self.provider.tokens.get(token) if scheme.lower() == "bearer" else None
        if entry is None or entry[2] < time.time():
            self.set_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self._send(401, {"error": "invalid_token"}, [])
            return
        user, scope, _ = entry
        self.write(self.provider.user_info(user, scope))
