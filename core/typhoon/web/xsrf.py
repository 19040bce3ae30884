"""Cross-site request forgery defences: XSRF tokens and cross-origin request checks.

Layer 5 (web). Imports ``typhoon.errors``, ``typhoon.escape``, ``typhoon.web.cookies``
and the standard library.

Two independent defences, each switched on by a setting:

* ``xsrf_cookies``: every unsafe request must echo the token stored in the XSRF cookie,
  as the ``_xsrf`` form field or the ``X-XSRFToken`` / ``X-CSRFToken`` header. The
  token is masked with fresh random bytes each time it is rendered (format 2:
  ``2|<mask hex>|<masked token hex>|<timestamp>``), so a page that reflects it never
  shows the same bytes twice and compression side channels (BREACH) learn nothing.
* ``cross_origin_protection``: unsafe requests whose ``Sec-Fetch-Site`` or ``Origin``
  header shows they were made by a page from another origin are refused, unless the
  origin is trusted (``trusted_origins``, :meth:`XsrfMixin.check_trusted_origin`).
  Browsers send these headers on their own, so no token plumbing is needed.

"Unsafe" means any method other than GET, HEAD and OPTIONS (RFC 9110, section 9.2.1).
"""

from __future__ import annotations

__all__ = ["SAFE_METHODS", "XsrfMixin"]

import binascii
import hmac
import os
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from typhoon.errors import HTTPError
from typhoon.escape import utf8, xhtml_escape
from typhoon.web.arguments import ArgumentMixin
from typhoon.web.cookies import CookieMixin

if TYPE_CHECKING:
    from typhoon.httputil import HTTPServerRequest

#: Methods that must not change state, so neither defence checks them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_TOKEN_BYTES = 16


