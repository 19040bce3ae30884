"""The WebSocket opening handshake (RFC 6455 section 4), as pure functions.

The server side validates a request's method, version and headers
(:func:`validate_client_handshake`) and builds the 101 response headers
(:func:`accept_client_handshake`). The client side is :class:`ClientHandshake`: it
holds the key and the offers, produces the request headers and checks the response.
The HTTP request line, ``Host`` and the status line belong to the HTTP layer.

A refused handshake raises :class:`~typhoon.errors.WebSocketHandshakeError` whose
``status_code`` and ``headers`` are the error response to send (for example 426 with
``Sec-WebSocket-Version: 13``).
"""

from __future__ import annotations

__all__ = [
    "WEBSOCKET_GUID",
    "ClientHandshake",
    "HandshakeAccept",
    "HandshakeRequest",
    "HeadersLike",
    "accept_client_handshake",
    "compute_accept",
    "generate_key",
    "validate_client_handshake",
    "verify_accept",
]

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._wsdeflate import (
    DeflateOptions,
    DeflateParams,
    Extension,
    client_deflate_params,
    parse_extensions,
    server_negotiate_deflate,
)
from .errors import ConfigurationError, WebSocketHandshakeError, WebSocketOutputError

#: RFC 6455 section 1.3: appended to the key before hashing.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Header collections the helpers accept: ``(name, value)`` pairs, or a mapping whose
#: values of repeated headers are joined with commas (as ``HTTPHeaders`` does). Names
#: are matched case-insensitively.
HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HTTP_VERSION_RE = re.compile(r"HTTP/(\d)\.(\d)")


