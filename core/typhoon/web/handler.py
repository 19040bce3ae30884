"""RequestHandler: one object per request, from routing to the last byte of the response.

Layer 5 (web). Imports ``typhoon.httputil``, ``typhoon.concurrent``, ``typhoon.errors``,
``typhoon.escape``, ``typhoon.iostream`` (its closed-stream error), ``typhoon.log``,
``typhoon.web.context`` and the handler mixins (``rendering``, ``identity``, ``xsrf``,
``cookies``, ``arguments``); the ``Application`` type is named for the checker only.

The lifecycle of a request (:meth:`RequestHandler._execute`): ``initialize(**kwargs)``
(from the URL rule), ``set_default_headers()``, method check, path arguments decoded,
cross-origin and XSRF checks for unsafe methods, the current user resolved when that
needs awaiting, ``prepare()``, the plugins' ``prepare_request``, the verb method
(``get``, ``post``, ...), then ``finish()`` unless the handler finished itself or turned
auto-finish off (``detach``, streaming). Every exception ends in :meth:`send_error`, so
the client always gets a response; ``on_finish()`` runs once the response is complete.

Output is buffered by :meth:`write` and sent by :meth:`flush` (headers on the first
call) or :meth:`finish`. A finished GET or HEAD with status 200 gets an ``Etag`` and an
automatic ``304 Not Modified`` when it matches ``If-None-Match`` (RFC 9110, section
13.1.2).

Performance notes: a handler builds nothing it may not use. The response headers start
as a copy of a template rebuilt once per second (for ``Date``), the template namespace,
UI helpers, locale and cookies are built on first use, and per-class facts (which verbs
exist, whether connection-close callbacks are needed) are computed once per class.
"""

from __future__ import annotations

__all__ = ["HeaderTemplate", "RequestHandler", "forget_class_info"]

import asyncio
import datetime
import hashlib
import http.client
import inspect
import re
import time
import traceback
import types
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import typhoon
from typhoon import httputil
from typhoon.concurrent import convert_yielded, future_set_result_unless_cancelled
from typhoon.errors import ConfigurationError, Finish, HTTPError, PluginError
from typhoon.escape import utf8
from typhoon.iostream import StreamClosedError
from typhoon.log import app_log, gen_log
from typhoon.web._encode import etag_of, json_body
from typhoon.web.context import _current_handler
from typhoon.web.rendering import RenderingMixin
from typhoon.web.xsrf import SAFE_METHODS, XsrfMixin

if TYPE_CHECKING:
    from typhoon.web.application import Application

_SERVER_HEADER = f"TyphoonServer/{typhoon.version}"

# Header values must not carry control characters: CR and LF would end the line
# (response splitting, RFC 9112 section 2.2), the others confuse intermediaries.
_INVALID_HEADER_CHAR_RE = re.compile(r"[\x00-\x1f\x7f]")
# RFC 9112, section 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
_REASON_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]+")
# An entity tag or "*" (RFC 9110, section 8.8.3).
_ETAG_RE = re.compile(rb'\*|(?:W/)?"[^"]*"')

_GET_OR_HEAD = frozenset({"GET", "HEAD"})

#: The handler method of each standard HTTP method (others are lower-cased per request).
_VERB_ATTRS = {
    method: method.lower()
    for method in ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
}


class HeaderTemplate:
    """The default response headers, rebuilt when the second (and so ``Date``) changes.

    Each application owns one; handlers start from a copy, so the ``Date`` value is
    formatted once per second rather than once per response.
    """

    __slots__ = ("headers", "second")

    def __init__(self) -> None:
        self.second = -1
        self.headers = httputil.HTTPHeaders()

    def fresh(self) -> httputil.HTTPHeaders:
        """A new copy of the default headers, with the current ``Date``."""
        now = time.time()
        second = int(now)
        if second != self.second:
            self.headers = httputil.HTTPHeaders(
                {
                    "Server": _SERVER_HEADER,
                    "Content-Type": "text/html; charset=UTF-8",
                    "Date": httputil.format_timestamp(now),
                }
            )
            self.second = second
        return self.headers.copy()


