"""OAuth 2.0 and OpenID Connect login providers: the relying-party side of the protocols.

A :class:`Provider` knows one identity provider's endpoints and the application's client
credentials. It builds the authorization URL (with ``state``, ``nonce`` and a PKCE S256
challenge), exchanges the code for tokens, validates the ID token against the provider's
JWKS and fetches the user's profile. The protocol rules come from authlib (request
parameters, token responses, PKCE, ID-token claims) and joserfc (signatures); this
module supplies the HTTP calls (through typhoon's ``AsyncHTTPClient``) and the policy.

Ready-made factories cover Google, GitHub, Microsoft Entra ID, GitLab and any issuer
that publishes OpenID Connect discovery metadata.
"""

from __future__ import annotations

__all__ = [
    "PROVIDER_FACTORIES",
    "Provider",
    "github",
    "gitlab",
    "google",
    "make_provider",
    "microsoft",
    "oidc",
]

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from typhoon.errors import AuthError, ConfigurationError

from typhoon_auth._http import DEFAULT_TIMEOUT, fetch_json

# Seconds of clock difference tolerated on exp/iat/nbf (OpenID Connect Core 3.1.3.7
# leaves the allowance to the client; two minutes is the common choice).
_LEEWAY = 120


@dataclass
class Provider:
    """One configured login provider (an OAuth 2.0 server, optionally OpenID Connect).

    Endpoints left ``None`` are read from the issuer's discovery document
    (``issuer + "/.well-known/openid-configuration"``) on first use.
    """

    #: The name in URLs: ``/auth/login/<name>``.
    name: str
    client_id: str
    client_secret: str | None = None
    #: OpenID Connect issuer; when set, an ID token is required and validated.
    issuer: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    jwks_uri: str | None = None
    scope: str = "openid email profile"
    #: Send a PKCE S256 challenge (RFC 7636); every provider here accepts one.
    pkce: bool = True
    #: ``client_secret_post`` or ``client_secret_basic`` (RFC 6749 section 2.3.1).
    token_auth: str = "client_secret_post"
    #: The profile field that identifies the user (``sub`` for OpenID Connect).
    id_field: str = "sub"
    #: Extra query parameters for the authorization request.
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    #: Extra headers for the userinfo request (GitHub wants its media type).
    userinfo_headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds each provider request may take.
    timeout: float = DEFAULT_TIMEOUT
    #: Accepted ID-token signature algorithms (overrides the discovery document).
    id_token_algorithms: tuple[str, ...] | None = None
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _jwks: dict[str, Any] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        secret = "***" if self.client_secret else None
        return f"Provider(name={self.name!r}, client_id={self.client_id!r}, client_secret={secret})"

    @property
    def is_oidc(self) -> bool:
        """True when the provider is used as an OpenID Connect issuer."""
        return self.issuer is not None

    async def metadata(self) -> dict[str, Any]:
        """The provider's endpoints: the configured ones over the discovery document's.

        Raises:
            AuthError: discovery failed, or its ``issuer`` differs from the configured
                one (OpenID Connect Discovery 1.0, section 4.3).
        """
        if self._metadata is not None:
            return self._metadata
        found: dict[str, Any] = {}
        missing = None in (self.authorize_url, self.token_url) or (
            self.is_oidc and self.jwks_uri is None
        )
        if self.issuer is not None and missing:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = await fetch_json(url, what="discovery", timeout=self.timeout)
            if found.get("issuer") != self.issuer:
                raise AuthError("the login provider's discovery document names another issuer")
        merged = dict(found)
        for key, value in (
            ("authorization_endpoint", self.authorize_url),
            ("token_endpoint", self.token_url),
            ("userinfo_endpoint", self.userinfo_url),
            ("jwks_uri", self.jwks_uri),
        ):
            if value is not None:
                merged[key] = value
        for key in ("authorization_endpoint", "token_endpoint"):
            if not isinstance(merged.get(key), str):
                raise AuthError(f"the login provider has no {key}")
        self._metadata = merged
        return merged

    async def authorization_url(
        self,
        redirect_uri: str,
        state: str,
        nonce: str | None = None,
        code_verifier: str | None = None,
        extra_params: Mapping[str, str] | None = None,
    ) -> str:
        """The URL that sends the browser to the provider's consent page."""
        meta = await self.metadata()
        params: dict[str, Any] = dict(self.authorize_params)
        params.update(extra_params or {})
        if nonce is not None and self.is_oidc:
            params["nonce"] = nonce
        if code_verifier is not None and self.pkce:
            # RFC 7636 section 4.2: S256, never "plain".
            params["code_challenge"] = create_s256_code_challenge(code_verifier)
            params["code_challenge_method"] = "S256"
        url: str = prepare_grant_uri(
            meta["authorization_endpoint"],
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=self.scope,
            state=state,
            **params,
        )
        return url

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> dict[str, Any]:
        """Trade an authorization code for tokens (RFC 6749 section 4.1.3).

        Raises:
            AuthError: the token endpoint refused (``invalid_grant`` for a reused or
                forged code) or answered without an access token.
        """
        meta = await self.metadata()
        params: dict[str, Any] = {"code": code, "redirect_uri": redirect_uri}
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.token_auth == "client_secret_basic" and self.client_secret is not None:
            pair = f"{_form(self.client_id)}:{_form(self.client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            params["client_id"] = self.client_id
            if self.client_secret is not None:
                params["client_secret"] = self.client_secret
        if code_verifier is not None and self.pkce:
            params["code_verifier"] = code_verifier
        body: str = prepare_token_request("authorization_code", **params)
        token = await fetch_json(
            meta["token_endpoint"],
            what="token",
            method="POST",
            body=body,
            headers=headers,
            timeout=self.timeout,
        )
        if not isinstance(token.get("access_token"), str):
            raise AuthError("the login provider's token response has no access token")
        return token

    async def _key_set(self, force: bool = False) -> KeySet:
        if self._jwks is None or force:
            meta = await self.metadata()
            uri = meta.get("jwks_uri")
            if not isinstance(uri, str):
                raise AuthError("the login provider publishes no signing keys (jwks_uri)")
            self._jwks = await fetch_json(uri, what="signing keys", timeout=self.timeout)
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise AuthError("the login provider's signing keys are unreadable") from exc

    async def validate_id_token(
        self,
        id_token: str,
        nonce: str | None,
        access_token: str | None = None,
        now: int | None = None,
    ) -> dict[str, Any]:
        """Check an ID token's signature and claims; return the claims.

        Checked (OpenID Connect Core 1.0, section 3.1.3.7): the signature against the
        provider's JWKS (fetched again once when the key id is unknown, for key
        rotation), ``alg`` among the provider's algorithms, ``iss`` equal to the issuer,
        ``aud`` containing the client id, ``azp``, ``exp``/``iat`` with a leeway of
        two minutes, ``nonce`` equal to the one sent, and ``at_hash`` when present.

        Raises:
            AuthError: any check failed.
        """
        meta = await self.metadata()
        algorithms = list(
            self.id_token_algorithms or meta.get("id_token_signing_alg_values_supported") or []
        )
        algorithms = [alg for alg in algorithms if alg != "none"] or ["RS256"]
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), registry=registry)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, await self._key_set(force=True), registry=registry)
            options: dict[str, Any] = {
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.client_id},
                "exp": {"essential": True},
            }
            params: dict[str, Any] = {"client_id": self.client_id}
            if nonce is not None:
                params["nonce"] = nonce
            if access_token is not None:
                params["access_token"] = access_token
            claims = CodeIDToken(token.claims, token.header, options, params)
            claims.validate(now=now if now is not None else int(time.time()), leeway=_LEEWAY)
        except JoseError as exc:
            claim = getattr(exc, "claim", None)
            detail = f"{exc.error}: {claim}" if claim else exc.error
            raise AuthError(f"the login provider's ID token is not valid ({detail})") from exc
        except ValueError as exc:
            raise AuthError("the login provider's ID token is malformed") from exc
        if nonce is not None and claims.get("nonce") != nonce:
            # The nonce was sent, so it must come back (Core 1.0, section 3.1.3.7 step 11).
            raise AuthError("the login provider's ID token is not valid (nonce)")
        return dict(claims)

    async def fetch_userinfo(self, access_token: str) -> dict[str, Any]:
        """The user's profile from the userinfo endpoint (empty when there is none)."""
        meta = await self.metadata()
        url = meta.get("userinfo_endpoint")
        if not isinstance(url, str):
            return {}
        headers = {"Authorization": f"Bearer {access_token}", **self.userinfo_headers}
        return await fetch_json(url, what="profile", headers=headers, timeout=self.timeout)

    async def authenticate(
        self,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        nonce: str | None,
    ) -> dict[str, Any]:
        """Finish a login: exchange the code, validate the ID token, read the profile.

        Returns a user dict with ``provider``, ``id``, ``name``, ``email`` and the raw
        ``claims`` (ID-token claims overlaid with the profile, whose ``sub`` must match).

        Raises:
            AuthError: any step failed.
        """
        token = await self.exchange_code(code, redirect_uri, code_verifier)
        claims: dict[str, Any] = {}
        if self.is_oidc:
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise AuthError("the login provider's token response has no ID token")
            claims = await self.validate_id_token(id_token, nonce, token["access_token"])
        profile = await self.fetch_userinfo(token["access_token"])
        if claims and profile.get("sub", claims["sub"]) != claims["sub"]:
            # Core 1.0 section 5.3.4: a userinfo sub differing from the ID token's is refused.
            raise AuthError("the login provider's profile belongs to another user")
        merged = {**claims, **profile}
        user_id = merged.get(self.id_field)
        if user_id is None or user_id == "":
            raise AuthError("the login provider did not say who the user is")
        return {
            "provider": self.name,
            "id": str(user_id),
            "name": merged.get("name") or merged.get("login") or merged.get("preferred_username"),
            "email": merged.get("email"),
            "claims": merged,
        }


