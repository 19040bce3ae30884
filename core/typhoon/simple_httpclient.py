"""The default :class:`~typhoon.httpclient.AsyncHTTPClient` implementation, in pure Python.

Layer 4 (http): imports ``typhoon.httpclient``, its private helpers
``typhoon._client_connection`` (connections on ``typhoon.http1proto``, the pool) and
``typhoon._client_support`` (URLs, TLS contexts, proxies, auth), ``typhoon.http1proto``,
``typhoon.httputil``,
``typhoon.tcpclient``, ``typhoon.netutil``, ``typhoon.log``, ``typhoon.errors``, the
package version and the standard library.

What it adds to Tornado's simple client:

* keep-alive connections are pooled per route (origin, TLS settings, proxy, local
  address), a bounded number per route and for a bounded idle time; a request that
  finds its pooled connection closed by the server is retried once on a new one when
  its method is idempotent;
* proxies: ``proxy_host``/``proxy_port`` (plain forwarding for http, a ``CONNECT``
  tunnel for https, Basic or Digest proxy credentials), and ``HTTP_PROXY`` /
  ``HTTPS_PROXY`` / ``NO_PROXY`` with ``trust_env=True``;
* Digest authentication (``auth_mode="digest"``);
* redirects only to http and https URLs (a redirect elsewhere, or to an unusable URL,
  fails the fetch with ``ValueError("Unsupported url scheme: ...")`` or the error
  that URL gets as a request), and ``Authorization``, ``Cookie`` and
  ``Proxy-Authorization`` dropped when a redirect leaves the origin;
* ``max_body_size`` counted after decompression.

Strategy: each fetch runs as one task that owns its connection for the duration of an
exchange. A redirect or an authentication challenge is a further exchange in the same
task (and the same ``max_clients`` slot), usually on the same pooled connection.
"""

from __future__ import annotations

__all__ = [
    "HTTPStreamClosedError",
    "HTTPTimeoutError",
    "SimpleAsyncHTTPClient",
]

import asyncio
import contextlib
import copy
import io
import socket
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final

from typhoon import version as _typhoon_version
from typhoon._client_body import BodySink, DrainSink, Sink
from typhoon._client_connection import (
    ClientConnection,
    ConnectionPool,
    Deadline,
    OutgoingRequest,
    Route,
    StaleConnectionError,
    open_connection,
)
from typhoon._client_support import (
    DigestChallenge,
    ParsedURL,
    ProxyConfig,
    TLSContexts,
    basic_credentials,
    parse_url,
    proxy_from_environment,
)
from typhoon.errors import (
    HTTPInputError,
    HTTPStreamClosedError,
    HTTPTimeoutError,
    StreamClosedError,
)
from typhoon.http1proto import Response
from typhoon.httpclient import (
    AsyncHTTPClient,
    HTTPRequest,
    HTTPResponse,
    _header_copy,
    _RequestProxy,
)
from typhoon.httputil import HTTPHeaders
from typhoon.log import app_log, gen_log
from typhoon.netutil import OverrideResolver, Resolver, is_valid_ip
from typhoon.tcpclient import TCPClient

_SUPPORTED_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_BODY_METHODS: Final = frozenset({"POST", "PATCH", "PUT"})
# RFC 9110, section 9.2.2: repeating these has the effect of doing them once.
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})
# Fields that carry the user's credentials for one origin (RFC 9110, section 11.6.2;
# RFC 6265): never forwarded to another origin (Tornado CVE-2026-49853).
_CREDENTIAL_FIELDS: Final = ("Authorization", "Cookie", "Proxy-Authorization")
_BODY_FIELDS: Final = ("Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding")
_USER_AGENT: Final = f"Typhoon/{_typhoon_version}"
_AUTH_MODES: Final = frozenset({"basic", "digest"})
#: Routes remembered for reuse (a cache: it is emptied when full).
_MAX_ROUTES: Final = 1024


class _Queued:
    """A fetch waiting for a ``max_clients`` slot; ``slot`` resolves when it gets one."""

    __slots__ = ("request", "slot", "task")

    def __init__(
        self, request: _RequestProxy, slot: asyncio.Future[None], task: asyncio.Task[Any]
    ) -> None:
        self.request = request
        self.slot = slot
        self.task = task