class _ClassInfo:
    """Facts about a handler class that do not change between its requests."""

    __slots__ = (
        "allowed",
        "chains_init",
        "default_etag",
        "has_default_headers",
        "has_initialize",
        "has_on_finish",
        "has_prepare",
        "needs_close_callback",
        "resolves_user_async",
    )

    def __init__(self, cls: type[RequestHandler]) -> None:
        mro = cls.__mro__
        #: A class after ``RequestHandler`` in the MRO defines ``__init__`` (a mixin
        #: listed after it): ``RequestHandler.__init__`` must call ``super().__init__``.
        self.chains_init = any(
            "__init__" in base.__dict__
            for base in mro[mro.index(RequestHandler) + 1 :]
            if base is not object
        )
        #: The methods the class implements, for the ``Allow`` header of a 405.
        self.allowed = ", ".join(
            method
            for method in cls.SUPPORTED_METHODS
            if getattr(cls, method.lower(), None) is not RequestHandler._unimplemented_method
        )
        self.needs_close_callback = bool(
            cls._stream_request_body
            or cls.on_connection_close is not RequestHandler.on_connection_close
        )
        #: ``get_current_user`` is a coroutine function: resolve before ``prepare``.
        self.resolves_user_async = _is_async(cls.get_current_user)
        #: ``set_default_headers`` is overridden (else calling it can be skipped).
        self.has_default_headers = cls.set_default_headers is not RequestHandler.set_default_headers
        # Hooks left as the base class's no-ops are not called at all.
        self.has_initialize = cls.initialize is not RequestHandler.initialize
        self.has_prepare = cls.prepare is not RequestHandler.prepare
        self.has_on_finish = cls.on_finish is not RequestHandler.on_finish
        #: Neither ``compute_etag`` nor ``set_etag_header`` is overridden.
        self.default_etag = (
            cls.compute_etag is RequestHandler.compute_etag
            and cls.set_etag_header is RequestHandler.set_etag_header
        )


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function)


def forget_class_info(cls: type[RequestHandler]) -> None:
    """Drop what was computed about ``cls`` (after a decorator changed the class)."""
    if "_typhoon_class_info" in cls.__dict__:
        type.__delattr__(cls, "_typhoon_class_info")


