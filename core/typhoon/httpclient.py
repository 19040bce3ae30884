"""The HTTP client API: requests, responses, the asynchronous client and a blocking facade.

Layer 4 (http): imports ``typhoon.httputil`` (headers, dates), ``typhoon.ioloop``,
``typhoon.escape``, ``typhoon.util``, ``typhoon.errors`` and the standard library.

* :class:`HTTPRequest` holds everything about one request; options left at ``None`` take
  the client's ``defaults`` (see :attr:`HTTPRequest._DEFAULTS`).
* :class:`HTTPResponse` is what a fetch produces, success or failure.
* :class:`AsyncHTTPClient` is the interface every implementation follows. Constructing
  it returns the configured implementation (:class:`~typhoon.simple_httpclient.
  SimpleAsyncHTTPClient` unless :meth:`AsyncHTTPClient.configure` chose another), one
  shared instance per :class:`~typhoon.ioloop.IOLoop` unless ``force_instance=True``.
* :class:`HTTPClient` runs fetches synchronously on a private loop, for scripts and
  tests.
* :func:`main` backs ``python -m typhoon.httpclient URL``.

A fetch that ends with a status outside 2xx fails with :class:`HTTPClientError` (alias
:data:`HTTPError`) unless ``raise_error=False``; a network failure or timeout produces a
response with code 599 and always raises (:class:`~typhoon.errors.HTTPTimeoutError`,
:class:`~typhoon.errors.HTTPStreamClosedError`, or the ``OSError`` / ``ssl.SSLError``
that stopped the connection). A malformed response, one over a size limit or with
corrupt compressed content, and a ``streaming_callback`` or ``header_callback`` that
raises (logged) all end as :class:`~typhoon.errors.HTTPStreamClosedError`, with the
original exception as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "AsyncHTTPClient",
    "HTTPClient",
    "HTTPClientError",
    "HTTPError",
    "HTTPRequest",
    "HTTPResponse",
    "main",
]

import argparse
import asyncio
import datetime
import functools
import io
import sys
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from typhoon.errors import HTTPClientError
from typhoon.escape import native_str, utf8
from typhoon.httputil import HTTPHeaders, format_timestamp, responses
from typhoon.ioloop import IOLoop
from typhoon.util import import_object

#: Tornado's name for :class:`HTTPClientError` in this module (not the web layer's
#: ``typhoon.web.HTTPError``, which a handler raises to answer with an error status).
HTTPError = HTTPClientError

#: The implementation :class:`AsyncHTTPClient` constructs when none was configured.
_DEFAULT_IMPLEMENTATION = "typhoon.simple_httpclient.SimpleAsyncHTTPClient"

_BodyProducer = Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None] | None]


class HTTPRequest:
    """One HTTP request and every option that governs how it is made.

    Only ``url`` is required. Options left at ``None`` are filled from the client's
    ``defaults`` when the request is fetched, and from :attr:`_DEFAULTS` after that.

    Args:
        url: An absolute ``http://`` or ``https://`` URL. User information in it
            (``http://user:pass@host/``) is used for Basic authentication.
        method: The request method; methods outside GET, HEAD, POST, PUT, DELETE,
            PATCH and OPTIONS need ``allow_nonstandard_methods``.
        headers: Extra header fields (a dict or :class:`~typhoon.httputil.HTTPHeaders`);
            values in a dict may be ``str`` or ``bytes`` (sent as they are).
        body: The request body (``str`` is encoded as UTF-8). Required for POST, PUT
            and PATCH and refused for other methods, unless
            ``allow_nonstandard_methods`` is true.
        auth_username: User name for authentication.
        auth_password: Password for authentication.
        auth_mode: ``"basic"`` (the default) or ``"digest"`` (RFC 7616: answered after
            the server's 401 challenge).
        connect_timeout: Seconds to get a connection (20 by default).
        request_timeout: Seconds for the whole exchange, connecting included (20 by
            default); each redirect gets a new allowance.
        if_modified_since: Sends ``If-Modified-Since`` (a timestamp or ``datetime``).
        follow_redirects: Follow 301, 302, 303, 307 and 308 responses (default true).
        max_redirects: How many redirects to follow at most (5 by default).
        user_agent: The ``User-Agent`` to send.
        use_gzip: Older name of ``decompress_response``.
        network_interface: Local IP address to connect from (an interface name is
            refused with ``ValueError``).
        streaming_callback: Called with each piece of the response body instead of
            collecting it in :attr:`HTTPResponse.body`. When it returns an awaitable
            (a coroutine function, for example), that is awaited before the next
            piece is read.
        header_callback: Called with the status line, each header line (``"Name:
            value\\r\\n"``) and a final ``"\\r\\n"`` of the final response.
        prepare_curl_callback: Accepted for compatibility; only a curl-based client
            would call it.
        proxy_host: HTTP proxy to send the request through (``CONNECT`` for https).
        proxy_port: Port of the proxy (80 when omitted).
        proxy_username: User name for the proxy.
        proxy_password: Password for the proxy.
        proxy_auth_mode: ``"basic"`` (the default) or ``"digest"``.
        allow_nonstandard_methods: Allow any method token and any body/method pairing.
        validate_cert: Check the server's certificate and host name (default true).
        ca_certs: File of CA certificates to trust instead of the system's.
        allow_ipv6: Use IPv6 addresses when the host has them (default true).
        client_key: File with the private key of ``client_cert``.
        client_cert: File with a client certificate to present.
        body_producer: Called with a ``write`` function to stream the request body;
            may return an awaitable. Without a ``Content-Length`` header the body is
            sent chunked.
        expect_100_continue: Send ``Expect: 100-continue`` and wait for the server's
            go-ahead before the body.
        decompress_response: Ask for and decode gzip/deflate response bodies (default
            true).
        ssl_options: An :class:`ssl.SSLContext` or Tornado-style dict; overrides
            ``validate_cert``, ``ca_certs``, ``client_key`` and ``client_cert``.
    """

    #: Values used for options left at ``None`` by both the request and the client.
    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "connect_timeout": 20.0,
        "request_timeout": 20.0,
        "follow_redirects": True,
        "max_redirects": 5,
        "decompress_response": True,
        "proxy_password": "",
        "allow_nonstandard_methods": False,
        "validate_cert": True,
    }

    body_producer: _BodyProducer | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    auth_mode: str | None = None
    connect_timeout: float | None = None
    request_timeout: float | None = None
    follow_redirects: bool | None = None
    max_redirects: int | None = None
    user_agent: str | None = None
    decompress_response: bool | None = None
    network_interface: str | None = None
    streaming_callback: Callable[[bytes], Awaitable[None] | None] | None = None
    header_callback: Callable[[str], None] | None = None
    prepare_curl_callback: Callable[[Any], None] | None = None
    proxy_host: str | None = None
    proxy_port: int | None = None
    proxy_username: str | None = None
    proxy_password: str | None = None
    proxy_auth_mode: str | None = None
    allow_nonstandard_methods: bool | None = None
    validate_cert: bool | None = None
    ca_certs: str | None = None
    allow_ipv6: bool | None = None
    client_key: str | None = None
    client_cert: str | None = None
    ssl_options: dict[str, Any] | Any | None = None

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: HTTPHeaders | Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        auth_username: str | None = None,
        auth_password: str | None = None,
        auth_mode: str | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        if_modified_since: datetime.datetime | float | None = None,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
        user_agent: str | None = None,
        use_gzip: bool | None = None,
        network_interface: str | None = None,
        streaming_callback: Callable[[bytes], Awaitable[None] | None] | None = None,
        header_callback: Callable[[str], None] | None = None,
        prepare_curl_callback: Callable[[Any], None] | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        proxy_username: str | None = None,
        proxy_password: str | None = None,
        proxy_auth_mode: str | None = None,
        allow_nonstandard_methods: bool | None = None,
        validate_cert: bool | None = None,
        ca_certs: str | None = None,
        allow_ipv6: bool | None = None,
        client_key: str | None = None,
        client_cert: str | None = None,
        body_producer: _BodyProducer | None = None,
        expect_100_continue: bool = False,
        decompress_response: bool | None = None,
        ssl_options: dict[str, Any] | Any | None = None,
    ) -> None:
        self.headers = headers
        if if_modified_since:
            self.headers["If-Modified-Since"] = format_timestamp(if_modified_since)
        self.url = url
        self.method = method
        self.body = body
        self.expect_100_continue = expect_100_continue
        if decompress_response is None:
            decompress_response = use_gzip
        # Options left at None stay unset: the class attribute (None) answers for them,
        # which keeps a request with a few options small and quick to build.
        if body_producer is not None:
            self.body_producer = body_producer
        if auth_username is not None:
            self.auth_username = auth_username
        if auth_password is not None:
            self.auth_password = auth_password
        if auth_mode is not None:
            self.auth_mode = auth_mode
        if connect_timeout is not None:
            self.connect_timeout = connect_timeout
        if request_timeout is not None:
            self.request_timeout = request_timeout
        if follow_redirects is not None:
            self.follow_redirects = follow_redirects
        if max_redirects is not None:
            self.max_redirects = max_redirects
        if user_agent is not None:
            self.user_agent = user_agent
        if decompress_response is not None:
            self.decompress_response = decompress_response
        if network_interface is not None:
            self.network_interface = network_interface
        if streaming_callback is not None:
            self.streaming_callback = streaming_callback
        if header_callback is not None:
            self.header_callback = header_callback
        if prepare_curl_callback is not None:
            self.prepare_curl_callback = prepare_curl_callback
        if proxy_host is not None:
            self.proxy_host = proxy_host
        if proxy_port is not None:
            self.proxy_port = proxy_port
        if proxy_username is not None:
            self.proxy_username = proxy_username
        if proxy_password is not None:
            self.proxy_password = proxy_password
        if proxy_auth_mode is not None:
            self.proxy_auth_mode = proxy_auth_mode
        if allow_nonstandard_methods is not None:
            self.allow_nonstandard_methods = allow_nonstandard_methods
        if validate_cert is not None:
            self.validate_cert = validate_cert
        if ca_certs is not None:
            self.ca_certs = ca_certs
        if allow_ipv6 is not None:
            self.allow_ipv6 = allow_ipv6
        if client_key is not None:
            self.client_key = client_key
        if client_cert is not None:
            self.client_cert = client_cert
        if ssl_options is not None:
            self.ssl_options = ssl_options
        #: Wall-clock time (``time.time()``) at which the request was created.
        self.start_time = time.time()

    @property
    def headers(self) -> HTTPHeaders | dict[str, Any]:
        """The request's header fields, as assigned; ``None`` gives an empty set.

        A plain dict is kept as it is (so it still compares equal to what was given);
        :meth:`AsyncHTTPClient.fetch` turns it into :class:`~typhoon.httputil.HTTPHeaders`
        when the request is sent.
        """
        return self._headers

    @headers.setter
    def headers(self, value: HTTPHeaders | Mapping[str, Any] | None) -> None:
        if value is None:
            self._headers: HTTPHeaders | dict[str, Any] = HTTPHeaders()
        elif isinstance(value, HTTPHeaders | dict):
            self._headers = value
        else:
            self._headers = dict(value)

    @property
    def body(self) -> bytes | None:
        """The request body as bytes (``None`` for no body); ``str`` is stored as UTF-8."""
        return self._body

    @body.setter
    def body(self, value: bytes | str | None) -> None:
        self._body = utf8(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method} {self.url!r})"


class _RequestProxy:
    """A request seen through defaults: an option left at ``None`` reads the default.

    What :meth:`AsyncHTTPClient.fetch_impl` receives. ``request`` is the underlying
    :class:`HTTPRequest`.
    """

    __slots__ = ("defaults", "request")

    def __init__(self, request: HTTPRequest, defaults: dict[str, Any] | None) -> None:
        self.request = request
        self.defaults = defaults

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.request, name)
        if value is not None:
            return value
        defaults = self.defaults
        if defaults is not None:
            return defaults.get(name)
        return None


class HTTPResponse:
    """The outcome of a fetch.

    Attributes:
        request: The :class:`HTTPRequest` given to ``fetch`` (``effective_url`` says
            where redirects led).
        code: The HTTP status code, or 599 when no response was received.
        reason: The reason phrase (the standard one when the server sent none).
        headers: The response's header fields.
        buffer: The body as an :class:`io.BytesIO` (empty with a ``streaming_callback``).
        body: The body as bytes.
        effective_url: The URL of the last request, after redirects.
        error: The exception of a failed fetch, or ``None``.
        request_time: Seconds from the start of the fetch to the end of the response.
        start_time: Wall-clock time (``time.time()``) at which the fetch started.
        time_info: Phase timings in seconds: ``queue`` (waiting for a ``max_clients``
            slot), ``connect`` (getting the connection of the final exchange, 0 when a
            pooled one was reused), ``redirect`` (earlier exchanges), ``starttransfer``
            (until the final response's head) and ``total``.
    """

    def __init__(
        self,
        request: HTTPRequest | _RequestProxy,
        code: int,
        headers: HTTPHeaders | None = None,
        buffer: io.BytesIO | None = None,
        effective_url: str | None = None,
        error: BaseException | None = None,
        request_time: float | None = None,
        time_info: dict[str, float] | None = None,
        reason: str | None = None,
        start_time: float | None = None,
    ) -> None:
        if isinstance(request, _RequestProxy):
            request = request.request
        self.request: HTTPRequest = request
        self.code = code
        self.reason = reason or responses.get(code, "Unknown")
        self.headers = headers if headers is not None else HTTPHeaders()
        self.buffer = buffer
        self._body: bytes | None = None
        self.effective_url = request.url if effective_url is None else effective_url
        self._error_is_response_code = False
        if error is None and (code < 200 or code >= 300):
            self._error_is_response_code = True
            error = HTTPClientError(code, message=self.reason, response=self)
        self.error = error
        self.request_time = request_time
        self.start_time = start_time
        self.time_info = time_info or {}

    @property
    def body(self) -> bytes:
        """The response body (``b""`` when there was none or it was streamed)."""
        body = self._body
        if body is None:
            buffer = self.buffer
            body = self._body = b"" if buffer is None else buffer.getvalue()
        return body

    def rethrow(self) -> None:
        """Raise :attr:`error` if the fetch failed; otherwise do nothing."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        fields = ",".join(f"{name}={value!r}" for name, value in sorted(self.__dict__.items()))
        return f"{type(self).__name__}({fields})"


class AsyncHTTPClient:
    """Non-blocking HTTP client: :meth:`fetch` returns a future of an :class:`HTTPResponse`.

    ``AsyncHTTPClient()`` returns the configured implementation (see :meth:`configure`),
    and the same instance every time on one :class:`~typhoon.ioloop.IOLoop`, so
    connection limits and pooled connections are shared. ``force_instance=True`` builds
    a private instance instead (close it with :meth:`close` when done); other keyword
    arguments reach the implementation's ``initialize`` only when a new instance is
    built.

    Implementations subclass this and override :meth:`fetch_impl`, and may extend
    ``initialize`` and :meth:`close`.

    Args:
        force_instance: Build a new instance rather than the loop's shared one.
        defaults: Values for request options left at ``None`` (for example
            ``{"request_timeout": 5}``).
    """

    _impl_class: ClassVar[type[AsyncHTTPClient] | None] = None
    _impl_kwargs: ClassVar[dict[str, Any]] = {}

    io_loop: IOLoop
    defaults: dict[str, Any]
    _closed: bool
    _instance_cache: weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient] | None

    def __new__(cls, force_instance: bool = False, **kwargs: Any) -> AsyncHTTPClient:
        io_loop = IOLoop.current()
        assert io_loop is not None
        cache = None if force_instance else cls._async_clients()
        if cache is not None:
            existing = cache.get(io_loop)
            if existing is not None:
                return existing
        base = cls.configurable_base()
        init_kwargs: dict[str, Any] = {}
        if cls is base:
            impl = cls.configured_class()
            init_kwargs.update(base._impl_kwargs)
        else:
            impl = cls
        init_kwargs.update(kwargs)
        instance = object.__new__(impl)
        instance._instance_cache = None
        instance.initialize(**init_kwargs)
        instance._instance_cache = cache
        if cache is not None:
            cache[instance.io_loop] = instance
        return instance

    @classmethod
    def _async_clients(cls) -> weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient]:
        # One table per class actually constructed, so AsyncHTTPClient() and
        # SimpleAsyncHTTPClient() on one loop are distinct shared instances.
        cache: weakref.WeakKeyDictionary[IOLoop, AsyncHTTPClient] | None = cls.__dict__.get(
            "_shared_instances"
        )
        if cache is None:
            cache = weakref.WeakKeyDictionary()
            cls._shared_instances = cache  # type: ignore[attr-defined]
        return cache

    # --- implementation selection -----------------------------------------------------

    @classmethod
    def configurable_base(cls) -> type[AsyncHTTPClient]:
        """The class whose :meth:`configure` settings apply (``AsyncHTTPClient``)."""
        return AsyncHTTPClient

    @classmethod
    def configurable_default(cls) -> type[AsyncHTTPClient]:
        """The implementation used when none is configured (``SimpleAsyncHTTPClient``)."""
        impl: type[AsyncHTTPClient] = import_object(_DEFAULT_IMPLEMENTATION)
        return impl

    @classmethod
    def configure(cls, impl: type[AsyncHTTPClient] | str | None, **kwargs: Any) -> None:
        """Choose the implementation ``AsyncHTTPClient()`` builds, and its arguments.

        Args:
            impl: A subclass, its dotted name, or ``None`` for the default
                implementation.
            kwargs: Arguments given to every instance built from now on (for example
                ``max_clients=20``); they replace earlier configured arguments.

        Raises:
            ValueError: ``impl`` is not a subclass of this class.
        """
        base = cls.configurable_base()
        if isinstance(impl, str):
            impl = import_object(impl)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, cls)):
            raise ValueError(f"Invalid subclass of {cls.__name__}: {impl!r}")
        base._impl_class = impl
        base._impl_kwargs = dict(kwargs)

    @classmethod
    def configured_class(cls) -> type[AsyncHTTPClient]:
        """The implementation ``AsyncHTTPClient()`` currently builds."""
        base = cls.configurable_base()
        impl = base.__dict__.get("_impl_class")
        if impl is None:
            impl = cls.configurable_default()
            base._impl_class = impl
        result: type[AsyncHTTPClient] = impl
        return result

    @classmethod
    def _save_configuration(cls) -> tuple[type[AsyncHTTPClient] | None, dict[str, Any]]:
        base = cls.configurable_base()
        return base.__dict__.get("_impl_class"), base._impl_kwargs

    @classmethod
    def _restore_configuration(
        cls, saved: tuple[type[AsyncHTTPClient] | None, dict[str, Any]]
    ) -> None:
        base = cls.configurable_base()
        base._impl_class, base._impl_kwargs = saved

    # --- instance interface -----------------------------------------------------------

    def initialize(self, defaults: dict[str, Any] | None = None) -> None:
        """Set up a new instance (called once, by the constructor).

        Args:
            defaults: Values for request options left at ``None``.
        """
        self.io_loop = IOLoop.current()  # type: ignore[assignment]
        self.defaults = dict(HTTPRequest._DEFAULTS)
        if defaults is not None:
            self.defaults.update(defaults)
        self._closed = False

    def close(self) -> None:
        """Release the client's resources; later fetches raise ``RuntimeError``.

        The loop's shared instance is forgotten, so the next ``AsyncHTTPClient()`` on
        that loop builds a fresh one.

        Raises:
            RuntimeError: the shared-instance table holds another client for this loop.
        """
        if self._closed:
            return
        self._closed = True
        cache = self._instance_cache
        if cache is not None:
            cached = cache.pop(self.io_loop, None)
            if cached is not None and cached is not self:
                raise RuntimeError("inconsistent AsyncHTTPClient cache")

    async def aclose(self) -> None:
        """Close the client and wait until its connections are released.

        Beyond Tornado: :meth:`close` returns at once while sockets are still being
        shut down; awaiting this instead returns once they are.
        """
        self.close()
        await asyncio.sleep(0)

    def fetch(
        self,
        request: str | HTTPRequest,
        raise_error: bool = True,
        **kwargs: Any,
    ) -> asyncio.Future[HTTPResponse]:
        """Fetch a URL or :class:`HTTPRequest`; the future resolves to the response.

        Args:
            request: A URL or a request object.
            raise_error: With ``False``, a response whose status is outside 2xx is
                returned instead of raised. Network failures and timeouts raise
                either way.
            kwargs: :class:`HTTPRequest` options, only when ``request`` is a URL.

        Raises:
            RuntimeError: the client is closed.
            ValueError: options given along with a request object.
            HTTPClientError: through the future, as described above.
        """
        if self._closed:
            raise RuntimeError("fetch() called on closed AsyncHTTPClient")
        request_proxy = self._request_proxy(request, kwargs)
        future: asyncio.Future[HTTPResponse] = self.io_loop.asyncio_loop.create_future()

        def handle_response(response: HTTPResponse) -> None:
            if future.done():
                return
            error = response.error
            if error is not None and (raise_error or not response._error_is_response_code):
                future.set_exception(error)
            else:
                future.set_result(response)

        future.add_done_callback(functools.partial(self._on_fetch_done, request_proxy))
        self.fetch_impl(request_proxy, handle_response)
        return future

    def _request_proxy(self, request: str | HTTPRequest, kwargs: dict[str, Any]) -> _RequestProxy:
        """The request of a ``fetch`` call, with its own copy of the headers."""
        if not isinstance(request, HTTPRequest):
            request = HTTPRequest(url=request, **kwargs)
        elif kwargs:
            raise ValueError("kwargs can't be used if request is an HTTPRequest object")
        # The implementation adds headers of its own: work on a copy.
        request.headers = _header_copy(request.headers)
        return _RequestProxy(request, self.defaults)

    def _on_fetch_done(self, request: _RequestProxy, future: asyncio.Future[HTTPResponse]) -> None:
        if future.cancelled():
            self._fetch_cancelled(request)

    def _fetch_cancelled(self, request: _RequestProxy) -> None:
        """Hook: the caller cancelled the future of ``request``; stop working on it."""

    def fetch_impl(self, request: _RequestProxy, callback: Callable[[HTTPResponse], None]) -> None:
        """Carry out ``request`` and call ``callback`` with the response, exactly once.

        The extension point of implementations; failures are reported as a response
        with ``error`` set, never raised.
        """
        raise NotImplementedError