def _xor_mask(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with ``mask`` repeated; applying it twice gives ``data`` back."""
    repeated = (mask * (len(data) // len(mask) + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


def _decode_token(value: str | bytes) -> tuple[int | None, bytes | None, float | None]:
    """Split a rendered or stored XSRF token into (version, raw token, timestamp).

    Returns ``(None, None, None)`` for a value that cannot be a token.
    """
    data = utf8(value)
    try:
        if data.startswith(b"2|"):
            _, mask_hex, masked_hex, timestamp = data.split(b"|")
            mask = binascii.a2b_hex(mask_hex)
            if not mask:
                return None, None, None
            return 2, _xor_mask(mask, binascii.a2b_hex(masked_hex)), float(int(timestamp))
        if data[:1].isdigit() and data[1:2] == b"|":
            # A version this code does not know.
            return None, None, None
    except (ValueError, binascii.Error):
        return None, None, None
    # Version 1: the hex token itself, or (older still) the raw token.
    try:
        token = binascii.a2b_hex(data)
    except (ValueError, binascii.Error):
        token = data
    return 1, token, time.time()


class XsrfMixin(CookieMixin, ArgumentMixin):
    """The XSRF and cross-origin methods of ``RequestHandler``."""

    if TYPE_CHECKING:
        request: HTTPServerRequest
        _xsrf_token: bytes
        _raw_xsrf_token: tuple[int | None, bytes, float]

        @property
        def settings(self) -> dict[str, Any]: ...

        @property
        def current_user(self) -> Any: ...

    @property
    def xsrf_token(self) -> bytes:
        """The XSRF token for this request, masked afresh; sets the cookie if missing.

        Put it in forms as the ``_xsrf`` field (:meth:`xsrf_form_html` does) or send it
        from scripts as the ``X-XSRFToken`` header. The cookie gets the
        ``xsrf_cookie_kwargs`` setting as attributes and is named by
        ``xsrf_cookie_name`` (``"_xsrf"`` by default; ``"__Host-xsrf"`` pins it to
        the host).
        """
        try:
            return self._xsrf_token
        except AttributeError:
            pass
        settings = self.settings
        version, token, timestamp = self._get_raw_xsrf_token()
        output_version = settings.get("xsrf_cookie_version", 2)
        if output_version == 1:
            rendered = binascii.b2a_hex(token)
        elif output_version == 2:
            mask = os.urandom(4)
            rendered = b"|".join(
                [
                    b"2",
                    binascii.b2a_hex(mask),
                    binascii.b2a_hex(_xor_mask(mask, token)),
                    utf8(str(int(timestamp))),
                ]
            )
        else:
            raise ValueError(f"unknown xsrf_cookie_version {output_version!r}")
        self._xsrf_token = rendered
        if version is None:
            cookie_kwargs: dict[str, Any] = dict(settings.get("xsrf_cookie_kwargs") or {})
            if self.current_user and "expires_days" not in cookie_kwargs:
                cookie_kwargs["expires_days"] = 30
            self.set_cookie(self._xsrf_cookie_name(), rendered, **cookie_kwargs)
        return rendered

    def _xsrf_cookie_name(self) -> str:
        name: str = self.settings.get("xsrf_cookie_name", "_xsrf")
        return name

    def _get_raw_xsrf_token(self) -> tuple[int | None, bytes, float]:
        """The unmasked token from the cookie, or a new one (version ``None``)."""
        try:
            return self._raw_xsrf_token
        except AttributeError:
            pass
        cookie = self.get_cookie(self._xsrf_cookie_name())
        version: int | None = None
        token: bytes | None = None
        timestamp: float | None = None
        if cookie:
            version, token, timestamp = _decode_token(cookie)
        if token is None or timestamp is None:
            version, token, timestamp = None, os.urandom(_TOKEN_BYTES), time.time()
        self._raw_xsrf_token = (version, token, timestamp)
        return self._raw_xsrf_token

    def check_xsrf_cookie(self) -> None:
        """Refuse the request (403) unless it echoes the XSRF cookie's token.

        Called for unsafe methods when the ``xsrf_cookies`` setting is on. Override it
        to exempt a handler (an API authenticated by other means). The token is read
        from the ``_xsrf`` argument, then the ``X-XSRFToken`` and ``X-CSRFToken``
        headers.
        """
        headers = self.request.headers
        token = (
            self.get_argument("_xsrf", None)
            or headers.get("X-Xsrftoken")
            or headers.get("X-Csrftoken")
        )
        if not token:
            raise HTTPError(403, "'_xsrf' argument missing from POST")
        _, raw, _ = _decode_token(token)
        if not raw:
            raise HTTPError(403, "'_xsrf' argument has invalid format")
        _, expected, _ = self._get_raw_xsrf_token()
        if not hmac.compare_digest(raw, expected):
            raise HTTPError(403, "XSRF cookie does not match POST argument")

    def xsrf_form_html(self) -> str:
        """A hidden ``<input>`` carrying the XSRF token, for every form that POSTs."""
        return '<input type="hidden" name="_xsrf" value="' + xhtml_escape(self.xsrf_token) + '"/>'

    def check_trusted_origin(self, origin: str) -> bool:
        """Whether requests from ``origin`` (``scheme://host[:port]``) are trusted.

        The default accepts the origins listed in the ``trusted_origins`` setting
        (compared without case). Cross-origin protection and WebSocket origin checks
        both ask it; override it for patterns or lookups.
        """
        trusted = self.settings.get("trusted_origins")
        if not trusted:
            return False
        return origin.lower() in {entry.lower().rstrip("/") for entry in trusted}

    def check_cross_origin_request(self) -> None:
        """Refuse (403) an unsafe request a browser made on behalf of another origin.

        Called for unsafe methods when the ``cross_origin_protection`` setting is on.
        ``Sec-Fetch-Site: same-origin`` or ``none`` (the user typed it) passes; any
        other value fails unless :meth:`check_trusted_origin` accepts the ``Origin``.
        Without ``Sec-Fetch-Site`` (older browsers), an ``Origin`` whose host differs
        from the request's ``Host`` fails the same way; a request with neither header
        did not come from a browser page and passes.
        """
        headers = self.request.headers
        fetch_site = headers.get("Sec-Fetch-Site")
        origin = headers.get("Origin")
        if fetch_site is not None:
            if fetch_site.strip().lower() in ("same-origin", "none"):
                return
        elif origin is None or _origin_host(origin) == self.request.host.lower():
            return
        if origin is not None and origin != "null" and self.check_trusted_origin(origin):
            return
        if fetch_site is not None:
            raise HTTPError(
                403, "Sec-Fetch-Site %s request from Origin %s not allowed", fetch_site, origin
            )
        raise HTTPError(403, "Cross-origin request from Origin %s not allowed", origin)


def _origin_host(origin: str) -> str | None:
    """The ``host[:port]`` part of an ``Origin`` value (RFC 6454, section 7), lowercased."""
    parsed = urllib.parse.urlsplit(origin.strip())
    if not parsed.scheme or not parsed.netloc:
        return None
    return parsed.netloc.lower()
