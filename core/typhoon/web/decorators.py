"""Decorators for handler methods and classes: login required, slash policies, streaming.

Layer 5 (web). Imports ``typhoon.errors`` and ``typhoon.web.handler``.
"""

from __future__ import annotations

__all__ = ["addslash", "authenticated", "removeslash", "stream_request_body"]

import functools
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from typhoon.errors import HTTPError
from typhoon.web.handler import RequestHandler, forget_class_info

_H = TypeVar("_H", bound=type[RequestHandler])
_Method = Callable[..., Awaitable[None] | None]

# A run of slashes and backslashes at the start of a path: in a Location header it
# would make the path a reference to another host ("//evil.example", "/\\evil.example").
_LEADING_SLASHES_RE = re.compile(r"^[/\\]+")


def _same_site_path(path: str) -> str:
    """``path`` with leading slashes collapsed to one, so it stays on this host."""
    return _LEADING_SLASHES_RE.sub("/", path)


def authenticated(method: _Method) -> _Method:
    """Require a logged-in user (a true ``current_user``) for this verb method.

    Anonymous GET and HEAD requests are redirected to :meth:`get_login_url` with
    ``?next=`` set to the requested URL (relative, unless the login URL is absolute);
    other methods answer 403, since repeating them after a login would be unsafe.
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                url = self.get_login_url()
                if "?" not in url:
                    if urllib.parse.urlsplit(url).scheme:
                        next_url = self.request.full_url()
                    else:
                        next_url = self.request.uri or "/"
                    url += "?" + urllib.parse.urlencode({"next": next_url})
                self.redirect(url)
                return None
            raise HTTPError(403)
        return method(self, *args, **kwargs)

    return wrapper


def addslash(method: _Method) -> _Method:
    """Redirect GET/HEAD requests for ``/path`` to ``/path/`` (404 for other methods).

    Use with a URL pattern like ``r"/foo/?"``. The redirect never leaves the host,
    whatever slashes the request path starts with.
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        request = self.request
        if not request.path.endswith("/"):
            if request.method in ("GET", "HEAD"):
                uri = _same_site_path(request.path + "/")
                if request.query:
                    uri += "?" + request.query
                self.redirect(uri, permanent=True)
                return None
            raise HTTPError(404)
        return method(self, *args, **kwargs)

    return wrapper


def removeslash(method: _Method) -> _Method:
    """Redirect GET/HEAD requests for ``/path/`` to ``/path`` (404 for other methods).

    Use with a URL pattern like ``r"/foo/*"``. ``/`` itself is left alone, and the
    redirect never leaves the host (``//evil.example/`` goes to ``/evil.example``).
    """

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        request = self.request
        if request.path.endswith("/"):
            if request.method in ("GET", "HEAD"):
                uri = request.path.rstrip("/")
                if uri:
                    uri = _same_site_path(uri)
                    if request.query:
                        uri += "?" + request.query
                    self.redirect(uri, permanent=True)
                    return None
            else:
                raise HTTPError(404)
        return method(self, *args, **kwargs)

    return wrapper


def stream_request_body(cls: _H) -> _H:
    """Class decorator: deliver the request body to ``data_received`` as it arrives.

    ``prepare`` runs when the headers arrive (raise the body limit there with
    ``self.request.connection.set_max_body_size(n)``); ``data_received(chunk)``, which
    may be async for flow control, gets each piece; the verb method runs once the body
    is complete. ``request.body`` and body arguments are not filled in this mode.
    """
    if not (isinstance(cls, type) and issubclass(cls, RequestHandler)):
        raise TypeError(f"expected a RequestHandler subclass, got {cls!r}")
    cls._stream_request_body = True
    forget_class_info(cls)
    return cls
