"""Tornado's OpenID 2.0 login mixin, ``OpenIdMixin``.  DEPRECATED.

Kept so that code written for ``tornado.auth.OpenIdMixin`` runs unchanged; Tornado
deprecated it in 6.5.8 and plans to remove it in 6.7, and the major OpenID 2.0 providers
are gone. New code should use OpenID Connect (the ``auth`` plugin's ``oidc`` providers).
Importing this module warns about nothing; calling the mixin's methods emits a
``DeprecationWarning``.

The flow is OpenID Authentication 2.0's, in the stateless ("dumb") mode: the browser is
sent to the provider with ``checkid_setup``, and the assertion it brings back is
verified by posting it back to the provider with ``check_authentication`` (section
11.4.2). Attribute Exchange 1.0 asks for the name, e-mail, language and nickname.
"""

from __future__ import annotations

__all__ = ["AuthError", "OpenIdMixin", "parse_key_value_form"]

import urllib.parse
import warnings
from typing import Any

from typhoon.errors import AuthError
from typhoon.httpclient import AsyncHTTPClient
from typhoon.web import RequestHandler

from typhoon_auth._http import DEFAULT_TIMEOUT, fetch

_OPENID_NS = "http://specs.openid.net/auth/2.0"
_IDENTIFIER_SELECT = "http://specs.openid.net/auth/2.0/identifier_select"
_AX_NS = "http://openid.net/srv/ax/1.0"
# The Attribute Exchange type URIs Tornado asks for, by the names its callers use.
_AX_TYPES: dict[str, dict[str, str]] = {
    "name": {
        "firstname": "http://axschema.org/namePerson/first",
        "fullname": "http://axschema.org/namePerson",
        "lastname": "http://axschema.org/namePerson/last",
    },
    "email": {"email": "http://axschema.org/contact/email"},
    "language": {"language": "http://axschema.org/pref/language"},
    "username": {"username": "http://axschema.org/namePerson/friendly"},
}
_DEPRECATION = "OpenIdMixin is deprecated (OpenID 2.0 is obsolete); use an OpenID Connect provider"


def _as_handler(obj: object) -> RequestHandler:
    if not isinstance(obj, RequestHandler):
        raise TypeError("the auth mixins must be mixed into a RequestHandler")
    return obj


