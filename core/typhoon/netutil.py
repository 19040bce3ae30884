"""Socket and TLS helpers, and the asynchronous name resolvers.

Layer 2 (streams): imports the standard library, :mod:`typhoon.ioloop` and below.

* :func:`bind_sockets` / :func:`bind_unix_socket` create listening sockets;
  :func:`add_accept_handler` hands accepted connections to a callback.
* :class:`Resolver` and its implementations turn a host name into socket addresses
  without blocking the event loop. ``Resolver()`` gives :class:`DefaultLoopResolver`.
* :func:`ssl_options_to_context` / :func:`ssl_wrap_socket` accept either an
  :class:`ssl.SSLContext` or Tornado's ``ssl_options`` dictionary.
"""

from __future__ import annotations

__all__ = [
    "BlockingResolver",
    "DefaultExecutorResolver",
    "DefaultLoopResolver",
    "ExecutorResolver",
    "OverrideResolver",
    "Resolver",
    "ThreadedResolver",
    "add_accept_handler",
    "bind_sockets",
    "bind_unix_socket",
    "is_valid_ip",
    "ssl_options_to_context",
    "ssl_wrap_socket",
]

import asyncio
import concurrent.futures
import errno
import os
import socket
import ssl
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from typhoon.ioloop import IOLoop

#: Listen backlog used when none is given; also the most connections accepted per wake-up.
_DEFAULT_BACKLOG = 128

#: The keys an ``ssl_options`` dictionary may hold (Tornado's ``ssl.wrap_socket`` subset).
_SSL_CONTEXT_KEYWORDS = frozenset(
    ["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"]
)


