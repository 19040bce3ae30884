"""Ready-made handlers: redirect, fixed error, and a fallback to another server callable.

Layer 5 (web). Imports ``typhoon.httputil``, ``typhoon.errors`` and
``typhoon.web.handler``.
"""

from __future__ import annotations

__all__ = ["ErrorHandler", "FallbackHandler", "RedirectHandler"]

import re
import string
import urllib.parse
from collections.abc import Callable
from typing import Any

from typhoon import httputil
from typhoon.errors import HTTPError
from typhoon.web.handler import RequestHandler


class ErrorHandler(RequestHandler):
    """Answers every request with ``status_code`` (the application's 404 for unmatched URLs).

    XSRF and cross-origin checks are skipped, so a POST to a missing page gets the
    error status, not a 403.
    """

    def initialize(self, status_code: int) -> None:  # type: ignore[override]
        """Receive the status to answer with."""
        self.set_status(status_code)

    def prepare(self) -> None:
        """Refuse the request with the configured status."""
        raise HTTPError(self._status_code)

    def check_xsrf_cookie(self) -> None:
        """Skipped: the request is refused anyway."""

    def check_cross_origin_request(self) -> None:
        """Skipped: the request is refused anyway."""


# Browsers (WHATWG URL) read "\" as "/" and skip any run of slashes before the
# authority, so "/\host" and "///host" name a host just like "//host". For the special
# schemes they skip the slashes entirely: from an http page, "https:host" and
# "https:/host" both lead to https://host/.
_EXTRA_SLASHES_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?/{2,}")
_SPECIAL_SCHEME_RE = re.compile(r"^((?:https?|wss?|ftp):)/*", re.IGNORECASE)
# C0 controls and DEL: refused in header values (RFC 9110, section 5.5), and browsers
# silently drop tabs and newlines inside URLs, which would hide slashes from the check.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_FORMATTER = string.Formatter()


def _origin(url: str) -> tuple[str, str]:
    """The (scheme, authority) a browser would take from ``url``, lowercased.

    Raises:
        ValueError: ``url`` cannot be split (an unbalanced ``[`` in the authority).
    """
    normalized = url.strip().replace("\\", "/")
    normalized = _EXTRA_SLASHES_RE.sub(r"\1//", normalized)
    normalized = _SPECIAL_SCHEME_RE.sub(r"\1//", normalized)
    parts = urllib.parse.urlsplit(normalized)
    return parts.scheme.lower(), parts.netloc.lower()


def _fixed_prefix(template: str) -> str | None:
    """The literal text of ``template`` before its first field, or None without fields."""
    prefix: list[str] = []
    for literal, field, _spec, _conversion in _FORMATTER.parse(template):
        prefix.append(literal)
        if field is not None:
            return "".join(prefix)
    return None


class RedirectHandler(RequestHandler):
    """Redirects every GET to ``url`` (301 unless ``permanent=False``).

    ``url`` may use the URL pattern's groups through :meth:`str.format` fields
    (``"/new/{0}"``, ``"https://example.com{0}"``); the request's query string is
    carried over. Substituted values can only add to the path, query or fragment: one
    that would change the scheme or host given by the text before the first field
    (``"/{0}"`` with ``"/evil.example"``, ``"https:{0}"`` with ``"evil.example"``), or
    that holds control characters, is refused with 400, so a redirect rule cannot become
    an open redirect or split the response.
    """

    def initialize(self, url: str, permanent: bool = True) -> None:  # type: ignore[override]
        """Receive the target URL template and whether the redirect is permanent."""
        self._url = url
        self._permanent = permanent
        prefix = _fixed_prefix(url)
        self._template_origin = None if prefix is None else _origin(prefix)

    def get(self, *args: Any, **kwargs: Any) -> None:
        """Redirect to the substituted URL."""
        target = self._url.format(*args, **kwargs)
        if self._template_origin is not None:
            self._check_substitution(target, [*args, *kwargs.values()])
        query_arguments = self.request.query_arguments
        if query_arguments:
            # Values stay bytes so that the client's query is carried over unchanged.
            query = urllib.parse.urlencode(
                [(name, value) for name, values in query_arguments.items() for value in values]
            )
            target += ("&" if "?" in target else "?") + query
        self.redirect(target, permanent=self._permanent)

    def _check_substitution(self, target: str, values: list[Any]) -> None:
        if any(value is not None and _CONTROL_RE.search(str(value)) for value in values):
            raise HTTPError(400, "Redirect URL %r contains invalid characters", target)
        try:
            origin = _origin(target)
        except ValueError:
            raise HTTPError(400, "Redirect URL %r is not a valid URL", target) from None
        if origin != self._template_origin:
            raise HTTPError(400, "Redirect URL cannot change the scheme or netloc: %r", target)


class FallbackHandler(RequestHandler):
    """Hands the request to another server callable (``fallback(request)``).

    For mounting a WSGI application (``typhoon.wsgi.WSGIContainer``) or any callable
    that answers through ``request.connection`` next to typhoon handlers.
    """

    def initialize(  # type: ignore[override]
        self, fallback: Callable[[httputil.HTTPServerRequest], None]
    ) -> None:
        """Receive the callable that serves the request."""
        self.fallback = fallback

    def prepare(self) -> None:
        """Pass the request on; the fallback writes the whole response."""
        self.fallback(self.request)
        self._finished = True
        self.on_finish()