class _Decision:
    """What to do after a response head: deliver it, or consume it and go on."""

    __slots__ = ("challenge", "error", "head_time", "kind", "parsed", "url")

    def __init__(self) -> None:
        self.kind = "final"
        self.error: ValueError | None = None
        self.challenge: DigestChallenge | None = None
        self.url = ""
        self.parsed: ParsedURL | None = None
        self.head_time = 0.0


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """Non-blocking HTTP/1.1 client with connection pooling and proxy support.

    Built through ``AsyncHTTPClient()`` (one shared instance per loop) or directly;
    the arguments are Tornado's, followed by typhoon's own (keyword only).

    Args:
        max_clients: Fetches in progress at once; later ones wait in a queue, for at
            most their ``connect_timeout``/``request_timeout``.
        hostname_mapping: Host names (or ``(host, port)`` pairs) to connect to instead,
            as for :class:`~typhoon.netutil.OverrideResolver`.
        max_buffer_size: Largest buffer of a connection's stream (100 MiB).
        resolver: Resolver to use (one of the client's own when omitted).
        defaults: Values for request options left at ``None``.
        max_header_size: Largest response head, in bytes (64 KiB).
        max_body_size: Largest response body, in bytes after decompression
            (``max_buffer_size`` when omitted).
        max_idle_per_origin: Idle keep-alive connections kept per route (0 disables
            pooling).
        idle_connection_timeout: Seconds an idle pooled connection is kept.
        trust_env: Take proxies from ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` and
            ``NO_PROXY`` (lower case first) for requests without ``proxy_host``.
    """

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        hostname_mapping: Mapping[Any, Any] | None = None,
        max_buffer_size: int = 104857600,
        resolver: Resolver | None = None,
        defaults: dict[str, Any] | None = None,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        *,
        max_idle_per_origin: int = 10,
        idle_connection_timeout: float = 15.0,
        trust_env: bool = False,
    ) -> None:
        super().initialize(defaults=defaults)
        self.max_clients = max_clients
        #: Fetches waiting for a slot, oldest first (an entry leaves when it gets a
        #: slot, times out or is cancelled).
        self.queue: deque[_Queued] = deque()
        #: Fetches holding a slot: request -> the task running it.
        self.active: dict[_RequestProxy, asyncio.Task[Any]] = {}
        #: Fetches waiting for a slot: request -> queue entry.
        self.waiting: dict[_RequestProxy, _Queued] = {}
        self.max_buffer_size = max_buffer_size
        # Whole numbers of bytes (1e9 is a valid way to write a limit).
        self.max_header_size = None if max_header_size is None else int(max_header_size)
        self.max_body_size = int(max_buffer_size if max_body_size is None else max_body_size)
        self.trust_env = trust_env
        if resolver is not None:
            self.resolver = resolver
            self.own_resolver = False
        else:
            self.resolver = Resolver()
            self.own_resolver = True
        if hostname_mapping is not None:
            self.resolver = OverrideResolver(resolver=self.resolver, mapping=hostname_mapping)
        self.tcp_client = TCPClient(resolver=self.resolver)
        self._loop = self.io_loop.asyncio_loop
        self._pool = ConnectionPool(max_idle_per_origin, idle_connection_timeout)
        self._tls = TLSContexts()
        self._released: list[ClientConnection] = []
        self._callbacks: dict[_RequestProxy, asyncio.Task[None]] = {}
        self._routes: dict[Hashable, Route] = {}

    def close(self) -> None:
        """Stop: cancel queued and running fetches, close pooled connections.

        Their futures fail with :class:`~typhoon.errors.HTTPStreamClosedError` (fetches
        started through :meth:`fetch_impl`) or are cancelled (through :meth:`fetch`).
        """
        if self._closed:
            return
        super().close()
        for entry in self.waiting.values():
            entry.task.cancel()
        for task in self.active.values():
            task.cancel()
        self._released.extend(self._pool.close())
        if self.own_resolver:
            self.resolver.close()
        self.tcp_client.close()

    async def aclose(self) -> None:
        """Close, then wait for running fetches to end and for sockets to be released."""
        self.close()
        tasks = [*self.active.values(), *(entry.task for entry in self.waiting.values())]
        if tasks:
            await asyncio.wait(tasks)
        released = self._released
        self._released = []
        await asyncio.gather(*(conn.stream.aclose() for conn in released), return_exceptions=True)
        await asyncio.sleep(0)

    # --- starting fetches -------------------------------------------------------------

    def fetch(
        self, request: str | HTTPRequest, raise_error: bool = True, **kwargs: Any
    ) -> asyncio.Future[HTTPResponse]:
        """Fetch a URL or request; see :meth:`AsyncHTTPClient.fetch`.

        The future returned is the task doing the work, so cancelling it stops the
        fetch (and gives its ``max_clients`` slot to the next one).
        """
        if type(self).fetch_impl is not SimpleAsyncHTTPClient.fetch_impl:
            # A subclass customised fetch_impl: go through it, as Tornado does.
            return super().fetch(request, raise_error, **kwargs)
        if self._closed:
            raise RuntimeError("fetch() called on closed AsyncHTTPClient")
        request_proxy = self._request_proxy(request, kwargs)
        return self._loop.create_task(self._fetch_and_check(request_proxy, raise_error))

    async def _fetch_and_check(self, request: _RequestProxy, raise_error: bool) -> HTTPResponse:
        response = await self._execute(request)
        error = response.error
        if error is not None and (raise_error or not response._error_is_response_code):
            raise error
        return response

    def fetch_impl(self, request: _RequestProxy, callback: Callable[[HTTPResponse], None]) -> None:
        """Carry out ``request`` (after waiting for a ``max_clients`` slot if need be)."""
        task = self._loop.create_task(self._execute_with_callback(request, callback))
        self._callbacks[request] = task

    async def _execute_with_callback(
        self, request: _RequestProxy, callback: Callable[[HTTPResponse], None]
    ) -> None:
        try:
            response = await self._execute(request)
        except asyncio.CancelledError:
            message = "HTTP client closed" if self._closed else "Fetch cancelled"
            response = HTTPResponse(request, 599, error=HTTPStreamClosedError(message))
        finally:
            self._callbacks.pop(request, None)
        try:
            callback(response)
        except Exception:
            app_log.error("Exception in HTTP client callback", exc_info=True)

    def _fetch_cancelled(self, request: _RequestProxy) -> None:
        task = self._callbacks.get(request)
        if task is not None:
            task.cancel()

    # --- max_clients ------------------------------------------------------------------

    async def _execute(self, request: _RequestProxy) -> HTTPResponse:
        """Run ``request`` in a slot; every outcome but cancellation is a response."""
        loop = self._loop
        start = loop.time()
        start_wall = time.time()
        task: asyncio.Task[Any] = asyncio.current_task(loop)  # type: ignore[assignment]
        if self._closed:
            # Closed between fetch() and the first step of its task.
            return self._failure(
                request, HTTPStreamClosedError("HTTP client closed"), start, start_wall
            )
        queued = 0.0
        if len(self.active) >= self.max_clients or self.waiting:
            if not await self._wait_for_slot(request, task):
                return self._failure(
                    request, HTTPTimeoutError("Timeout in request queue"), start, start_wall
                )
            queued = loop.time() - start
        else:
            self.active[request] = task
        try:
            return await self._fetch(request, start, start_wall, queued)
        except StreamClosedError as exc:
            # As Tornado does: the cause (connection refused, reset, ...) when there is
            # one, else a 599 "Stream closed".
            real = exc.real_error
            if isinstance(real, Exception):
                return self._failure(request, real, start, start_wall)
            error = HTTPStreamClosedError("Stream closed")
            error.__cause__ = exc
            return self._failure(request, error, start, start_wall)
        except HTTPInputError as exc:
            # A malformed response, or one over a size limit: the connection was
            # dropped in the middle of it, which callers see as a 599 (the details
            # stay in __cause__).
            error = HTTPStreamClosedError(str(exc))
            error.__cause__ = exc
            return self._failure(request, error, start, start_wall)
        except Exception as exc:
            return self._failure(request, exc, start, start_wall)
        finally:
            self._release_slot(request)

    async def _wait_for_slot(self, request: _RequestProxy, task: asyncio.Task[Any]) -> bool:
        """Queue until a slot is free; False when the queue timeout passed first."""
        slot: asyncio.Future[None] = self._loop.create_future()
        entry = _Queued(request, slot, task)
        self.queue.append(entry)
        self.waiting[request] = entry
        gen_log.debug(
            "max_clients limit reached, request queued. %d active, %d queued requests.",
            len(self.active),
            len(self.waiting),
        )
        timeouts = [t for t in (request.connect_timeout, request.request_timeout) if t]
        timeout = asyncio.timeout(min(timeouts) if timeouts else None)
        try:
            async with timeout:
                await slot
        except TimeoutError:
            if not timeout.expired():
                raise
        except BaseException:
            self._dequeue(entry)
            if slot.done() and not slot.cancelled():
                self._release_slot(request)
            raise
        self._dequeue(entry)
        if slot.done() and not slot.cancelled():
            if not timeout.expired():
                return True
            # Granted in the same instant the timeout passed: pass the slot on.
            self._release_slot(request)
        return False

    def _dequeue(self, entry: _Queued) -> None:
        self.waiting.pop(entry.request, None)
        slot = entry.slot
        if not slot.done() or slot.cancelled():
            # Left the queue without a slot (timeout, cancellation): drop the entry.
            with contextlib.suppress(ValueError):
                self.queue.remove(entry)

    def _release_slot(self, request: _RequestProxy) -> None:
        if self.active.pop(request, None) is None:
            return
        queue = self.queue
        while queue and len(self.active) < self.max_clients:
            entry = queue.popleft()
            if entry.slot.done():
                continue
            self.active[entry.request] = entry.task
            entry.slot.set_result(None)

    def _failure(
        self, request: _RequestProxy, error: BaseException, start: float, start_wall: float
    ) -> HTTPResponse:
        return HTTPResponse(
            request,
            599,
            error=error,
            request_time=self._loop.time() - start,
            start_time=start_wall,
        )

    async def _fetch(
        self, request: _RequestProxy, start: float, start_wall: float, queued: float
    ) -> HTTPResponse:
        loop = self._loop
        original = request.request
        current = original
        defaults = request.defaults
        opts = _options(original, defaults)
        parsed = parse_url(original.url)
        origin = parsed.origin
        origin_credentials = _credentials(opts, parsed)
        challenge: DigestChallenge | None = None
        proxy_challenge: DigestChallenge | None = None
        challenges = 0
        while True:
            hop_start = loop.time()
            if current is original or parsed.username is None:
                credentials = origin_credentials if parsed.origin == origin else None
            else:
                credentials = (parsed.username, parsed.password or "")
            route, outgoing, retry = self._prepare(
                current, opts, parsed, credentials, challenge, proxy_challenge
            )
            decision = _Decision()
            choose_sink = self._sink_chooser(opts, current, route, decision, challenges)
            head, sink, connect_time = await self._hop(opts, route, outgoing, choose_sink, retry)
            kind = decision.kind
            if kind == "final":
                assert isinstance(sink, BodySink)
                return self._response(
                    original,
                    current,
                    head,
                    sink,
                    start,
                    start_wall,
                    queued,
                    hop_start,
                    connect_time,
                    decision,
                )
            if decision.error is not None:
                raise decision.error
            if kind == "digest":
                challenge = decision.challenge
                challenges += 1
            elif kind == "proxy-digest":
                proxy_challenge = decision.challenge
                challenges += 1
            else:
                assert decision.parsed is not None
                current = self._redirect(
                    current, opts, original, head, decision.url, parsed, decision.parsed
                )
                opts = _options(current, defaults)
                parsed = decision.parsed
                challenge = proxy_challenge = None
                challenges = 0

    def _response(
        self,
        original: HTTPRequest,
        current: HTTPRequest,
        head: Response,
        sink: BodySink,
        start: float,
        start_wall: float,
        queued: float,
        hop_start: float,
        connect_time: float,
        decision: _Decision,
    ) -> HTTPResponse:
        now = self._loop.time()
        chunks = sink.chunks
        buffer = io.BytesIO(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        response = HTTPResponse(
            original,
            head.status_code,
            headers=head.headers,
            buffer=buffer,
            effective_url=current.url,
            reason=head.reason,
            request_time=now - start,
            start_time=start_wall,
            time_info={
                "queue": queued,
                "redirect": hop_start - start,
                "connect": connect_time,
                "starttransfer": decision.head_time - start,
                "total": now - start,
            },
        )
        return response

    def _sink_chooser(
        self,
        opts: dict[str, Any],
        current: HTTPRequest,
        route: Route,
        decision: _Decision,
        challenges: int,
    ) -> Callable[[Response], Sink]:
        """The function that decides, from a response head, where its body goes."""

        def choose(head: Response) -> Sink:
            decision.head_time = self._loop.time()
            code = head.status_code
            headers = head.headers
            if code == 401 and challenges < 2 and (opts.get("auth_mode") or "basic") == "digest":
                found = DigestChallenge.from_headers(headers.get_list("WWW-Authenticate"))
                if found is not None and (challenges == 0 or found.stale):
                    decision.kind = "digest"
                    decision.challenge = found
                    return DrainSink()
            proxy = route.proxy
            if (
                code == 407
                and challenges < 2
                and proxy is not None
                and not route.tunnel
                and proxy.auth_mode == "digest"
                and proxy.username is not None
            ):
                found = DigestChallenge.from_headers(headers.get_list("Proxy-Authenticate"))
                if found is not None and (challenges == 0 or found.stale):
                    decision.kind = "proxy-digest"
                    decision.challenge = found
                    return DrainSink()
            if (
                code in _REDIRECT_CODES
                and opts.get("follow_redirects")
                and (opts.get("max_redirects") or 0) > 0
                and "Location" in headers
            ):
                try:
                    decision.url = urllib.parse.urljoin(current.url, headers["Location"])
                    decision.parsed = parse_url(decision.url)
                except ValueError as exc:
                    # Only http and https are followed (Tornado 4.5, 6.6.1): any other
                    # scheme, or an unusable URL, fails the fetch with the same
                    # ValueError an initial request for that URL gets.
                    decision.kind = "bad-redirect"
                    decision.error = exc
                else:
                    decision.kind = "redirect"
                return DrainSink()
            return BodySink(
                self.max_body_size,
                bool(opts.get("decompress_response")),
                opts.get("streaming_callback"),
                opts.get("header_callback"),
            )

        return choose

    def _redirect(
        self,
        current: HTTPRequest,
        opts: dict[str, Any],
        original: HTTPRequest,
        head: Response,
        url: str,
        parsed: ParsedURL,
        target: ParsedURL,
    ) -> HTTPRequest:
        """The request that follows redirect ``head`` from ``current`` to ``url``."""
        new = copy.copy(current)
        headers = current.headers.copy()
        new.headers = headers
        new.url = url
        new.max_redirects = (opts.get("max_redirects") or 0) - 1
        headers.pop("Host", None)
        code = head.status_code
        method = current.method
        # RFC 9110, sections 15.4.2-15.4.4: 303 asks for a GET; 301 and 302 turn a POST
        # into a GET as every browser does. 307 and 308 keep the method and the body.
        if (code == 303 and method != "HEAD") or (code in (301, 302) and method == "POST"):
            new.method = "GET"
            new.body = None
            new.body_producer = None
            new.expect_100_continue = False
            for name in _BODY_FIELDS:
                headers.pop(name, None)
        if target.origin != parsed.origin:
            for name in _CREDENTIAL_FIELDS:
                headers.pop(name, None)
        new.original_request = original  # type: ignore[attr-defined]
        return new

    # --- one exchange -----------------------------------------------------------------

    def _prepare(
        self,
        request: HTTPRequest,
        opts: dict[str, Any],
        parsed: ParsedURL,
        credentials: tuple[str, str] | None,
        challenge: DigestChallenge | None,
        proxy_challenge: DigestChallenge | None,
    ) -> tuple[Route, OutgoingRequest, bool]:
        """The route and wire form of one exchange, and whether it may be retried."""
        method = request.method
        body = request.body
        producer = request.body_producer
        if body is not None and producer is not None:
            raise ValueError("body and body_producer cannot both be set")
        if not opts.get("allow_nonstandard_methods"):
            if method not in _SUPPORTED_METHODS:
                raise KeyError(f"unknown method {method}")
            expected = method in _BODY_METHODS
            present = body is not None or producer is not None
            if expected != present:
                raise ValueError(
                    f"Body must {'not ' if expected else ''}be None for method {method} "
                    "(unless allow_nonstandard_methods is true)"
                )
        headers = request.headers
        if not isinstance(headers, HTTPHeaders):
            # A request that did not come through fetch() (a redirect copy, or a
            # subclass calling fetch_impl itself) may still hold a plain dict.
            headers = request.headers = _header_copy(headers)
        if "Host" not in headers:
            headers["Host"] = parsed.authority
        user_agent = opts.get("user_agent")
        if user_agent:
            headers["User-Agent"] = user_agent
        elif "User-Agent" not in headers:
            headers["User-Agent"] = _USER_AGENT
        proxy = self._proxy_for(opts, parsed)
        plain_proxy = proxy is not None and parsed.scheme == "http"
        target = parsed.absolute_target if plain_proxy else parsed.target
        if credentials is not None:
            mode = opts.get("auth_mode") or "basic"
            if mode == "basic":
                headers["Authorization"] = basic_credentials(*credentials)
            elif mode == "digest":
                if challenge is not None:
                    headers["Authorization"] = challenge.authorization(
                        credentials[0], credentials[1], method, target, body
                    )
            else:
                raise ValueError(f"unsupported auth_mode {mode}")
        if body is not None:
            headers["Content-Length"] = str(len(body))
        if method == "POST" and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if opts.get("decompress_response") and "Accept-Encoding" not in headers:
            headers["Accept-Encoding"] = "gzip, deflate"
        expect = bool(request.expect_100_continue) and (body is not None or producer is not None)
        if expect:
            headers["Expect"] = "100-continue"
        wire_headers = headers
        if plain_proxy and proxy is not None and proxy.username is not None:
            # Credentials for the proxy go on the wire only, never into the request
            # (they must not follow a redirect, nor enter a tunnel).
            wire_headers = headers.copy()
            if proxy.auth_mode == "basic":
                wire_headers["Proxy-Authorization"] = basic_credentials(
                    proxy.username, proxy.password or ""
                )
            elif proxy_challenge is not None:
                wire_headers["Proxy-Authorization"] = proxy_challenge.authorization(
                    proxy.username, proxy.password or "", method, target, body
                )
        route = self._route(opts, parsed, proxy)
        outgoing = OutgoingRequest(method, target, wire_headers, body, producer, expect)
        return route, outgoing, method in _IDEMPOTENT_METHODS and producer is None

    def _proxy_for(self, opts: dict[str, Any], parsed: ParsedURL) -> ProxyConfig | None:
        host = opts.get("proxy_host")
        if host:
            mode = opts.get("proxy_auth_mode") or "basic"
            if mode not in _AUTH_MODES:
                raise ValueError(f"unsupported proxy_auth_mode {mode}")
            return ProxyConfig(
                host=host,
                port=opts.get("proxy_port") or 80,
                username=opts.get("proxy_username"),
                password=opts.get("proxy_password"),
                auth_mode=mode,
            )
        if self.trust_env:
            return proxy_from_environment(parsed.scheme, parsed.host, parsed.port)
        return None

    def _route(self, opts: dict[str, Any], parsed: ParsedURL, proxy: ProxyConfig | None) -> Route:
        tls = None
        tls_key: Hashable = None
        if parsed.scheme == "https":
            tls, tls_key = self._tls.get(
                opts.get("ssl_options"),
                bool(opts.get("validate_cert")),
                opts.get("ca_certs"),
                opts.get("client_cert"),
                opts.get("client_key"),
            )
        source_ip = opts.get("network_interface")
        af = socket.AF_INET if opts.get("allow_ipv6") is False else socket.AF_UNSPEC
        routes = self._routes
        key = (parsed.scheme, parsed.host, parsed.port, tls_key, proxy, source_ip, af)
        route = routes.get(key)
        if route is None:
            if source_ip is not None and not is_valid_ip(source_ip):
                # Binding to an interface by name is not offered: only its address works.
                raise ValueError(f"network_interface must be a local IP address, not {source_ip!r}")
            if len(routes) >= _MAX_ROUTES:
                routes.clear()
            route = routes[key] = Route(
                scheme=parsed.scheme,
                host=parsed.host,
                port=parsed.port,
                tls=tls,
                tls_key=tls_key,
                proxy=proxy,
                tunnel=proxy is not None and tls is not None,
                source_ip=source_ip,
                af=af,
            )
        return route

    async def _hop(
        self,
        opts: dict[str, Any],
        route: Route,
        outgoing: OutgoingRequest,
        choose_sink: Callable[[Response], Sink],
        retry: bool,
    ) -> tuple[Response, Sink, float]:
        """Run one exchange within the request's timeouts; returns the connect time too."""
        loop = self._loop
        begin = loop.time()
        request_timeout = opts.get("request_timeout")
        connect_timeout = opts.get("connect_timeout")
        request_deadline = begin + request_timeout if request_timeout else None
        connect_deadline = begin + connect_timeout if connect_timeout else None
        pool = self._pool
        for attempt in (0, 1):
            connect_time = 0.0
            conn = pool.take(route.key, begin) if attempt == 0 else None
            if conn is None:
                conn = await self._connect(route, connect_deadline, request_deadline)
                connect_time = loop.time() - begin
            deadline = None
            if request_deadline is not None:
                deadline = Deadline(loop, request_deadline)
            try:
                head, sink = await conn.exchange(outgoing, choose_sink)
            except StaleConnectionError as exc:
                conn.close()
                if attempt == 0 and retry and conn.requests > 1:
                    continue
                raise HTTPStreamClosedError("Stream closed") from exc
            except asyncio.CancelledError as exc:
                conn.close()
                if deadline is not None and deadline.expired():
                    raise HTTPTimeoutError("Timeout during request") from exc
                raise
            except BaseException:
                conn.close()
                raise
            finally:
                if deadline is not None:
                    deadline.cancel()
            pool.put(conn, loop.time())
            return head, sink, connect_time
        raise AssertionError("unreachable: the retry returns or raises")

    async def _connect(
        self, route: Route, connect_deadline: float | None, request_deadline: float | None
    ) -> ClientConnection:
        deadlines = [d for d in (connect_deadline, request_deadline) if d is not None]
        deadline = min(deadlines) if deadlines else None
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                return await open_connection(
                    self.tcp_client,
                    route,
                    max_buffer_size=self.max_buffer_size,
                    max_header_size=self.max_header_size,
                    max_body_size=self.max_body_size,
                    user_agent=_USER_AGENT,
                )
        except TimeoutError as exc:
            if not timeout.expired():
                raise
            if deadline == connect_deadline:
                raise HTTPTimeoutError("Timeout while connecting") from exc
            raise HTTPTimeoutError("Timeout during request") from exc


def _options(request: HTTPRequest, defaults: dict[str, Any] | None) -> dict[str, Any]:
    """The request's options with the client's defaults filled in, for plain lookups.

    What :class:`~typhoon.httpclient._RequestProxy` answers attribute by attribute,
    gathered once per request.
    """
    options = dict(defaults) if defaults else {}
    for name, value in request.__dict__.items():
        if value is not None:
            options[name] = value
    return options


def _credentials(opts: dict[str, Any], parsed: ParsedURL) -> tuple[str, str] | None:
    """The user's credentials for the request's own origin, if any."""
    username = opts.get("auth_username")
    if username is not None:
        return username, opts.get("auth_password") or ""
    if parsed.username is not None:
        return parsed.username, parsed.password or ""
    return None