def bind_sockets(
    port: int,
    address: str | None = None,
    family: socket.AddressFamily = socket.AF_UNSPEC,
    backlog: int = _DEFAULT_BACKLOG,
    flags: int | None = None,
    reuse_port: bool = False,
) -> list[socket.socket]:
    """Create listening, non-blocking sockets bound to ``port`` on every address of ``address``.

    With ``address`` ``None`` (or ``""``) the sockets listen on all interfaces, one per
    address family the host supports (IPv4 and IPv6). With ``port`` 0 the kernel picks
    a free port for the first socket and every other socket reuses that same port, so
    the caller gets a single port number reachable over both families.

    Args:
        port: The TCP port; 0 picks a free one.
        address: A host name or IP address to bind to.
        family: Restrict to ``AF_INET`` or ``AF_INET6``; ``AF_UNSPEC`` means both.
        backlog: The ``listen`` backlog.
        flags: ``getaddrinfo`` flags (``AI_PASSIVE`` by default).
        reuse_port: Set ``SO_REUSEPORT`` so several processes can bind the same port.

    Returns:
        The listening sockets.

    Raises:
        ValueError: ``reuse_port`` was asked for on a platform without ``SO_REUSEPORT``.
        OSError: A socket could not be created or bound (already bound sockets are closed).
    """
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("the platform doesn't support SO_REUSEPORT")
    if address == "":
        address = None
    if not socket.has_ipv6 and family == socket.AF_UNSPEC:
        # Some builds report IPv6 addresses from getaddrinfo without being able to bind them.
        family = socket.AF_INET
    if flags is None:
        flags = socket.AI_PASSIVE
    infos = socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, 0, flags)
    sockets: list[socket.socket] = []
    bound_port: int | None = None
    seen: set[tuple[int, Any]] = set()
    try:
        for af, socktype, proto, _canonname, sockaddr in sorted(infos, key=lambda info: info[0]):
            if (af, sockaddr) in seen:
                continue
            seen.add((af, sockaddr))
            if (
                sys.platform == "darwin"
                and address == "localhost"
                and af == socket.AF_INET6
                and sockaddr[3] != 0
            ):
                # macOS lists a link-local fe80::1%lo0 for localhost; binding the same
                # port on it as on ::1 fails, and nobody reaches it anyway.
                continue
            try:
                sock = socket.socket(af, socktype, proto)
            except OSError as exc:
                if exc.errno == errno.EAFNOSUPPORT:
                    continue
                raise
            try:
                if os.name != "nt":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    # Keep the IPv6 socket IPv6-only so the IPv4 socket can take the
                    # same port; otherwise the second bind fails with EADDRINUSE.
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if port == 0 and bound_port is not None:
                    sockaddr = (sockaddr[0], bound_port, *sockaddr[2:])
                sock.setblocking(False)
                try:
                    sock.bind(sockaddr)
                except OSError as exc:
                    if (
                        exc.errno == errno.EADDRNOTAVAIL
                        and address == "localhost"
                        and sockaddr[0] == "::1"
                    ):
                        # Containers often resolve localhost to ::1 without an IPv6
                        # loopback interface; the IPv4 socket is enough there.
                        sock.close()
                        continue
                    raise
                if af in (socket.AF_INET, socket.AF_INET6):
                    bound_port = sock.getsockname()[1]
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_unix_socket(
    file: str, mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG
) -> socket.socket:
    """Create a listening, non-blocking Unix domain socket at path ``file``.

    A stale socket file left by an earlier process is replaced; any other kind of
    file at that path is left alone. A name starting with ``"\\0"`` is a Linux
    abstract socket and has no file (``mode`` is then ignored).

    Raises:
        ValueError: ``file`` exists and is not a socket.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        abstract = file.startswith("\0")
        if not abstract:
            try:
                st = os.stat(file)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISSOCK(st.st_mode):
                    raise ValueError(f"File {file} exists and is not a socket")
                os.remove(file)
        sock.bind(file)
        if not abstract:
            os.chmod(file, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _current_ioloop() -> IOLoop:
    """Return ``IOLoop.current()``, which never is ``None`` when ``instance`` is true."""
    io_loop = IOLoop.current()
    if io_loop is None:
        raise RuntimeError("no current IOLoop")
    return io_loop


def add_accept_handler(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None]
) -> Callable[[], None]:
    """Call ``callback(connection, address)`` for each connection accepted on ``sock``.

    ``sock`` must be a listening socket; the handler runs on the current
    :class:`~typhoon.ioloop.IOLoop`. At most one backlog's worth of connections is
    accepted per wake-up, so a flood of connections cannot starve other callbacks.
    A blocking ``sock`` is made non-blocking (as ``asyncio`` does with the sockets it
    is given): accepting on a blocking one would stall the event loop once the
    backlog is empty.

    Returns:
        A function that stops accepting (it does not close ``sock``). It may be
        called from inside ``callback``.
    """
    io_loop = _current_ioloop()
    sock.setblocking(False)
    removed = False

    def accept_handler(fd: Any, events: int) -> None:
        for _ in range(_DEFAULT_BACKLOG):
            if removed:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                # The peer reset the connection while it waited in the backlog.
                continue
            callback(connection, address)

    def remove_handler() -> None:
        nonlocal removed
        if not removed:
            io_loop.remove_handler(sock)
            removed = True

    io_loop.add_handler(sock, accept_handler, IOLoop.READ)
    return remove_handler


def is_valid_ip(ip: str) -> bool:
    """Return whether ``ip`` is a literal IPv4 or IPv6 address (no name lookup happens)."""
    if not ip or "\x00" in ip:
        # getaddrinfo would stop at the NUL and accept a prefix.
        return False
    try:
        infos = socket.getaddrinfo(
            ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except socket.gaierror as exc:
        if exc.args[0] == socket.EAI_NONAME:
            return False
        raise
    except UnicodeError:
        # Non-ASCII text cannot be an address literal.
        return False
    return bool(infos)


def _resolve_addr(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[int, Any]]:
    """Blocking lookup shared by the executor-based resolvers."""
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    return [(fam, address) for fam, _type, _proto, _name, address in infos]


class Resolver:
    """Resolves host names to socket addresses without blocking the event loop.

    ``Resolver()`` returns a :class:`DefaultLoopResolver`; pass another implementation
    explicitly (for example to ``TCPClient(resolver=...)``) to change strategy.
    Subclasses implement :meth:`resolve` and may override :meth:`close`.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Resolver:
        if cls is Resolver:
            cls = DefaultLoopResolver
        return super().__new__(cls)

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """Resolve ``host`` for a TCP connection to ``port``.

        Args:
            host: A host name or address literal.
            port: The TCP port the addresses are for.
            family: ``AF_INET`` or ``AF_INET6`` to restrict the answer; ``AF_UNSPEC``
                for both.

        Returns:
            A list of ``(family, address)`` pairs, ``address`` being a tuple suitable
            for :meth:`socket.socket.connect`.

        Raises:
            OSError: The name could not be resolved (:class:`socket.gaierror`).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release the resources (threads) the resolver holds."""


