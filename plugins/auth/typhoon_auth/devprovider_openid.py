"""A minimal development OpenID 2.0 provider served by typhoon.  NOT FOR PRODUCTION.

Only what tests of the deprecated :class:`~typhoon_auth.OpenIdMixin` need: one endpoint
(``/openid``) that answers ``checkid_setup`` with a signed positive assertion (or
``cancel`` when the user declines) and verifies assertions in the stateless
``check_authentication`` mode (OpenID Authentication 2.0, sections 10 and 11.4.2).
Associations are not offered. Assertions are signed with HMAC-SHA256 under a private
key generated at start-up, each response nonce is accepted once, and the Attribute
Exchange 1.0 fetch request is answered from the user's listed attributes.
"""

from __future__ import annotations

__all__ = ["DevOpenIdProvider"]

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from typhoon.escape import xhtml_escape
from typhoon.web import Application, RequestHandler

_OPENID_NS = "http://specs.openid.net/auth/2.0"
_AX_NS = "http://openid.net/srv/ax/1.0"
_AX_ATTRIBUTES = {
    "http://axschema.org/namePerson": "name",
    "http://axschema.org/namePerson/first": "first_name",
    "http://axschema.org/namePerson/last": "last_name",
    "http://axschema.org/contact/email": "email",
    "http://axschema.org/pref/language": "language",
    "http://axschema.org/namePerson/friendly": "nickname",
}


def _key_value_form(pairs: list[tuple[str, str]]) -> str:
    # Section 4.1.1: "key:value\n" per line.
    return "".join(f"{key}:{value}\n" for key, value in pairs)