class RequestHandler(RenderingMixin, XsrfMixin):
    """Base class of HTTP request handlers: subclass it and define ``get``, ``post``, ...

    One instance serves one request. ``application`` is the owning
    :class:`~typhoon.web.Application`, ``request`` the
    :class:`~typhoon.httputil.HTTPServerRequest`; keyword arguments from the URL rule go
    to :meth:`initialize`. Verb methods may be plain or ``async``; positional and named
    regex groups of the URL pattern become their arguments (as text).
    """

    #: The HTTP methods this handler accepts; others answer 405. Extend it to allow
    #: other methods (and define a method of the same name, lowercase).
    SUPPORTED_METHODS: ClassVar[tuple[str, ...]] = (
        "GET",
        "HEAD",
        "POST",
        "DELETE",
        "PATCH",
        "PUT",
        "OPTIONS",
    )

    #: Set by ``@stream_request_body``: the body goes to :meth:`data_received`.
    _stream_request_body: ClassVar[bool] = False

    path_args: list[Any]
    path_kwargs: dict[str, Any]

    # Per-request state starts from these class-level defaults; an instance gets its
    # own value only when it changes one (fewer stores per request).
    _headers_written = False
    _finished = False
    _auto_finish = True
    _finish_notified = False
    _status_code = 200
    _reason = "OK"
    _prepared_future: asyncio.Future[None] | None = None
    #: Resolved when a streamed body has been received in full (streaming only).
    _body_future: asyncio.Future[None] | None = None
    _transforms: Sequence[Any] = ()

    def __init__(
        self,
        application: Application,
        request: httputil.HTTPServerRequest,
        **kwargs: Any,
    ) -> None:
        cls = type(self)
        # Kept on each class itself (never inherited: read from its own __dict__), so
        # classes made at run time do not accumulate in a registry.
        info = cls.__dict__.get("_typhoon_class_info")
        if info is None:
            info = _ClassInfo(cls)
            type.__setattr__(cls, "_typhoon_class_info", info)
        if info.chains_init:
            super().__init__()
        self.application = application
        self.request = request
        self.path_args = []
        self.path_kwargs = {}
        self._info = info
        # What clear() does, less the status it would reset to its default.
        template = application._header_template
        if int(time.time()) == template.second:
            self._headers = template.headers.copy()
        else:
            self._headers = template.fresh()
        self._write_buffer: list[bytes] = []
        if info.has_default_headers:
            self.set_default_headers()
        if info.needs_close_callback or application._hooks.request_finished:
            assert request.connection is not None
            connection: Any = request.connection
            connection.set_close_callback(self._on_connection_lost)
        if kwargs or info.has_initialize:
            self.initialize(**kwargs)

    def initialize(self, **kwargs: Any) -> None:
        """Receive the keyword arguments of the URL rule (per-route configuration).

        The default accepts none. Override it with named parameters, for example
        ``def initialize(self, database): self.database = database``.
        """
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}.initialize() got unexpected keyword arguments "
                f"{sorted(kwargs)}"
            )

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (``self.application.settings``)."""
        return self.application.settings

    def _unimplemented_method(self, *args: Any, **kwargs: Any) -> None:
        raise HTTPError(405)

    head: Callable[..., Awaitable[None] | None] = _unimplemented_method
    get: Callable[..., Awaitable[None] | None] = _unimplemented_method
    post: Callable[..., Awaitable[None] | None] = _unimplemented_method
    delete: Callable[..., Awaitable[None] | None] = _unimplemented_method
    patch: Callable[..., Awaitable[None] | None] = _unimplemented_method
    put: Callable[..., Awaitable[None] | None] = _unimplemented_method
    options: Callable[..., Awaitable[None] | None] = _unimplemented_method

    def prepare(self) -> Awaitable[None] | None:
        """Run before the verb method, for every method; may be ``async``.

        Common checks and setup go here. Calling :meth:`finish` (or :meth:`redirect`,
        :meth:`send_error`) here ends the request without calling the verb method.
        """
        return None

    def on_finish(self) -> None:
        """Run after the response has been sent: release per-request resources, log."""

    def on_connection_close(self) -> None:
        """Run when the client closes the connection before the response is finished.

        Long-polling handlers override it to stop waiting. With
        ``@stream_request_body`` the pending body read fails with
        :class:`~typhoon.errors.StreamClosedError`. Not guaranteed to run when the
        connection breaks unnoticed.
        """
        if self._stream_request_body:
            body_future = self._body_future
            if body_future is not None and not body_future.done():
                body_future.set_exception(StreamClosedError())
                body_future.exception()

    def _on_connection_lost(self) -> None:
        if not self._finished:
            self.on_connection_close()
            self._notify_finished()

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Receive a piece of the body (only with ``@stream_request_body``); may be async."""
        raise NotImplementedError(
            f"{type(self).__name__} uses @stream_request_body and must define data_received"
        )

    def set_default_headers(self) -> None:
        """Set headers every response of this handler starts with (errors included).

        Runs at the start of each request and again when :meth:`clear` resets the
        response (as :meth:`send_error` does). The default sets nothing.
        """

    # --- status and headers ---------------------------------------------------------------

    def clear(self) -> None:
        """Reset the response: default headers, empty body, status 200.

        Cookies set so far are kept.
        """
        self._headers = self.application._header_template.fresh()
        if self._info.has_default_headers:
            self.set_default_headers()
        self._write_buffer = []
        self._status_code = 200
        self._reason = "OK"

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Set the response status; ``reason`` replaces the standard reason phrase.

        Raises:
            ValueError: the code is outside 100-599, or the reason contains characters
                a status line cannot carry (CR, LF, other controls) or ``<``, which
                would let a reflected reason inject markup into error pages.
        """
        if not isinstance(status_code, int) or not 100 <= status_code <= 599:
            raise ValueError(f"invalid HTTP status code {status_code!r}")
        self._status_code = status_code
        if reason is not None:
            if "<" in reason or not _REASON_RE.fullmatch(reason):
                raise ValueError(f"invalid reason phrase {reason!r}")
            self._reason = reason
        else:
            self._reason = http.client.responses.get(status_code, "Unknown")

    def get_status(self) -> int:
        """The response status code set so far."""
        return self._status_code

    def set_header(self, name: str, value: _HeaderValue) -> None:
        """Set response header ``name``, replacing earlier values.

        ``value`` may be text, bytes (latin-1), an int or a ``datetime`` (written as an
        HTTP date). Values with control characters are refused with ``ValueError``.
        """
        self._headers[name] = self._convert_header_value(value)

    def add_header(self, name: str, value: _HeaderValue) -> None:
        """Add a value to response header ``name`` (for headers that repeat)."""
        self._headers.add(name, self._convert_header_value(value))

    def clear_header(self, name: str) -> None:
        """Remove response header ``name`` (a default one too)."""
        if name in self._headers:
            del self._headers[name]

    def _convert_header_value(self, value: _HeaderValue) -> str:
        if isinstance(value, str):
            text = value
        elif isinstance(value, bytes):
            text = value.decode("latin1")
        elif isinstance(value, int):
            return str(value)
        elif isinstance(value, datetime.datetime):
            return httputil.format_timestamp(value)
        else:
            raise TypeError(f"unsupported header value {value!r}")
        # Every control character is unprintable: most values skip the pattern.
        if not text.isprintable() and _INVALID_HEADER_CHAR_RE.search(text):
            raise ValueError(f"unsafe header value {text!r}")
        return text

    # --- output ---------------------------------------------------------------------------

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        """Append ``chunk`` to the response body buffer.

        Text is encoded as UTF-8. A dict is written as JSON and sets the content type to
        ``application/json``. Lists are refused: a JSON array at the top level of a
        response could be read by other sites through ``<script>`` inclusion in old
        browsers; wrap it in a dict.
        """
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if isinstance(chunk, bytes):
            self._write_buffer.append(chunk)
        elif isinstance(chunk, str):
            self._write_buffer.append(chunk.encode("utf-8"))
        elif isinstance(chunk, dict):
            self._headers["Content-Type"] = "application/json; charset=UTF-8"
            self._write_buffer.append(json_body(chunk))
        else:
            raise TypeError(_refused_chunk_message(chunk))

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        """Send the buffered output; the first call also sends the status and headers.

        Flushing before :meth:`finish` makes an HTTP/1.1 response chunked. The returned
        future resolves once the data has been handed to the network (wait on it to
        respect flow control when streaming a large response).
        """
        connection = self.request.connection
        assert connection is not None
        buffer = self._write_buffer
        chunk = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        self._write_buffer = []
        if not self._headers_written:
            self._headers_written = True
            for transform in self._transforms:
                self._status_code, self._headers, chunk = transform.transform_first_chunk(
                    self._status_code, self._headers, chunk, include_footers
                )
            if self.request.method == "HEAD":
                chunk = b""
            new_cookies = self.__dict__.get("_new_cookie")
            if new_cookies:
                for line in new_cookies.values():
                    self._headers.add("Set-Cookie", line)
            start_line = _start_line(self._status_code, self._reason)
            return connection.write_headers(start_line, self._headers, chunk)
        for transform in self._transforms:
            chunk = transform.transform_chunk(chunk, include_footers)
        if self.request.method != "HEAD":
            return connection.write(chunk)
        return _done_future()

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Complete the response, writing ``chunk`` first if given.

        Sets ``Content-Length`` when the body was not flushed before, computes the
        ``Etag`` of GET/HEAD responses and turns a matching conditional request into a
        304. Returns a future that resolves when the last data is sent.
        """
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        request = self.request
        info = self._info
        if not self._headers_written:
            status = self._status_code
            if status == 200 and request.method in _GET_OR_HEAD and "Etag" not in self._headers:
                if info.default_etag:
                    buffer = self._write_buffer
                    body = buffer[0] if len(buffer) == 1 else b"".join(buffer)
                    self._headers["Etag"] = etag_of(body)
                else:
                    self.set_etag_header()
                if "If-None-Match" in request.headers and self.check_etag_header():
                    self._write_buffer = []
                    self.set_status(304)
                    status = 304
            if status in (204, 304) or 100 <= status < 200:
                # RFC 9110, sections 15.3.5 and 15.4.5: no content in these responses.
                if any(self._write_buffer):
                    raise RuntimeError(f"Cannot send body with {status}")
                self._write_buffer = []
                self._clear_representation_headers()
            elif "Content-Length" not in self._headers:
                buffer = self._write_buffer
                size = len(buffer[0]) if len(buffer) == 1 else sum(map(len, buffer))
                self._headers["Content-Length"] = str(size)
        connection: Any = request.connection
        assert connection is not None
        application = self.application
        notify = application._hooks.request_finished
        if info.needs_close_callback or notify:
            connection.set_close_callback(None)
        future = self.flush(include_footers=True)
        connection.finish()
        application.log_request(self)
        self._finished = True
        if info.has_on_finish:
            self.on_finish()
        if notify:
            self._notify_finished()
        return future

    def _abandon(self) -> None:
        """End a request whose response can no longer be sent (the connection is gone)."""
        if self._finished:
            return
        self._finished = True
        if self._info.has_on_finish:
            self.on_finish()
        if self.application._hooks.request_finished:
            self._notify_finished()

    def _notify_finished(self) -> None:
        if self.application._hooks.request_finished and not self._finish_notified:
            self._finish_notified = True
            self.application._request_finished(self)

    def _clear_representation_headers(self) -> None:
        # A 304 describes a representation it does not carry (RFC 9110, section 15.4.5).
        for name in ("Content-Encoding", "Content-Language", "Content-Type"):
            self.clear_header(name)

    def detach(self) -> Any:
        """Take over the connection's stream (for protocols that leave HTTP behind).

        The handler is finished from then on; the caller owns the returned
        :class:`~typhoon.iostream.IOStream`.
        """
        self._finished = True
        connection = self.request.connection
        assert connection is not None
        return connection.detach()  # type: ignore[attr-defined]

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Redirect the client to ``url`` (302, or 301 when ``permanent``) and finish.

        ``status`` picks another 3xx code. URLs containing control characters are
        refused (``ValueError``), so a redirect cannot split the response.
        """
        if self._headers_written:
            raise RuntimeError("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not isinstance(status, int) or not 300 <= status <= 399:
            raise ValueError(f"redirect status must be 3xx, not {status!r}")
        if _INVALID_HEADER_CHAR_RE.search(url):
            raise ValueError(f"unsafe redirect URL {url!r}")
        self.set_status(status)
        self._headers["Location"] = url
        self.finish()

    # --- errors ---------------------------------------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Answer with an error page for ``status_code`` (see :meth:`write_error`).

        Headers and body written so far are discarded (cookies are kept). When headers
        were already sent, the response is cut short instead.
        """
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
            return
        self.clear()
        reason = kwargs.get("reason")
        exc_info = kwargs.get("exc_info")
        if exc_info is not None:
            exception = exc_info[1]
            if isinstance(exception, HTTPError) and exception.reason:
                reason = exception.reason
        try:
            self.set_status(status_code, reason=reason)
        except ValueError:
            self.set_status(status_code if 100 <= status_code <= 599 else 500)
        if status_code == 405 and self._info.allowed:
            # RFC 9110, section 15.5.6: a 405 lists the methods that are supported.
            self._headers["Allow"] = self._info.allowed
        try:
            self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Write the body of an error page; override it for custom error pages.

        ``kwargs["exc_info"]`` holds the exception when one caused the error. The
        default writes a small HTML page, or a plain-text traceback when the
        ``serve_traceback`` setting is on (never in production: it reveals code).
        """
        exc_info = kwargs.get("exc_info")
        if self.settings.get("serve_traceback") and exc_info:
            self.set_header("Content-Type", "text/plain")
            for line in traceback.format_exception(*exc_info):
                self.write(line)
            self.finish()
            return
        self.finish(
            f"<html><title>{status_code}: {self._reason}</title>"
            f"<body>{status_code}: {self._reason}</body></html>"
        )

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        """Log an exception that escaped the handler.

        ``HTTPError`` is logged as a warning with its ``log_message`` (or not at all
        without one); anything else is an error with the traceback and the request.
        """
        if isinstance(value, HTTPError):
            if value.log_message:
                message = "%d %s: " + value.log_message
                gen_log.warning(message, value.status_code, self._request_summary(), *value.args)
            return
        assert typ is not None
        assert value is not None
        app_log.error(
            "Uncaught exception %s\n%r",
            self._request_summary(),
            self.request,
            exc_info=(typ, value, tb),
        )

    def _request_summary(self) -> str:
        request = self.request
        return f"{request.method} {request.uri} ({request.remote_ip})"

    def require_setting(self, name: str, feature: str = "this feature") -> None:
        """Raise an exception naming ``feature`` unless setting ``name`` is set.

        Raises:
            ConfigurationError: the application lacks the setting.
        """
        if not self.application.settings.get(name):
            raise ConfigurationError(
                f"You must define the '{name}' setting in your application to use {feature}"
            )

    # --- caching --------------------------------------------------------------------------

    def compute_etag(self) -> str | None:
        """The entity tag of the buffered body (SHA-1); ``None`` sends no ``Etag``."""
        hasher = hashlib.sha1()
        for part in self._write_buffer:
            hasher.update(part)
        return f'"{hasher.hexdigest()}"'

    def set_etag_header(self) -> None:
        """Set ``Etag`` from :meth:`compute_etag`, when it returns one."""
        etag = self.compute_etag()
        if etag is not None:
            self._headers["Etag"] = etag

    def check_etag_header(self) -> bool:
        """Whether the response ``Etag`` matches the request's ``If-None-Match``.

        Weak comparison (RFC 9110, section 13.1.2): ``W/`` prefixes are ignored and
        ``*`` matches anything.
        """
        computed = utf8(self._headers.get("Etag", ""))
        candidates = _ETAG_RE.findall(utf8(self.request.headers.get("If-None-Match", "")))
        if not computed or not candidates:
            return False
        if candidates[0] == b"*":
            return True
        target = computed[2:] if computed.startswith(b"W/") else computed
        return any((tag[2:] if tag.startswith(b"W/") else tag) == target for tag in candidates)

    # --- URLs -----------------------------------------------------------------------------

    def reverse_url(self, name: str, *args: Any) -> str:
        """The URL of the rule called ``name``, filled with ``args``."""
        return self.application.reverse_url(name, *args)

    def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str:
        """The URL of static file ``path``, versioned by content hash when possible.

        Delegates to the ``static_handler_class`` setting's ``make_static_url``.
        ``include_host`` (default: the handler's ``include_host`` attribute) makes the
        URL absolute, for pages read away from the site (e-mails, feeds).
        """
        self.require_setting("static_path", "static_url")
        handler_class = self.application.settings.get("static_handler_class")
        if handler_class is None:
            raise ConfigurationError(
                "static_url needs the 'static_handler_class' setting (the static files "
                "feature sets it when 'static_path' is given)"
            )
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        base = f"{self.request.protocol}://{self.request.host}" if include_host else ""
        url: str = handler_class.make_static_url(self.application.settings, path, **kwargs)
        return base + url

    # --- the request cycle ----------------------------------------------------------------

    async def _execute(
        self, transforms: Sequence[Any], *args: bytes | None, **kwargs: bytes | None
    ) -> None:
        """Run the request through the handler (see the module docstring)."""
        if transforms:
            self._transforms = transforms
        token = _current_handler.set(self)
        try:
            request = self.request
            method = request.method
            if method not in self.SUPPORTED_METHODS:
                raise HTTPError(405)
            if args:
                # A group that did not take part in the match arrives as None.
                self.path_args = [
                    None if arg is None else self.decode_argument(arg) for arg in args
                ]
            if kwargs:
                self.path_kwargs = {
                    name: None if value is None else self.decode_argument(value, name=name)
                    for name, value in kwargs.items()
                }
            if method not in SAFE_METHODS:
                settings = self.application.settings
                if settings.get("cross_origin_protection"):
                    self.check_cross_origin_request()
                if settings.get("xsrf_cookies"):
                    self.check_xsrf_cookie()
            hooks = self.application._hooks
            info = self._info
            if (
                info.resolves_user_async or hooks.resolve_current_user_async
            ) and "_current_user" not in self.__dict__:
                if info.resolves_user_async:
                    self._current_user = await self.get_current_user()
                elif hooks.resolve_current_user_async and not _overrides_user(type(self)):
                    self._current_user = await self.application.plugin_manager.acall_first(
                        "resolve_current_user", handler=self, passthrough=(HTTPError, Finish)
                    )
            if info.has_prepare:
                result = self.prepare()
                if result is not None:
                    await _awaitable(result)
            if hooks.prepare_request and not self._finished:
                await self.application.plugin_manager.acall_first(
                    "prepare_request",
                    handler=self,
                    until=lambda _: self._finished,
                    passthrough=(HTTPError, Finish),
                )
            if self._prepared_future is not None:
                # The body may start arriving now (streaming handlers).
                future_set_result_unless_cancelled(self._prepared_future, None)
            if self._finished:
                return
            if self._stream_request_body:
                try:
                    assert self._body_future is not None
                    await self._body_future
                except StreamClosedError:
                    return
            verb = getattr(self, _VERB_ATTRS.get(method) or method.lower())
            result = verb(*self.path_args, **self.path_kwargs)
            if result is not None:
                await _awaitable(result)
            if self._auto_finish and not self._finished:
                self.finish()
        except Exception as exc:
            try:
                if self.application._hooks.handle_exception and not isinstance(exc, Finish):
                    await self._handle_exception_with_plugins(exc)
                else:
                    self._handle_request_exception(exc)
            except Exception:
                app_log.error("Exception in exception handler", exc_info=True)
            finally:
                if self._prepared_future is not None and not self._prepared_future.done():
                    self._prepared_future.set_result(None)
        finally:
            _current_handler.reset(token)

    async def _handle_exception_with_plugins(self, exc: Exception) -> None:
        try:
            handled = await self.application.plugin_manager.acall_first(
                "handle_exception", handler=self, exc=exc, until=lambda result: result is True
            )
        except PluginError:
            app_log.error("Exception in a handle_exception hook", exc_info=True)
            handled = None
        if handled is True:
            self.log_exception(type(exc), exc, exc.__traceback__)
            if not self._finished and not self._headers_written:
                self.finish()
            return
        self._handle_request_exception(exc)

    def _handle_request_exception(self, exc: BaseException) -> None:
        if isinstance(exc, Finish):
            if not self._finished:
                self.finish(*exc.args)
            return
        if isinstance(exc, StreamClosedError) and self._headers_written:
            # The client went away while the response was being sent: nothing can be
            # answered any more, and it is not a server error.
            gen_log.info("Client closed the connection during %s", self._request_summary())
            self._abandon()
            return
        exc_info = (type(exc), exc, exc.__traceback__)
        try:
            self.log_exception(*exc_info)
        except Exception:
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            return
        if isinstance(exc, HTTPError):
            self.send_error(exc.status_code, exc_info=exc_info)
        else:
            self.send_error(500, exc_info=exc_info)


#: Response start lines by (status, reason): immutable, so shared between responses.
_START_LINES: dict[tuple[int, str], httputil.ResponseStartLine] = {}


def _start_line(status: int, reason: str) -> httputil.ResponseStartLine:
    key = (status, reason)
    line = _START_LINES.get(key)
    if line is None:
        line = httputil.ResponseStartLine("", status, reason)
        if len(_START_LINES) >= 256:  # custom reasons must not grow it without bound
            _START_LINES.clear()
        _START_LINES[key] = line
    return line


def _awaitable(result: Any) -> Awaitable[Any]:
    """``result`` itself when it is a coroutine or a future, else what ``convert_yielded``
    makes of it: foreign awaitables go through the adapters plugins registered (Twisted's
    ``Deferred`` is awaitable but yields itself, which a task cannot wait on), then
    ``None``, lists and dicts of futures and other awaitables."""
    if inspect.iscoroutine(result) or isinstance(result, asyncio.Future):
        return result
    return convert_yielded(result)


def _refused_chunk_message(chunk: object) -> str:
    message = "write() only accepts bytes, str and dict objects"
    if isinstance(chunk, list):
        message += " (a list is refused: wrap it in a dict so it cannot be read as JSONP)"
    return message


def _overrides_user(cls: type[RequestHandler]) -> bool:
    return cls.get_current_user is not RequestHandler.get_current_user


def _done_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


_HeaderValue = str | bytes | int | datetime.datetime
