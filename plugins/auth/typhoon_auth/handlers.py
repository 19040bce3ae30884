"""The login routes: ``/auth/login/<provider>``, ``/auth/callback/<provider>``, ``/auth/logout``.

The flow is OAuth 2.0's authorization-code grant with PKCE (RFC 6749 section 4.1,
RFC 7636), plus OpenID Connect's nonce when the provider is an issuer. What must survive
the trip to the provider -- ``state``, ``nonce``, the PKCE verifier and where to go
afterwards -- travels in a short-lived signed cookie scoped to the callback path, so it is
bound to the browser that started the login. The callback accepts each ``state`` once.
A successful login sets a signed session cookie read back by the plugin's
``resolve_current_user`` hook.
"""

from __future__ import annotations

__all__ = [
    "AuthState",
    "CallbackHandler",
    "LoginHandler",
    "LogoutHandler",
    "read_session",
    "safe_next_url",
]

import hmac
import json
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from typing import Any

from typhoon.errors import AuthError, HTTPClientError, HTTPError
from typhoon.escape import xhtml_escape
from typhoon.web import RequestHandler

from typhoon_auth.providers import Provider
from typhoon_auth.registry import ProviderRegistry

# A login started but not finished within this many seconds must start again.
_LOGIN_MAX_AGE = 600.0
# Control characters (browsers drop tab/CR/LF inside URLs, which turns "/\t/host" into
# "//host") and backslashes (which browsers read as "/") never appear in a safe target.
_UNSAFE_NEXT_RE = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass
class AuthState:
    """What the login routes of one application share."""

    registry: ProviderRegistry
    #: Name of the signed session cookie.
    session_cookie: str = "typhoon_user"
    #: Lifetime of the session cookie in days.
    session_days: float = 30.0
    #: Where to go after login or logout when ``next`` is absent or refused.
    default_next: str = "/"
    #: URL prefix of the routes.
    prefix: str = "/auth"
    #: ``https://host`` to build callback URLs with, instead of the request's own.
    redirect_base: str | None = None


def safe_next_url(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default``.

    Refused: anything not starting with a single ``/`` (so ``//host`` and
    ``/\\host``, which browsers treat as other hosts), any scheme or host, backslashes
    and control characters. This keeps ``next`` from being an open redirect.
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if _UNSAFE_NEXT_RE.search(value):
        return default
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def read_session(handler: RequestHandler, state: AuthState) -> dict[str, Any] | None:
    """The user stored in the request's session cookie, or None."""
    raw = handler.get_signed_cookie(state.session_cookie, max_age_days=state.session_days)
    if raw is None:
        return None
    try:
        user = json.loads(raw)
    except ValueError:
        return None
    return user if isinstance(user, dict) and "id" in user else None


class _AuthHandler(RequestHandler):
    """Shared setup and the plain error page of the login routes."""

    auth: AuthState

    def initialize(self, **kwargs: Any) -> None:
        """Receive the application's :class:`AuthState` (``auth=``) from the route."""
        auth = kwargs["auth"]
        if not isinstance(auth, AuthState):
            raise TypeError("the login routes need auth=AuthState(...)")
        self.auth = auth

    def _provider(self, name: str) -> Provider:
        provider = self.auth.registry.get(name)
        if provider is None:
            raise HTTPError(404, reason="Unknown login provider")
        return provider

    def _state_cookie(self, name: str) -> str:
        return f"typhoon_auth_{name}"

    def _callback_path(self, name: str) -> str:
        return f"{self.auth.prefix}/callback/{urllib.parse.quote(name, safe='')}"

    def _redirect_uri(self, name: str) -> str:
        base = self.auth.redirect_base or f"{self.request.protocol}://{self.request.host}"
        return base.rstrip("/") + self._callback_path(name)

    def _fail(self, status: int, message: str) -> None:
        """Finish with a short page saying why the login failed."""
        self.clear()
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            "<!DOCTYPE html><html><head><title>Sign-in failed</title></head><body>"
            f"<h1>Sign-in failed</h1><p>{xhtml_escape(message)}</p>"
            f'<p><a href="{xhtml_escape(self.auth.default_next)}">Continue</a></p>'
            "</body></html>"
        )