def _form(value: str) -> str:
    # RFC 6749 section 2.3.1: credentials are form-encoded before Basic encoding.
    return urlencode({"": value})[1:]


def google(name: str, client_id: str, client_secret: str | None, **options: Any) -> Provider:
    """Google accounts (OpenID Connect, issuer ``https://accounts.google.com``)."""
    return Provider(name, client_id, client_secret, issuer="https://accounts.google.com", **options)


def github(name: str, client_id: str, client_secret: str | None, **options: Any) -> Provider:
    """GitHub (plain OAuth 2.0: no ID token; the user comes from ``/user``)."""
    settings: dict[str, Any] = {
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "scope": "read:user user:email",
        "id_field": "id",
        "userinfo_headers": {"Accept": "application/vnd.github+json"},
    }
    settings.update(options)
    return Provider(name, client_id, client_secret, **settings)


def microsoft(name: str, client_id: str, client_secret: str | None, **options: Any) -> Provider:
    """Microsoft Entra ID; ``tenant`` is a tenant id (``common`` is refused: its ID
    tokens name each user's own tenant as issuer, so no single issuer can be checked)."""
    tenant = options.pop("tenant", None)
    if not isinstance(tenant, str) or not tenant or tenant in {"common", "organizations"}:
        raise ConfigurationError(
            f"auth provider {name!r}: Microsoft Entra ID needs a 'tenant' id"
            " (a GUID or 'consumers')"
        )
    # The personal-accounts tenant has a fixed id in its issuer.
    tenant_id = "9188040d-6c67-4c5b-b112-36a304b66dad" if tenant == "consumers" else tenant
    issuer = f"https://login.microsoftonline.com/{tenant_id}/v2.0"
    return Provider(name, client_id, client_secret, issuer=issuer, **options)


