"""The connection context of a server connection: who is on the other end.

Layer 4 (private to ``typhoon.httpserver`` and ``typhoon._h1wire``): imports
:mod:`typhoon.netutil`, :mod:`typhoon.httputil` (for type hints) and the standard
library.

:class:`~typhoon.httputil.HTTPServerRequest` reads ``remote_ip`` and ``protocol`` from
``request.connection.context``. With ``xheaders`` the server replaces them, for the
length of one request, with what a trusted proxy reported.
"""

from __future__ import annotations

__all__ = ["RequestContext"]

import socket
from typing import Any, Final

from typhoon.httputil import HTTPHeaders
from typhoon.netutil import is_valid_ip

_INET: Final = (socket.AF_INET, socket.AF_INET6)


class RequestContext:
    """What requests learn about their connection: ``remote_ip``, ``protocol``, ``address``.

    The transport-driven server connection is its own context (one object less per
    connection); the stream path makes one of these per connection.
    """

    __slots__ = (
        "_orig_protocol",
        "_orig_remote_ip",
        "address",
        "address_family",
        "protocol",
        "remote_ip",
        "trusted_downstream",
    )

    def __init__(
        self, address: Any, family: int, protocol: str, trusted_downstream: frozenset[str]
    ) -> None:
        #: The peer's socket address as ``accept`` returned it.
        self.address = address
        #: The socket family (``AF_INET``, ``AF_INET6``, ``AF_UNIX``).
        self.address_family = family
        #: The client's address; ``0.0.0.0`` on Unix sockets, which have none to report.
        self.remote_ip: str = address[0] if family in _INET and address else "0.0.0.0"
        #: ``"http"`` or ``"https"``.
        self.protocol = protocol
        self._orig_remote_ip = self.remote_ip
        self._orig_protocol = protocol
        #: Proxy addresses skipped in ``X-Forwarded-For``.
        self.trusted_downstream = trusted_downstream

    def __str__(self) -> str:
        if self.address_family in _INET:
            return self.remote_ip
        if isinstance(self.address, bytes):
            return self.address.decode("latin-1")
        return str(self.address)

    def _apply_xheaders(self, headers: HTTPHeaders) -> None:
        """Take ``remote_ip`` and ``protocol`` from the proxy's headers."""
        forwarded = headers.get("X-Forwarded-For", self.remote_ip)
        ip = self.remote_ip
        # The rightmost address not belonging to a trusted proxy is the client's.
        for candidate in reversed(forwarded.split(",")):
            ip = candidate.strip()
            if ip not in self.trusted_downstream:
                break
        ip = headers.get("X-Real-Ip", ip)
        if is_valid_ip(ip):
            self.remote_ip = ip
        scheme = headers.get("X-Scheme", headers.get("X-Forwarded-Proto", self.protocol))
        if scheme:
            # A chain of proxies appends; the last hop is the one we trust.
            scheme = scheme.split(",")[-1].strip()
        if scheme in ("http", "https"):
            self.protocol = scheme

    def _unapply_xheaders(self) -> None:
        """Back to the connection's own values (the next request may differ)."""
        self.remote_ip = self._orig_remote_ip
        self.protocol = self._orig_protocol
