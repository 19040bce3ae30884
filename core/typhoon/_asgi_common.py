"""What both directions of typhoon's ASGI support share: the ASGI types and conversions.

Layer 4 (private to :mod:`typhoon.asgi`). Imports :mod:`typhoon.httputil`,
:mod:`typhoon.errors`, :mod:`typhoon.log` and the standard library.

The ASGI 3 specification (asgi.readthedocs.io, "HTTP & WebSocket ASGI Message Format",
version 2.4) fixes the shapes used here: header names and values are byte strings,
names lower-cased; ``path`` is percent-decoded UTF-8 text while ``raw_path`` and
``query_string`` are the bytes as received.
"""

from __future__ import annotations

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "asgi_headers",
    "asgi_version",
    "check_status",
    "header_fields",
    "is_websocket_upgrade",
    "log_access",
    "split_target",
]

import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, TypeAlias

from typhoon.errors import ASGIError
from typhoon.httputil import HTTPHeaders
from typhoon.log import access_log

#: An ASGI connection scope.
Scope: TypeAlias = MutableMapping[str, Any]
#: An ASGI event message.
Message: TypeAlias = MutableMapping[str, Any]
#: The ``receive`` awaitable callable given to an application.
Receive: TypeAlias = Callable[[], Awaitable[Message]]
#: The ``send`` awaitable callable given to an application.
Send: TypeAlias = Callable[[Message], Awaitable[None]]
#: An ASGI 3 application: ``await app(scope, receive, send)``.
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

# RFC 9110, section 5.1: field names are tokens; section 5.5: values are visible
# characters, obs-text, spaces and tabs, never CR, LF or NUL.
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


def asgi_version() -> dict[str, str]:
    """The ``asgi`` key of every scope typhoon makes (a new dict each time)."""
    return {"version": "3.0", "spec_version": "2.4"}


def asgi_headers(headers: HTTPHeaders) -> list[tuple[bytes, bytes]]:
    """Request headers as ASGI wants them: lower-cased latin-1 names, latin-1 values."""
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in headers.get_all()
    ]


def header_fields(pairs: Iterable[Any], what: str) -> list[tuple[str, str]]:
    """Check the headers an ASGI message carries and return them as text pairs.

    Raises:
        ASGIError: a pair is not two byte strings, a name is not a token, or a value
            holds CR, LF, NUL or another control character (response splitting).
    """
    fields: list[tuple[str, str]] = []
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError) as exc:
            raise ASGIError(f"{what}: a header must be a [name, value] pair") from exc
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise ASGIError(f"{what}: header names and values must be bytes")
        if _TOKEN_RE.fullmatch(name) is None:
            raise ASGIError(f"{what}: invalid header name {name[:64]!r}")
        if _FIELD_VALUE_RE.fullmatch(value) is None:
            raise ASGIError(f"{what}: invalid characters in the value of header {name!r}")
        fields.append((name.decode("latin-1"), value.decode("latin-1")))
    return fields


def check_status(status: Any, what: str) -> int:
    """Validate an ASGI response status: an int for a final response (200-599).

    Raises:
        ASGIError: anything else (informational statuses cannot be sent this way).
    """
    if type(status) is not int or not 200 <= status <= 599:
        raise ASGIError(f"{what}: status must be an int from 200 to 599, not {status!r}")
    return status


def split_target(target: str) -> tuple[str, bytes, bytes]:
    """Split an origin-form request-target into ``path``, ``raw_path``, ``query_string``.

    ``path`` is percent-decoded as UTF-8 (undecodable bytes become U+FFFD, as in other
    ASGI servers); the other two are the bytes as received.
    """
    raw_path, _, query = target.partition("?")
    raw = raw_path.encode("latin-1", "replace")
    path = urllib.parse.unquote_to_bytes(raw).decode("utf-8", "replace")
    return path, raw, query.encode("latin-1", "replace")


def is_websocket_upgrade(method: str, headers: HTTPHeaders) -> bool:
    """Whether a request asks to switch to WebSocket (RFC 6455, section 4.1)."""
    if method != "GET":
        return False
    upgrade = headers.get("Upgrade")
    if upgrade is None:
        return False
    return any(token.strip().lower() == "websocket" for token in upgrade.split(","))


def log_access(status: int, method: str, uri: str, remote_ip: str | None, start: float) -> None:
    """Write the access-log line of an exchange, at the level its status deserves."""
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if access_log.isEnabledFor(level):
        access_log.log(
            level,
            "%d %s %s (%s) %.2fms",
            status,
            method,
            uri,
            remote_ip,
            1000.0 * (time.monotonic() - start),
        )