def parse_key_value_form(body: bytes) -> dict[str, str]:
    """Decode an OpenID key-value form document (OpenID 2.0 section 4.1.1).

    Each line is ``key:value`` ended by a newline; a line without a colon, a repeated
    key or bytes that are not UTF-8 make the whole document invalid.

    Raises:
        AuthError: the document is malformed.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuthError("the OpenID provider sent an unreadable answer") from exc
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, colon, value = line.partition(":")
        if not colon or not key or key != key.strip() or key in fields:
            raise AuthError("the OpenID provider sent an unreadable answer")
        fields[key] = value
    return fields


class OpenIdMixin:
    """OpenID 2.0 login with Attribute Exchange.  Deprecated: use OpenID Connect.

    Subclasses set ``_OPENID_ENDPOINT`` to the provider's endpoint URL.
    """

    _OPENID_ENDPOINT: str = ""

    def authenticate_redirect(
        self,
        callback_uri: str | None = None,
        ax_attrs: list[str] = ["name", "email", "language", "username"],  # noqa: B006
    ) -> None:
        """Redirect the browser to the provider to sign in.

        ``callback_uri`` (default: this request's URI) is where the provider sends the
        browser back; ``ax_attrs`` names the attributes to ask for (``name``, ``email``,
        ``language``, ``username``).
        """
        warnings.warn(_DEPRECATION, DeprecationWarning, stacklevel=2)
        handler = _as_handler(self)
        args = self._openid_args(callback_uri or handler.request.uri or "/", ax_attrs)
        separator = "&" if "?" in self._OPENID_ENDPOINT else "?"
        handler.redirect(self._OPENID_ENDPOINT + separator + urllib.parse.urlencode(args))

    def _openid_args(
        self, callback_uri: str, ax_attrs: list[str] | tuple[str, ...] = ()
    ) -> dict[str, str]:
        """The ``checkid_setup`` request parameters (OpenID 2.0 section 9.1, AX 1.0 5.1)."""
        handler = _as_handler(self)
        return_to = urllib.parse.urljoin(handler.request.full_url(), callback_uri)
        args = {
            "openid.ns": _OPENID_NS,
            "openid.claimed_id": _IDENTIFIER_SELECT,
            "openid.identity": _IDENTIFIER_SELECT,
            "openid.return_to": return_to,
            "openid.realm": urllib.parse.urljoin(return_to, "/"),
            "openid.mode": "checkid_setup",
        }
        if ax_attrs:
            required: list[str] = []
            args["openid.ns.ax"] = _AX_NS
            args["openid.ax.mode"] = "fetch_request"
            for attr in ax_attrs:
                types = _AX_TYPES.get(attr)
                if types is None:
                    raise ValueError(f"unknown OpenID attribute {attr!r}")
                for alias, type_uri in types.items():
                    args["openid.ax.type." + alias] = type_uri
                    required.append(alias)
            args["openid.ax.required"] = ",".join(required)
        return args

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """The HTTP client used to verify assertions (override to use another)."""
        return AsyncHTTPClient()

    async def get_authenticated_user(
        self, http_client: AsyncHTTPClient | None = None
    ) -> dict[str, Any]:
        """Verify the provider's assertion on the callback request and return the user.

        The dict holds ``claimed_id`` and, when the provider sent them, ``name``,
        ``first_name``, ``last_name``, ``email``, ``locale`` and ``username``.

        Raises:
            AuthError: the user cancelled, the assertion is not for this URL, the provider
                did not confirm it, or the provider could not be reached.
        """
        warnings.warn(_DEPRECATION, DeprecationWarning, stacklevel=2)
        handler = _as_handler(self)
        args = {
            name: values[-1].decode("utf-8", "replace")
            for name, values in handler.request.arguments.items()
            if values
        }
        mode = args.get("openid.mode")
        if mode == "cancel":
            raise AuthError("the user did not sign in")
        if mode != "id_res":
            raise AuthError(f"Invalid OpenID response mode: {mode!r}")
        self._check_return_to(handler, args.get("openid.return_to", ""))
        # Section 11.4.2.1: the same fields, with the mode changed, posted back.
        verify = dict(args)
        verify["openid.mode"] = "check_authentication"
        timeout = handler.settings.get("auth_timeout")
        response = await fetch(
            self._OPENID_ENDPOINT,
            method="POST",
            body=urllib.parse.urlencode(verify),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=float(timeout) if timeout is not None else DEFAULT_TIMEOUT,
            client=http_client or self.get_auth_http_client(),
        )
        if not 200 <= response.code < 300:
            raise AuthError(f"the OpenID provider refused verification (HTTP {response.code})")
        # Section 11.4.2.2: exactly "is_valid:true" in a well-formed key-value document.
        answer = parse_key_value_form(response.body)
        if answer.get("is_valid") != "true" or answer.get("ns", _OPENID_NS) != _OPENID_NS:
            raise AuthError("Invalid OpenID response: the provider did not confirm it")
        return self._openid_user(args)

    def _check_return_to(self, handler: RequestHandler, return_to: str) -> None:
        # Section 11.1: the assertion must have been made for the URL it arrived at.
        target = urllib.parse.urlsplit(return_to)
        here = urllib.parse.urlsplit(handler.request.full_url())
        if (target.scheme, target.netloc, target.path) != (here.scheme, here.netloc, here.path):
            raise AuthError("the OpenID assertion was made for another URL")
        sent = urllib.parse.parse_qs(target.query, keep_blank_values=True)
        for name, values in sent.items():
            if handler.get_arguments(name) != values:
                raise AuthError("the OpenID assertion was made for another URL")

    def _openid_user(self, args: dict[str, str]) -> dict[str, Any]:
        """The user fields from an assertion's Attribute Exchange response."""
        ax_alias = next(
            (
                name[len("openid.ns.") :]
                for name, value in args.items()
                if name.startswith("openid.ns.") and value == _AX_NS
            ),
            None,
        )

        def ax(type_uri: str) -> str:
            if ax_alias is None:
                return ""
            prefix = f"openid.{ax_alias}.type."
            for name, value in args.items():
                if name.startswith(prefix) and value == type_uri:
                    return args.get(f"openid.{ax_alias}.value.{name[len(prefix) :]}", "")
            return ""

        email = ax("http://axschema.org/contact/email")
        name = ax("http://axschema.org/namePerson")
        first_name = ax("http://axschema.org/namePerson/first")
        last_name = ax("http://axschema.org/namePerson/last")
        username = ax("http://axschema.org/namePerson/friendly")
        language = ax("http://axschema.org/pref/language").lower()
        user: dict[str, Any] = {}
        name_parts = [part for part in (first_name, last_name) if part]
        if name:
            user["name"] = name
        elif name_parts:
            user["name"] = " ".join(name_parts)
        elif email:
            user["name"] = email.split("@")[0]
        for key, value in (
            ("email", email),
            ("first_name", first_name),
            ("last_name", last_name),
            ("username", username),
            ("locale", language),
        ):
            if value:
                user[key] = value
        claimed_id = args.get("openid.claimed_id")
        if claimed_id:
            user["claimed_id"] = claimed_id
        return user
