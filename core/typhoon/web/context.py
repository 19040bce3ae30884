"""The request being served, reachable from anywhere in its call stack.

Layer 5 (web). Imports only the standard library; handler and request types are named
for the checker only.

The handler that serves a request is stored in a :mod:`contextvars` variable for the
whole of its run (``prepare``, the verb method and everything they await, including
tasks they create), so a log filter or a helper deep in a call stack can find the
request without it being passed around. Outside a request the value is ``None``.
:class:`RequestContextFilter` uses it to put request fields on log records.
"""

from __future__ import annotations

__all__ = ["RequestContextFilter", "current_handler", "current_request"]

import contextvars
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typhoon.httputil import HTTPServerRequest
    from typhoon.web.handler import RequestHandler

_current_handler: contextvars.ContextVar[RequestHandler | None] = contextvars.ContextVar(
    "typhoon_current_handler", default=None
)


def current_handler() -> RequestHandler | None:
    """The handler serving the request this code runs for, or ``None`` outside one."""
    return _current_handler.get()


def current_request() -> HTTPServerRequest | None:
    """The request this code runs for, or ``None`` outside one."""
    handler = _current_handler.get()
    return None if handler is None else handler.request


class RequestContextFilter(logging.Filter):
    """Adds the current request to every log record it sees.

    Attach it to a handler (``logging.Handler.addFilter``) and use the fields in the
    format string: ``%(http_method)s``, ``%(http_path)s``, ``%(remote_ip)s``. Outside a
    request the fields are ``"-"``. The record is never dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        if request is None:
            record.http_method = record.http_path = record.remote_ip = "-"
        else:
            record.http_method = request.method or "-"
            record.http_path = request.path or "-"
            record.remote_ip = request.remote_ip or "-"
        return True
