"""``TwistedResolver``: typhoon's :class:`~typhoon.netutil.Resolver` on ``twisted.names``.

Names are looked up without threads: first in a hosts file, then in Twisted's cache,
then by asking DNS servers (those of ``resolv.conf`` or the ones given) over UDP, with
TCP for truncated answers, all on the shared event loop through Twisted's reactor.
"""

from __future__ import annotations

__all__ = ["TwistedResolver"]

import asyncio
import os
import socket
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import TimeoutError as DeferredTimeoutError
from twisted.internet.interfaces import IResolver
from twisted.names import cache, client, dns, hosts, resolve
from twisted.names.error import DNSQueryTimeoutError, DomainError
from typhoon.netutil import Resolver, is_valid_ip

from typhoon_twisted_bridge.deferred import deferred_to_future
from typhoon_twisted_bridge.reactor import ensure_reactor

_DEFAULT_HOSTS = "/etc/hosts"
_DEFAULT_RESOLV_CONF = "/etc/resolv.conf"


class TwistedResolver(Resolver):
    """A resolver that asks Twisted's DNS client instead of the system's ``getaddrinfo``.

    The answer has the shape of every typhoon resolver: ``(family, address)`` pairs
    with ``(host, port)`` for IPv4 and ``(host, port, 0, 0)`` for IPv6, IPv4 first.
    ``AF_UNSPEC`` asks for A and AAAA records at once. Address literals are returned
    without a lookup. Twisted's asyncio reactor is installed on the current loop when it
    is not there yet.

    Args:
        hosts_file: The hosts(5) file consulted first; ``None`` skips it.
        resolv_conf: The resolv.conf(5) file naming the DNS servers; ``None`` uses only
            ``servers``. Twisted re-reads it when it changes.
        servers: ``(ip, port)`` of DNS servers, used instead of ``resolv_conf``'s.
        timeout: Seconds to wait for each attempt of a DNS query (Twisted retries
            with the next value); the default is Twisted's ``(1, 3, 11, 45)``.
        resolver: A ready ``twisted.names`` resolver (``IResolver``) to use instead of
            the chain built from the arguments above.
    """

    def __init__(
        self,
        *,
        hosts_file: str | os.PathLike[str] | None = _DEFAULT_HOSTS,
        resolv_conf: str | os.PathLike[str] | None = _DEFAULT_RESOLV_CONF,
        servers: Sequence[tuple[str, int]] | None = None,
        timeout: Sequence[int] | None = None,
        resolver: Any = None,
    ) -> None:
        self._timeout = tuple(timeout) if timeout is not None else None
        self._dns_client: client.Resolver | None = None
        if resolver is not None:
            if not IResolver.providedBy(resolver):
                raise TypeError(f"{resolver!r} does not provide twisted's IResolver")
            self._resolver: Any = resolver
            return
        reactor = ensure_reactor()
        chain: list[Any] = []
        if hosts_file is not None:
            chain.append(hosts.Resolver(file=os.fsencode(hosts_file)))
        if resolv_conf is not None or servers:
            chain.append(cache.CacheResolver(reactor=reactor))
            self._dns_client = client.Resolver(
                resolv=None if servers else _path(resolv_conf),
                servers=list(servers) if servers else None,
                reactor=reactor,
            )
            chain.append(self._dns_client)
        self._resolver = resolve.ResolverChain(chain)

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """Resolve ``host`` for a TCP connection to ``port``; see :meth:`Resolver.resolve`.

        Raises:
            socket.gaierror: no address of the requested family was found, the name
                does not exist, or the DNS servers did not answer in time.
        """
        if is_valid_ip(host):
            literal_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            if family not in (socket.AF_UNSPEC, literal_family):
                raise socket.gaierror(
                    socket.EAI_ADDRFAMILY, f"{host} is not an address of family {family!r}"
                )
            return [(literal_family, _sockaddr(literal_family, host, port))]
        families = [socket.AF_INET, socket.AF_INET6] if family == socket.AF_UNSPEC else [family]
        if any(f not in (socket.AF_INET, socket.AF_INET6) for f in families):
            raise socket.gaierror(socket.EAI_FAMILY, f"unsupported address family {family!r}")
        outcomes = await asyncio.gather(
            *(self._lookup(host, f) for f in families), return_exceptions=True
        )
        found: list[tuple[int, Any]] = []
        errors: list[BaseException] = []
        for lookup_family, outcome in zip(families, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                errors.append(outcome)
                continue
            found.extend((lookup_family, _sockaddr(lookup_family, ip, port)) for ip in outcome)
        if found:
            return found
        raise _resolution_error(host, errors)

    def close(self) -> None:
        """Stop the DNS client's periodic re-reading of ``resolv.conf``."""
        dns_client = self._dns_client
        if dns_client is None:
            return
        parse_call = getattr(dns_client, "_parseCall", None)
        if parse_call is not None and parse_call.active():
            parse_call.cancel()
        self._dns_client = None

    async def _lookup(self, host: str, family: socket.AddressFamily) -> list[str]:
        """The addresses of one family that the records for ``host`` give."""
        if family == socket.AF_INET:
            deferred = self._resolver.lookupAddress(host, self._timeout)
        else:
            deferred = self._resolver.lookupIPV6Address(host, self._timeout)
        answers, _authority, _additional = await deferred_to_future(deferred)
        addresses = []
        for record in answers:
            if record.type == dns.A and family == socket.AF_INET:
                addresses.append(socket.inet_ntop(socket.AF_INET, record.payload.address))
            elif record.type == dns.AAAA and family == socket.AF_INET6:
                addresses.append(socket.inet_ntop(socket.AF_INET6, record.payload.address))
        if not addresses:
            raise DomainError(host)
        return addresses


def _path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _sockaddr(family: int, ip: str, port: int) -> tuple[Any, ...]:
    """The socket address ``connect`` takes, as ``getaddrinfo`` gives it."""
    if family == socket.AF_INET6:
        return (ip, port, 0, 0)
    return (ip, port)


def _resolution_error(host: str, errors: Sequence[BaseException]) -> socket.gaierror:
    """The ``gaierror`` for a name that gave no address, chained to the DNS failure."""
    timeouts = (DNSQueryTimeoutError, DeferredTimeoutError)
    cause = next((e for e in errors if not isinstance(e, (DomainError, *timeouts))), None)
    if cause is not None:
        error = socket.gaierror(socket.EAI_FAIL, f"{host}: lookup failed: {cause!r}")
    elif any(isinstance(e, timeouts) for e in errors):
        cause = next(e for e in errors if isinstance(e, timeouts))
        error = socket.gaierror(socket.EAI_AGAIN, f"{host}: DNS servers did not answer")
    else:
        cause = errors[0] if errors else None
        error = socket.gaierror(socket.EAI_NONAME, f"{host}: name or service not known")
    error.__cause__ = cause
    return error
