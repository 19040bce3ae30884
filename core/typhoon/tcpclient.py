"""Outgoing TCP connections with "happy eyeballs" across address families.

Layer 3 (tcp): imports the standard library, :mod:`typhoon.iostream`,
:mod:`typhoon.netutil` and :mod:`typhoon.errors`.

Strategy (RFC 8305, simplified as Tornado does it): the resolved addresses are split
into the family of the first answer (primary) and the rest (secondary). Primary
addresses are tried one after another; if none has connected after
:data:`_INITIAL_CONNECT_TIMEOUT` seconds, or all primary attempts failed, the
secondary addresses start in parallel. The first connection to succeed wins and every
other attempt is cancelled and its socket closed.
"""

from __future__ import annotations

__all__ = ["TCPClient"]

import asyncio
import datetime
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from typhoon.errors import TyphoonTimeoutError
from typhoon.iostream import IOStream
from typhoon.netutil import Resolver

#: Seconds the primary family gets alone before the secondary family starts
#: (RFC 8305 section 5 recommends 250 ms; Tornado uses 300 ms).
_INITIAL_CONNECT_TIMEOUT = 0.3

_T = TypeVar("_T")
_Address = tuple[Any, ...]


class _Connector(Generic[_T]):
    """Races connection attempts over a list of addresses (see the module docstring).

    Args:
        addrinfo: ``(family, address)`` pairs in preference order.
        connect: Opens one connection; must close its socket when cancelled.
        close: Closes a connection that lost the race.
    """

    def __init__(
        self,
        addrinfo: list[tuple[int, _Address]],
        connect: Callable[[socket.AddressFamily, _Address], Awaitable[_T]],
        close: Callable[[_T], None],
    ) -> None:
        self.primary, self.secondary = self.split(addrinfo)
        self._connect = connect
        self._close = close
        self._last_error: BaseException | None = None

    @staticmethod
    def split(
        addrinfo: list[tuple[int, _Address]],
    ) -> tuple[list[tuple[int, _Address]], list[tuple[int, _Address]]]:
        """Split ``addrinfo`` into (addresses of the first family, all the others)."""
        if not addrinfo:
            return [], []
        primary_family = addrinfo[0][0]
        primary = [entry for entry in addrinfo if entry[0] == primary_family]
        secondary = [entry for entry in addrinfo if entry[0] != primary_family]
        return primary, secondary

    async def _try_in_order(
        self, addresses: list[tuple[int, _Address]]
    ) -> tuple[socket.AddressFamily, _Address, _T]:
        for family, address in addresses:
            af = socket.AddressFamily(family)
            try:
                return af, address, await self._connect(af, address)
            except (OSError, ssl.SSLError) as exc:
                self._last_error = exc
        raise self._last_error or OSError("no addresses to connect to")

    async def start(
        self, delay: float = _INITIAL_CONNECT_TIMEOUT
    ) -> tuple[socket.AddressFamily, _Address, _T]:
        """Run the race and return ``(family, address, connection)`` of the winner.

        Raises:
            OSError: Every attempt failed (the last failure is raised).
        """
        if not self.primary:
            raise OSError("no addresses to connect to")
        attempts: set[asyncio.Task[tuple[socket.AddressFamily, _Address, _T]]] = set()
        attempts.add(asyncio.ensure_future(self._try_in_order(self.primary)))
        secondary_started = not self.secondary
        try:
            while attempts:
                timeout = None if secondary_started else delay
                done, _pending = await asyncio.wait(
                    attempts, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                winner = None
                for task in done:
                    attempts.discard(task)
                    if task.exception() is None:
                        if winner is None:
                            winner = task.result()
                        else:
                            # Both families connected in the same instant: keep one.
                            self._close(task.result()[2])
                if winner is not None:
                    return winner
                if not secondary_started:
                    # The delay expired or the primary family failed outright.
                    secondary_started = True
                    attempts.add(asyncio.ensure_future(self._try_in_order(self.secondary)))
            assert self._last_error is not None
            raise self._last_error
        finally:
            for task in attempts:
                task.cancel()
            if attempts:
                results = await asyncio.gather(*attempts, return_exceptions=True)
                for result in results:
                    if isinstance(result, tuple):
                        # Connected after losing, before the cancellation landed.
                        self._close(result[2])


def _deadline(timeout: float | datetime.timedelta | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    return asyncio.get_running_loop().time() + timeout


async def _within(deadline: float | None, phase: str, awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable`` before ``deadline``; the timeout error is ``Timeout <phase>``."""
    if deadline is None:
        return await awaitable
    try:
        async with asyncio.timeout_at(deadline):
            return await awaitable
    except TimeoutError as exc:
        raise TyphoonTimeoutError(f"Timeout {phase}") from exc


class TCPClient:
    """A factory of outgoing TCP connections, as :class:`~typhoon.iostream.IOStream` objects.

    Args:
        resolver: Turns host names into addresses. When omitted the client makes a
            :class:`~typhoon.netutil.Resolver` of its own and closes it in
            :meth:`close`; a given resolver is left to its owner.
    """

    def __init__(self, resolver: Resolver | None = None) -> None:
        if resolver is not None:
            self.resolver = resolver
            self._own_resolver = False
        else:
            self.resolver = Resolver()
            self._own_resolver = True

    def close(self) -> None:
        """Close the resolver if this client created it."""
        if self._own_resolver:
            self.resolver.close()

    async def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        source_ip: str | None = None,
        source_port: int | None = None,
        timeout: float | datetime.timedelta | None = None,
    ) -> IOStream:
        """Connect to ``host``:``port`` and return the connected stream.

        Every address ``host`` resolves to is a candidate; with both IPv4 and IPv6
        answers the two families race as described in the module docstring.

        Args:
            host: Host name or address literal (also the TLS server name).
            port: TCP port.
            af: Restrict resolution to ``AF_INET`` or ``AF_INET6``.
            ssl_options: Connect with TLS, using this context or Tornado-style dict;
                the handshake completes before the stream is returned.
            max_buffer_size: Passed to the stream.
            source_ip: Local address to bind before connecting.
            source_port: Local port to bind before connecting.
            timeout: Seconds (or a timedelta) for the whole connect: resolving,
                connecting and the TLS handshake.

        Raises:
            TyphoonTimeoutError: ``timeout`` passed; the message names the phase.
            OSError: The name did not resolve or no address accepted the connection.
            ssl.SSLError: The TLS handshake failed.
        """
        deadline = _deadline(timeout)
        addrinfo = await _within(deadline, "while resolving", self.resolver.resolve(host, port, af))

        async def connect_one(family: socket.AddressFamily, address: _Address) -> IOStream:
            return await self._create_stream(
                max_buffer_size, family, address, source_ip, source_port
            )

        connector: _Connector[IOStream] = _Connector(addrinfo, connect_one, _close_stream)
        _af, _address, stream = await _within(deadline, "while connecting", connector.start())
        if ssl_options is None:
            return stream
        try:
            return await _within(
                deadline,
                "during TLS handshake",
                stream.start_tls(False, ssl_options=ssl_options, server_hostname=host),
            )
        except BaseException:
            stream.close()
            raise

    async def _create_stream(
        self,
        max_buffer_size: int | None,
        family: socket.AddressFamily,
        address: _Address,
        source_ip: str | None,
        source_port: int | None,
    ) -> IOStream:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if source_ip is not None or source_port is not None:
                bind_host = source_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0")
                sock.bind((bind_host, source_port or 0))
        except BaseException:
            sock.close()
            raise
        kwargs: dict[str, Any] = {}
        if max_buffer_size is not None:
            kwargs["max_buffer_size"] = max_buffer_size
        stream = IOStream(sock, **kwargs)
        try:
            await stream.connect(address)
        except BaseException:
            stream.close()
            raise
        return stream


def _close_stream(stream: IOStream) -> None:
    stream.close()
