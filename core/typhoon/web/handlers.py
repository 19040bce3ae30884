"""Ready-made handlers: redirect, fixed error, and a fallback to another server callable.

Layer 5 (web). Imports ``typhoon.httputil``, ``typhoon.errors`` and
``typhoon.web.handler``.
"""

from __future__ import annotations

__all__ = ["ErrorHandler", "FallbackHandler", "RedirectHandler"]

import re
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


class _AnyField:
    """Formats as ``x`` whatever the format spec: a stand-in for substituted values."""

    def __format__(self, spec: str) -> str:
        return "x"

    def __getattr__(self, name: str) -> _AnyField:
        return self

    def __getitem__(self, key: object) -> _AnyField:
        return self


class _AnyArgs(dict[str, Any]):
    def __missing__(self, key: str) -> _AnyField:
        return _AnyField()


# Browsers (WHATWG URL, special schemes) read "\" as "/" and skip any run of slashes
# before the authority, so "/\host" and "///host" name a host just like "//host".
_EXTRA_SLASHES_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?/{2,}")


def _origin(url: str) -> tuple[str, str]:
    """The (scheme, authority) a browser would take from ``url``, lowercased."""
    normalized = _EXTRA_SLASHES_RE.sub(r"\1//", url.strip().replace("\\", "/"))
    parts = urllib.parse.urlsplit(normalized)
    return parts.scheme.lower(), parts.netloc.lower()


class RedirectHandler(RequestHandler):
    """Redirects every GET to ``url`` (301 unless ``permanent=False``).

    ``url`` may use the URL pattern's groups through :meth:`str.format` fields
    (``"/new/{0}"``); the request's query string is carried over. A substitution that
    would change the scheme or host of the target (``"/{0}"`` with ``"/evil.example"``)
    is refused with 400, so a redirect rule cannot become an open redirect.
    """

    def initialize(self, url: str, permanent: bool = True) -> None:  # type: ignore[override]
        """Receive the target URL template and whether the redirect is permanent."""
        self._url = url
        self._permanent = permanent
        self._template_origin: tuple[str, str] | None = None

    def get(self, *args: Any, **kwargs: Any) -> None:
        """Redirect to the substituted URL."""
        target = self._url.format(*args, **kwargs)
        if (args or kwargs) and _origin(target) != self._origin_of_template(len(args)):
            raise HTTPError(400, "redirect target %r changes the scheme or host", target)
        query_arguments = self.request.query_arguments
        if query_arguments:
            # Values stay bytes so that the client's query is carried over unchanged.
            query = urllib.parse.urlencode(
                [(name, value) for name, values in query_arguments.items() for value in values]
            )
            target += ("&" if "?" in target else "?") + query
        self.redirect(target, permanent=self._permanent)

    def _origin_of_template(self, positional: int) -> tuple[str, str]:
        origin = self._template_origin
        if origin is None:
            filled = (
                self._url.format_map(_AnyArgs())
                if positional == 0
                else self._url.format(*([_AnyField()] * positional), **_AnyArgs())
            )
            origin = self._template_origin = _origin(filled)
        return origin


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