class DefaultLoopResolver(Resolver):
    """Resolver that uses the asyncio loop's ``getaddrinfo`` (the default)."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """Resolve ``host`` through the running loop; see :meth:`Resolver.resolve`."""
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM
        )
        return [(fam, address) for fam, _type, _proto, _name, address in infos]


class DefaultExecutorResolver(Resolver):
    """Resolver that runs the blocking ``getaddrinfo`` on the loop's default executor."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """Resolve ``host`` on the default executor; see :meth:`Resolver.resolve`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _resolve_addr, host, port, family)


class ExecutorResolver(Resolver):
    """Resolver that runs the blocking ``getaddrinfo`` on a given executor.

    Args:
        executor: Where lookups run. ``None`` runs them synchronously on the loop's
            thread (the blocking behaviour of :class:`BlockingResolver`).
        close_executor: Whether :meth:`close` shuts ``executor`` down.

    .. deprecated:: Tornado 5.0
       Prefer :class:`DefaultLoopResolver`.
    """

    def __init__(
        self,
        executor: concurrent.futures.Executor | None = None,
        close_executor: bool = True,
    ) -> None:
        self.executor = executor
        self.close_executor = close_executor and executor is not None

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """Resolve ``host`` on the executor; see :meth:`Resolver.resolve`."""
        if self.executor is None:
            return _resolve_addr(host, port, family)
        future = self.executor.submit(_resolve_addr, host, port, family)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Shut the executor down if this resolver owns it."""
        if self.close_executor and self.executor is not None:
            self.executor.shutdown()
        self.executor = None


class BlockingResolver(ExecutorResolver):
    """Resolver that looks names up synchronously, blocking the loop while it does.

    .. deprecated:: Tornado 5.0
       Prefer :class:`DefaultLoopResolver`.
    """

    def __init__(self) -> None:
        super().__init__(executor=None, close_executor=False)


class ThreadedResolver(ExecutorResolver):
    """Resolver on a thread pool shared by every ``ThreadedResolver`` of the process.

    The pool is created on first use with ``num_threads`` workers and recreated in
    a forked child (threads do not survive ``fork``).

    .. deprecated:: Tornado 5.0
       Prefer :class:`DefaultLoopResolver`.
    """

    _pool: ClassVar[concurrent.futures.ThreadPoolExecutor | None] = None
    _pool_pid: ClassVar[int | None] = None
    _pool_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, num_threads: int = 10) -> None:
        super().__init__(executor=self._shared_pool(num_threads), close_executor=False)

    @classmethod
    def _shared_pool(cls, num_threads: int) -> concurrent.futures.ThreadPoolExecutor:
        with cls._pool_lock:
            pid = os.getpid()
            if cls._pool is None or cls._pool_pid != pid:
                cls._pool = concurrent.futures.ThreadPoolExecutor(
                    num_threads, thread_name_prefix="typhoon-resolver"
                )
                cls._pool_pid = pid
            return cls._pool


class OverrideResolver(Resolver):
    """Wraps another resolver and answers some names from a fixed mapping first.

    Useful for tests and for local development that must not touch DNS. ``mapping``
    keys are a host, a ``(host, port)`` pair, or a ``(host, port, family)`` triple,
    the most specific match winning; a value is a replacement host or a
    ``(host, port)`` pair. For example::

        {
            "example.com": "127.0.1.1",
            ("login.example.com", 443): ("localhost", 1443),
            ("login.example.com", 443, socket.AF_INET6): ("::1", 1443),
        }

    Args:
        resolver: The resolver asked for everything, with the mapped host and port.
        mapping: Overrides as described above.
    """

    def __init__(self, resolver: Resolver, mapping: Mapping[Any, Any]) -> None:
        self.resolver = resolver
        self.mapping = mapping

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        """Apply the mapping, then resolve through the wrapped resolver."""
        if (host, port, family) in self.mapping:
            host, port = self.mapping[(host, port, family)]
        elif (host, port) in self.mapping:
            host, port = self.mapping[(host, port)]
        elif host in self.mapping:
            host = self.mapping[host]
        return await self.resolver.resolve(host, port, family)

    def close(self) -> None:
        """Close the wrapped resolver."""
        self.resolver.close()


def ssl_options_to_context(
    ssl_options: dict[str, Any] | ssl.SSLContext, server_side: bool | None = None
) -> ssl.SSLContext:
    """Turn Tornado's ``ssl_options`` dictionary into an :class:`ssl.SSLContext`.

    A context is returned unchanged. A dictionary may hold ``ssl_version``,
    ``certfile``, ``keyfile``, ``cert_reqs``, ``ca_certs`` and ``ciphers``; TLS
    compression is always disabled (CRIME). ``server_side`` chooses a server or a
    client context; when it is ``None`` a dictionary with a ``certfile`` is taken to
    be a server's.

    Raises:
        ValueError: The dictionary holds an unknown key.
    """
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    unknown = set(ssl_options) - _SSL_CONTEXT_KEYWORDS
    if unknown:
        raise ValueError(f"unknown ssl_options keys: {sorted(unknown)}")
    if server_side is None:
        server_side = "certfile" in ssl_options
    default_version = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    context = ssl.SSLContext(ssl_options.get("ssl_version", default_version))
    if "certfile" in ssl_options:
        context.load_cert_chain(ssl_options["certfile"], ssl_options.get("keyfile"))
    if "cert_reqs" in ssl_options:
        if ssl_options["cert_reqs"] == ssl.CERT_NONE:
            # A client context checks host names by default, which needs verification.
            context.check_hostname = False
        context.verify_mode = ssl_options["cert_reqs"]
    if "ca_certs" in ssl_options:
        context.load_verify_locations(ssl_options["ca_certs"])
    if "ciphers" in ssl_options:
        context.set_ciphers(ssl_options["ciphers"])
    if hasattr(ssl, "OP_NO_COMPRESSION"):
        # Compression leaks secrets through ciphertext length (the CRIME attack).
        context.options |= ssl.OP_NO_COMPRESSION
    return context


def ssl_wrap_socket(
    socket: socket.socket,
    ssl_options: dict[str, Any] | ssl.SSLContext,
    server_hostname: str | None = None,
    server_side: bool | None = None,
    **kwargs: Any,
) -> ssl.SSLSocket:
    """Wrap ``socket`` in TLS as described by ``ssl_options`` (a dict or a context).

    ``server_hostname`` is sent as SNI and checked against the certificate on the
    client side; it is ignored on the server side.
    """
    context = ssl_options_to_context(ssl_options, server_side=server_side)
    if server_side is None:
        server_side = context.protocol == ssl.PROTOCOL_TLS_SERVER
    if server_side:
        return context.wrap_socket(socket, server_side=True, **kwargs)
    return context.wrap_socket(socket, server_hostname=server_hostname, **kwargs)