class LoginHandler(_AuthHandler):
    """Start a login: remember state, nonce and PKCE verifier, send the browser away."""

    async def get(self, name: str) -> None:
        """Redirect to provider ``name``'s authorization page."""
        provider = self._provider(name)
        next_url = safe_next_url(self.get_argument("next", None), self.auth.default_next)
        # RFC 6749 section 10.12 (state), RFC 7636 section 4.1 (43+ character verifier).
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32) if provider.is_oidc else None
        verifier = secrets.token_urlsafe(48) if provider.pkce else None
        login = {"state": state, "nonce": nonce, "verifier": verifier, "next": next_url}
        try:
            url = await provider.authorization_url(
                self._redirect_uri(name), state, nonce=nonce, code_verifier=verifier
            )
        except AuthError as exc:
            self._fail(_status_for(exc), str(exc))
            return
        self.set_signed_cookie(
            self._state_cookie(name),
            json.dumps(login),
            expires_days=None,
            path=self._callback_path(name),
            httponly=True,
            secure=self.request.protocol == "https",
            samesite="Lax",
        )
        self.set_header("Cache-Control", "no-store")
        self.redirect(url)


class CallbackHandler(_AuthHandler):
    """Finish a login: check state, trade the code, validate, set the session cookie."""

    async def get(self, name: str) -> None:
        """Handle the provider's redirect back (RFC 6749 section 4.1.2)."""
        provider = self._provider(name)
        cookie_name = self._state_cookie(name)
        raw = self.get_signed_cookie(cookie_name, max_age_days=_LOGIN_MAX_AGE / 86400)
        # The login cookie is single-use whatever happens next.
        self.clear_cookie(cookie_name, path=self._callback_path(name))
        login = _parse_login(raw)
        error = self.get_argument("error", None)
        if error is not None:
            # RFC 6749 section 4.1.2.1: the user said no, or the provider refused.
            message = (
                "Sign-in was cancelled."
                if error == "access_denied"
                else f"The login provider refused the request ({error})."
            )
            self._fail(403 if error == "access_denied" else 400, message)
            return
        state = self.get_argument("state", "")
        if login is None:
            self._fail(400, "This sign-in link expired or was started in another browser.")
            return
        if not state or not hmac.compare_digest(state.encode(), str(login["state"]).encode()):
            self._fail(400, "This sign-in link does not match the one this browser started.")
            return
        if not self.auth.registry.consume_state(state):
            self._fail(400, "This sign-in link was already used.")
            return
        code = self.get_argument("code", "")
        if not code:
            self._fail(400, "The login provider sent no authorization code.")
            return
        try:
            user = await provider.authenticate(
                code, self._redirect_uri(name), login.get("verifier"), login.get("nonce")
            )
        except AuthError as exc:
            self._fail(_status_for(exc), str(exc))
            return
        manager = self.application.plugin_manager
        if manager is not None and manager.has_implementations("auth_user_authenticated"):
            await manager.acall_each(
                "auth_user_authenticated", handler=self, user=user, passthrough=(HTTPError,)
            )
        session = {k: v for k, v in user.items() if k != "claims"}
        self.set_signed_cookie(
            self.auth.session_cookie,
            json.dumps(session),
            expires_days=self.auth.session_days,
            httponly=True,
            secure=self.request.protocol == "https",
            samesite="Lax",
        )
        self.current_user = session
        self.set_header("Cache-Control", "no-store")
        self.redirect(safe_next_url(login.get("next"), self.auth.default_next))


class LogoutHandler(_AuthHandler):
    """End the session: clear the session cookie and go to ``next``."""

    def get(self) -> None:
        """Log out (GET, for plain links)."""
        self._logout()

    def post(self) -> None:
        """Log out (POST, checked against XSRF when ``xsrf_cookies`` is on)."""
        self._logout()

    def _logout(self) -> None:
        self.clear_cookie(self.auth.session_cookie)
        self.set_header("Cache-Control", "no-store")
        self.redirect(safe_next_url(self.get_argument("next", None), self.auth.default_next))


def _parse_login(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        login = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(login, dict) or not isinstance(login.get("state"), str):
        return None
    return login


def _status_for(exc: AuthError) -> int:
    """502 when the provider could not be reached, else 400 (it refused or lied)."""
    if isinstance(exc.__cause__, HTTPClientError | OSError | TimeoutError):
        return 502
    return 400