def gitlab(name: str, client_id: str, client_secret: str | None, **options: Any) -> Provider:
    """GitLab (gitlab.com, or a self-hosted instance through ``issuer``)."""
    issuer = options.pop("issuer", "https://gitlab.com")
    return Provider(
        name, client_id, client_secret, issuer=issuer, scope="openid email profile", **options
    )


def oidc(name: str, client_id: str, client_secret: str | None, **options: Any) -> Provider:
    """Any OpenID Connect issuer; ``issuer`` is required, endpoints come from discovery."""
    if not isinstance(options.get("issuer"), str):
        raise ConfigurationError(f"auth provider {name!r}: an OpenID Connect 'issuer' is required")
    return Provider(name, client_id, client_secret, **options)


#: Provider kinds by the ``type`` key of a provider's settings (default: its name).
PROVIDER_FACTORIES: dict[str, Callable[..., Provider]] = {
    "google": google,
    "github": github,
    "microsoft": microsoft,
    "gitlab": gitlab,
    "oidc": oidc,
}

_OPTION_NAMES = frozenset(
    {
        "issuer",
        "authorize_url",
        "token_url",
        "userinfo_url",
        "jwks_uri",
        "scope",
        "pkce",
        "token_auth",
        "id_field",
        "authorize_params",
        "userinfo_headers",
        "timeout",
        "id_token_algorithms",
        "tenant",
    }
)


def make_provider(name: str, config: Mapping[str, Any]) -> Provider:
    """Build a provider from one entry of the ``auth_providers`` setting.

    ``config`` holds ``client_id``, ``client_secret``, an optional ``type`` (one of
    :data:`PROVIDER_FACTORIES`; defaults to ``name``) and provider options.

    Raises:
        ConfigurationError: unknown type or option, or missing client id.
    """
    kind = config.get("type", name)
    factory = PROVIDER_FACTORIES.get(kind)
    if factory is None:
        raise ConfigurationError(
            f"auth provider {name!r}: unknown type {kind!r}; set 'type' to one of "
            + ", ".join(sorted(PROVIDER_FACTORIES))
        )
    client_id = config.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ConfigurationError(f"auth provider {name!r}: 'client_id' is required")
    secret = config.get("client_secret")
    if secret is not None and not isinstance(secret, str):
        raise ConfigurationError(f"auth provider {name!r}: 'client_secret' must be a string")
    options = {k: v for k, v in config.items() if k not in {"type", "client_id", "client_secret"}}
    unknown = set(options) - _OPTION_NAMES
    if unknown:
        raise ConfigurationError(
            f"auth provider {name!r}: unknown options {', '.join(sorted(unknown))}"
        )
    if "id_token_algorithms" in options:
        options["id_token_algorithms"] = tuple(options["id_token_algorithms"])
    try:
        provider = factory(name, client_id, secret, **options)
    except TypeError as exc:
        raise ConfigurationError(f"auth provider {name!r}: {exc}") from exc
    return replace(provider)