class HTTPClient:
    """A blocking HTTP client: :meth:`fetch` returns the response itself.

    It runs an :class:`AsyncHTTPClient` on a private loop, so it must not be used
    while an event loop is running in the same thread. Call :meth:`close` when done.

    Args:
        async_client_class: The asynchronous implementation to run (the configured
            one by default).
        kwargs: Arguments for that implementation (``max_clients``, ``defaults``, ...).
    """

    def __init__(
        self, async_client_class: type[AsyncHTTPClient] | None = None, **kwargs: Any
    ) -> None:
        self._closed = True
        self._io_loop = IOLoop(make_current=False)
        client_class = AsyncHTTPClient if async_client_class is None else async_client_class

        async def make_client() -> AsyncHTTPClient:
            return client_class(**kwargs)

        try:
            self._async_client: AsyncHTTPClient = self._io_loop.run_sync(make_client)
        except BaseException:
            self._io_loop.close()
            raise
        self._closed = False

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

    def close(self) -> None:
        """Close the client and its loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._io_loop.run_sync(self._async_client.aclose)
        finally:
            self._io_loop.close()

    def fetch(self, request: str | HTTPRequest, **kwargs: Any) -> HTTPResponse:
        """Fetch a URL or :class:`HTTPRequest` and return the response.

        Arguments are those of :meth:`AsyncHTTPClient.fetch`.

        Raises:
            HTTPClientError: the status is outside 2xx (unless ``raise_error=False``).
            RuntimeError: the client is closed, or an event loop is running in this thread.
        """
        if self._closed:
            raise RuntimeError("fetch() called on closed HTTPClient")
        if _loop_running():
            raise RuntimeError("HTTPClient cannot be used while an event loop is running")
        response: HTTPResponse = self._io_loop.run_sync(
            functools.partial(self._async_client.fetch, request, **kwargs)
        )
        return response


def _header_copy(headers: HTTPHeaders | dict[str, Any]) -> HTTPHeaders:
    """A new :class:`HTTPHeaders` holding ``headers``, whose values may be ``bytes``.

    A ``bytes`` value is sent as it is: it becomes the latin-1 text of the same bytes,
    which the request head encodes back unchanged (UTF-8 included). CR, LF and NUL
    are still refused, whatever the type.
    """
    if isinstance(headers, HTTPHeaders):
        return HTTPHeaders(headers)
    result = HTTPHeaders()
    for name, value in headers.items():
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).decode("latin-1")
        result[name] = value
    return result


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# --- command line ----------------------------------------------------------------------


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on", "t", "y"):
        return True
    if lowered in ("0", "false", "no", "off", "f", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, not {text!r}")


_BOOLEAN_OPTIONS = {
    "print_headers": False,
    "print_body": True,
    "follow_redirects": True,
    "validate_cert": True,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m typhoon.httpclient", description="Fetch URLs and print the responses."
    )
    parser.add_argument("urls", nargs="*", metavar="URL")
    for name, default in _BOOLEAN_OPTIONS.items():
        parser.add_argument(
            f"--{name}", f"--{name.replace('_', '-')}", dest=name, type=_flag, default=default
        )
    parser.add_argument("--proxy_host", "--proxy-host", dest="proxy_host", default=None)
    parser.add_argument("--proxy_port", "--proxy-port", dest="proxy_port", type=int, default=None)
    return parser


def _expand_flags(argv: list[str]) -> list[str]:
    """``--print_headers`` alone means ``--print_headers=true`` (as Tornado's options)."""
    flags = {f"--{name}" for name in _BOOLEAN_OPTIONS}
    flags |= {flag.replace("_", "-") for flag in flags}
    return [arg + "=true" if arg in flags else arg for arg in argv]


def main(argv: list[str] | None = None) -> None:
    """Fetch each URL given on the command line and print its headers and/or body.

    Options (Tornado's): ``--print_headers``, ``--print_body``, ``--follow_redirects``,
    ``--validate_cert`` (each ``=true``/``=false``), ``--proxy_host``, ``--proxy_port``.
    A response with an error status is still printed.
    """
    args = _parser().parse_args(_expand_flags(sys.argv[1:] if argv is None else argv))
    client = HTTPClient()
    try:
        for url in args.urls:
            try:
                response = client.fetch(
                    url,
                    follow_redirects=args.follow_redirects,
                    validate_cert=args.validate_cert,
                    proxy_host=args.proxy_host,
                    proxy_port=args.proxy_port,
                )
            except HTTPClientError as exc:
                if exc.response is None:
                    raise
                response = exc.response
            if args.print_headers:
                print(response.headers)
            if args.print_body:
                print(native_str(response.body))
    finally:
        client.close()


if __name__ == "__main__":
    main()