def compute_accept(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value answering ``key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_accept(key: str, accept: str) -> bool:
    """Whether ``accept`` is the right answer to ``key``, compared in constant time."""
    return hmac.compare_digest(compute_accept(key).encode(), accept.strip().encode())


def generate_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 encoded (section 4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def _header_values(headers: HeadersLike, name: str) -> list[str]:
    wanted = name.lower()
    items: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    return [str(value).strip() for key, value in items if str(key).lower() == wanted]


def _tokens(values: Iterable[str]) -> list[str]:
    """Split comma-separated list headers (RFC 7230 section 7), dropping empty items."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _key_is_valid(key: str) -> bool:
    # Section 4.1: a base64-encoded random 16-byte value. Only the canonical encoding
    # of exactly 16 bytes (24 characters ending in "==") is accepted.
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 16 and base64.b64encode(raw).decode("ascii") == key


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    """A client's opening handshake that passed validation (server side).

    ``subprotocols`` lists the offered ``Sec-WebSocket-Protocol`` values in the
    client's order of preference; ``extensions`` the parsed
    ``Sec-WebSocket-Extensions`` offers.
    """

    key: str
    host: str
    origin: str | None
    subprotocols: tuple[str, ...]
    extensions: tuple[Extension, ...]


@dataclass(frozen=True, slots=True)
class HandshakeAccept:
    """The outcome of a successful handshake, on either side.

    ``headers`` are the handshake headers of the 101 response (built by the server;
    as received, for the client). ``subprotocol`` and ``deflate`` are what both sides
    agreed on; pass ``deflate`` to :class:`typhoon.wsproto.WebSocketCodec`.
    """

    headers: tuple[tuple[str, str], ...]
    subprotocol: str | None
    deflate: DeflateParams | None


def validate_client_handshake(
    method: str, http_version: str, headers: HeadersLike
) -> HandshakeRequest:
    """Check an opening handshake request (RFC 6455 section 4.2.1).

    ``http_version`` is the request line's version, such as ``"HTTP/1.1"``. Raises
    :class:`~typhoon.errors.WebSocketHandshakeError`: 405 (with ``Allow: GET``) for
    another method, 400 for HTTP/1.0, a missing ``Host``, an ``Upgrade`` without
    ``websocket``, a ``Connection`` without ``upgrade``, a key that is not the base64
    of 16 bytes, or malformed list headers; 426 with ``Sec-WebSocket-Version: 13`` for
    any version other than 13.
    """
    if method != "GET":
        raise WebSocketHandshakeError(
            f"WebSocket handshake must use GET, not {method}",
            status_code=405,
            headers=(("Allow", "GET"),),
        )
    version = _HTTP_VERSION_RE.fullmatch(http_version)
    if version is None or (int(version.group(1)), int(version.group(2))) < (1, 1):
        raise WebSocketHandshakeError(f"WebSocket handshake needs HTTP/1.1, got {http_version}")
    hosts = _header_values(headers, "Host")
    if len(hosts) != 1 or not hosts[0]:
        raise WebSocketHandshakeError("WebSocket handshake needs exactly one Host header")
    if "websocket" not in (t.lower() for t in _tokens(_header_values(headers, "Upgrade"))):
        raise WebSocketHandshakeError('Can "Upgrade" only to "websocket"')
    if "upgrade" not in (t.lower() for t in _tokens(_header_values(headers, "Connection"))):
        raise WebSocketHandshakeError('"Connection" must include "Upgrade"')
    # Section 4.4: an unsupported version is answered with 426 and the versions we do.
    versions = _header_values(headers, "Sec-WebSocket-Version")
    if versions != ["13"]:
        raise WebSocketHandshakeError(
            f"unsupported Sec-WebSocket-Version {', '.join(versions) or '(none)'}",
            status_code=426,
            headers=(("Sec-WebSocket-Version", "13"),),
        )
    keys = _header_values(headers, "Sec-WebSocket-Key")
    if len(keys) != 1 or not _key_is_valid(keys[0]):
        raise WebSocketHandshakeError("Sec-WebSocket-Key must be the base64 of 16 bytes")
    subprotocols = _tokens(_header_values(headers, "Sec-WebSocket-Protocol"))
    for subprotocol in subprotocols:
        if _TOKEN_RE.fullmatch(subprotocol) is None:
            raise WebSocketHandshakeError(f"invalid subprotocol {subprotocol!r}")
    extensions = parse_extensions(_header_values(headers, "Sec-WebSocket-Extensions"))
    origins = _header_values(headers, "Origin") or _header_values(headers, "Sec-WebSocket-Origin")
    return HandshakeRequest(
        key=keys[0],
        host=hosts[0],
        origin=origins[0] if origins else None,
        subprotocols=tuple(subprotocols),
        extensions=tuple(extensions),
    )


def accept_client_handshake(
    request: HandshakeRequest,
    *,
    subprotocol: str | None = None,
    deflate: DeflateOptions | None = None,
) -> HandshakeAccept:
    """Build the 101 response headers for a validated request (section 4.2.2).

    ``subprotocol`` must be one the client offered (raises
    :class:`~typhoon.errors.WebSocketOutputError` otherwise). With ``deflate`` set the
    first acceptable permessage-deflate offer is accepted; when none is acceptable the
    connection runs uncompressed and ``deflate`` in the result is ``None``.
    """
    if subprotocol is not None and subprotocol not in request.subprotocols:
        raise WebSocketOutputError(f"subprotocol {subprotocol!r} was not offered by the client")
    headers: list[tuple[str, str]] = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", compute_accept(request.key)),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    agreed: DeflateParams | None = None
    if deflate is not None:
        negotiated = server_negotiate_deflate(request.extensions, deflate)
        if negotiated is not None:
            agreed, value = negotiated
            headers.append(("Sec-WebSocket-Extensions", value))
    return HandshakeAccept(headers=tuple(headers), subprotocol=subprotocol, deflate=agreed)


class ClientHandshake:
    """The client half of the opening handshake (RFC 6455 section 4.1).

    Create one per connection attempt, send :meth:`request_headers` with a GET
    request (plus ``Host``), then pass the response to :meth:`validate_response`.
    """

    __slots__ = ("deflate", "key", "origin", "subprotocols")

    def __init__(
        self,
        *,
        subprotocols: Sequence[str] = (),
        deflate: DeflateOptions | None = None,
        origin: str | None = None,
        key: str | None = None,
    ) -> None:
        for subprotocol in subprotocols:
            if _TOKEN_RE.fullmatch(subprotocol) is None:
                raise ConfigurationError(f"subprotocol {subprotocol!r} is not an HTTP token")
        if key is not None and not _key_is_valid(key):
            raise ConfigurationError("key must be the base64 of 16 bytes")
        self.subprotocols: tuple[str, ...] = tuple(subprotocols)
        self.deflate = deflate
        self.origin = origin
        self.key: str = key if key is not None else generate_key()

    def request_headers(self) -> list[tuple[str, str]]:
        """The WebSocket headers of the opening request."""
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", self.key),
            ("Sec-WebSocket-Version", "13"),
        ]
        if self.origin is not None:
            headers.append(("Origin", self.origin))
        if self.subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(self.subprotocols)))
        if self.deflate is not None:
            headers.append(("Sec-WebSocket-Extensions", self.deflate.client_offer()))
        return headers

    def validate_response(self, status_code: int, headers: HeadersLike) -> HandshakeAccept:
        """Check the server's response (section 4.1, steps 1-6 of the response rules).

        Raises :class:`~typhoon.errors.WebSocketHandshakeError`: with the server's status
        when it is not 101, otherwise with 400 for a bad ``Upgrade``, ``Connection`` or
        ``Sec-WebSocket-Accept``, a subprotocol or extension the client did not offer.
        """
        if status_code != 101:
            raise WebSocketHandshakeError(
                f"server answered {status_code} instead of 101", status_code=status_code
            )
        if [t.lower() for t in _tokens(_header_values(headers, "Upgrade"))] != ["websocket"]:
            raise WebSocketHandshakeError('response "Upgrade" is not "websocket"')
        if "upgrade" not in (t.lower() for t in _tokens(_header_values(headers, "Connection"))):
            raise WebSocketHandshakeError('response "Connection" does not include "Upgrade"')
        accepts = _header_values(headers, "Sec-WebSocket-Accept")
        if len(accepts) != 1 or not verify_accept(self.key, accepts[0]):
            raise WebSocketHandshakeError("wrong Sec-WebSocket-Accept")
        protocols = _tokens(_header_values(headers, "Sec-WebSocket-Protocol"))
        subprotocol: str | None = None
        if protocols:
            if len(protocols) > 1 or protocols[0] not in self.subprotocols:
                raise WebSocketHandshakeError(
                    f"server selected a subprotocol not offered: {', '.join(protocols)}"
                )
            subprotocol = protocols[0]
        extensions = parse_extensions(_header_values(headers, "Sec-WebSocket-Extensions"))
        agreed = client_deflate_params(extensions, self.deflate)
        kept = (
            "upgrade",
            "connection",
            "sec-websocket-accept",
            "sec-websocket-protocol",
            "sec-websocket-extensions",
        )
        handshake_headers = tuple(
            (name, value) for name in kept for value in _header_values(headers, name)
        )
        return HandshakeAccept(headers=handshake_headers, subprotocol=subprotocol, deflate=agreed)