@dataclass
class DevOpenIdProvider:
    """An in-memory OpenID 2.0 provider for development and tests.

    ``base_url`` is where it is served; the endpoint is ``base_url + "/openid"`` and a
    user's identifier ``base_url + "/openid/id/<login>"``. With ``auto_consent`` the
    first user is signed in at once; otherwise a page offers the users, allow or cancel.
    """

    base_url: str
    users: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "alice": {
                "name": "Alice Example",
                "first_name": "Alice",
                "last_name": "Example",
                "email": "alice@example.com",
                "language": "en-GB",
                "nickname": "alice",
            },
            "bob": {"first_name": "Bob", "last_name": "Example", "email": "bob@example.com"},
        }
    )
    auto_consent: bool = False
    #: Answer ``check_authentication`` with this body instead (tests of strict parsing).
    verification_override: bytes | None = None
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    handles: set[str] = field(default_factory=set)
    used_nonces: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    @property
    def endpoint(self) -> str:
        """The OP endpoint URL (``_OPENID_ENDPOINT`` for the mixin)."""
        return self.base_url + "/openid"

    def _sign(self, fields: dict[str, str], signed: list[str]) -> str:
        # Section 6.1: HMAC over the key-value form of the signed fields, without "openid.".
        message = _key_value_form([(name, fields["openid." + name]) for name in signed])
        digest = hmac.new(self.key, message.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def positive_assertion(self, request: dict[str, str], user: str) -> dict[str, str]:
        """The ``id_res`` fields for ``request`` (a ``checkid_setup``) and ``user``."""
        identity = f"{self.endpoint}/id/{urllib.parse.quote(user, safe='')}"
        handle = secrets.token_urlsafe(16)
        self.handles.add(handle)
        nonce = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + secrets.token_hex(6)
        fields = {
            "openid.ns": _OPENID_NS,
            "openid.mode": "id_res",
            "openid.op_endpoint": self.endpoint,
            "openid.claimed_id": identity,
            "openid.identity": identity,
            "openid.return_to": request.get("openid.return_to", ""),
            "openid.response_nonce": nonce,
            "openid.assoc_handle": handle,
        }
        signed = ["op_endpoint", "return_to", "response_nonce", "assoc_handle"]
        signed += ["claimed_id", "identity"]
        fields.update(self._ax_response(request, user, signed))
        fields["openid.signed"] = ",".join(signed)
        fields["openid.sig"] = self._sign(fields, signed)
        return fields

    def _ax_response(self, request: dict[str, str], user: str, signed: list[str]) -> dict[str, str]:
        # Attribute Exchange 1.0 section 5.2: answer the types asked for that are known.
        alias = next(
            (
                k[len("openid.ns.") :]
                for k, v in request.items()
                if k.startswith("openid.ns.") and v == _AX_NS
            ),
            None,
        )
        if alias is None or request.get(f"openid.{alias}.mode") != "fetch_request":
            return {}
        attributes = self.users.get(user, {})
        out = {"openid.ns.ax": _AX_NS, "openid.ax.mode": "fetch_response"}
        signed += ["ns.ax", "ax.mode"]
        prefix = f"openid.{alias}.type."
        for name, type_uri in request.items():
            if not name.startswith(prefix):
                continue
            value = attributes.get(_AX_ATTRIBUTES.get(type_uri, ""))
            if value is None:
                continue
            short = name[len(prefix) :]
            out[f"openid.ax.type.{short}"] = type_uri
            out[f"openid.ax.value.{short}"] = value
            signed += [f"ax.type.{short}", f"ax.value.{short}"]
        return out

    def check_authentication(self, fields: dict[str, str]) -> bool:
        """Verify an assertion posted back in stateless mode (section 11.4.2.1)."""
        signed = [name for name in fields.get("openid.signed", "").split(",") if name]
        required = {"op_endpoint", "return_to", "response_nonce", "assoc_handle"}
        if not required <= set(signed) or any("openid." + n not in fields for n in signed):
            return False
        if fields.get("openid.op_endpoint") != self.endpoint:
            return False
        handle = fields.get("openid.assoc_handle", "")
        nonce = fields.get("openid.response_nonce", "")
        if handle not in self.handles or nonce in self.used_nonces:
            return False
        expected = self._sign(fields, signed)
        if not hmac.compare_digest(expected, fields.get("openid.sig", "")):
            return False
        # Section 11.4.2.1: a nonce is confirmed once, and the private handle retires.
        self.used_nonces.add(nonce)
        self.handles.discard(handle)
        return True

    def routes(self) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
        """URL rules serving the provider at the root of ``base_url``."""
        return [(r"/openid", _EndpointHandler, {"provider": self})]

    def application(self, **settings: Any) -> Application:
        """An application serving only this provider (plugins off)."""
        return Application(self.routes(), load_entrypoints=False, **settings)


class _EndpointHandler(RequestHandler):
    provider: DevOpenIdProvider

    def initialize(self, **kwargs: Any) -> None:
        self.provider = kwargs["provider"]

    def check_xsrf_cookie(self) -> None:
        # Relying parties post check_authentication from their servers.
        return None

    def _fields(self) -> dict[str, str]:
        return {
            name: values[-1].decode("utf-8", "replace")
            for name, values in self.request.arguments.items()
            if values
        }

    def get(self) -> None:
        self._handle(self._fields())

    def post(self) -> None:
        self._handle(self._fields())

    def _handle(self, fields: dict[str, str]) -> None:
        mode = fields.get("openid.mode")
        if fields.get("openid.ns") != _OPENID_NS:
            self._direct_error("not an OpenID 2.0 request")
        elif mode == "check_authentication" and self.request.method == "POST":
            valid = self.provider.check_authentication(fields)
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            if self.provider.verification_override is not None:
                self.finish(self.provider.verification_override)
                return
            text = _key_value_form([("ns", _OPENID_NS), ("is_valid", "true" if valid else "false")])
            self.finish(text)
        elif mode == "checkid_setup":
            self._checkid(fields)
        else:
            self._direct_error(f"unsupported mode {mode!r}")

    def _direct_error(self, message: str) -> None:
        # Section 5.1.2.2: direct errors are key-value form with status 400.
        self.set_status(400)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(_key_value_form([("ns", _OPENID_NS), ("error", message)]))

    def _checkid(self, fields: dict[str, str]) -> None:
        return_to = fields.get("openid.return_to", "")
        realm = fields.get("openid.realm", return_to)
        if not return_to.startswith(("http://", "https://")) or not return_to.startswith(realm):
            # Section 9.2.1: return_to must match the realm.
            self._direct_error("return_to does not match the realm")
            return
        decision = fields.pop("decision", None)
        user = fields.pop("user", None)
        if self.provider.auto_consent:
            user, decision = next(iter(self.provider.users)), "allow"
        if decision is None:
            self._consent_page(fields)
            return
        if decision == "allow" and user in self.provider.users:
            answer = self.provider.positive_assertion(fields, user)
        else:
            answer = {"openid.ns": _OPENID_NS, "openid.mode": "cancel"}
        separator = "&" if "?" in return_to else "?"
        self.redirect(return_to + separator + urllib.parse.urlencode(answer))

    def _consent_page(self, fields: dict[str, str]) -> None:
        hidden = "".join(
            f'<input type="hidden" name="{xhtml_escape(k)}" value="{xhtml_escape(v)}">'
            for k, v in fields.items()
        )
        options = "".join(
            f'<option value="{xhtml_escape(u)}">{xhtml_escape(u)}</option>'
            for u in self.provider.users
        )
        self.set_header("Cache-Control", "no-store")
        self.finish(
            "<!DOCTYPE html><html><head><title>Development sign-in</title></head><body>"
            "<h1>Development sign-in (OpenID 2.0, not for production)</h1>"
            f'<form method="post" action="/openid">{hidden}'
            f'<select name="user">{options}</select>'
            '<button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="cancel">Cancel</button></form></body></html>'
        )
