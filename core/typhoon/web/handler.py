"""RequestHandler: one object per request, from routing to the last byte of the response.

Layer 5 (web). Imports ``typhoon.httputil``, ``typhoon.concurrent``, ``typhoon.errors``,
``typhoon.iostream`` (its closed-stream error), ``typhoon.log``, ``typhoon.web.context``
and the handler mixins (``_output``, ``rendering``, ``identity``, ``xsrf``, ``cookies``,
``arguments``); the ``Application`` type is named for the checker only.

The lifecycle of a request (:meth:`RequestHandler._execute`): ``initialize(**kwargs)``
(from the URL rule), ``set_default_headers()``, method check, path arguments decoded,
cross-origin and XSRF checks for unsafe methods, the current user resolved when that
needs awaiting, ``prepare()``, the plugins' ``prepare_request``, the verb method
(``get``, ``post``, ...), then ``finish()`` unless the handler finished itself or turned
auto-finish off (``detach``, streaming). Every exception ends in :meth:`send_error`, so
the client always gets a response; ``on_finish()`` runs once the response is complete.
The response itself (status, headers, ``write``, ``flush``, ``finish``, entity tags) is
built by the methods of :class:`typhoon.web._output.OutputMixin`.

Performance notes: a handler builds nothing it may not use. The response headers start
as a new table whose ``Date`` is formatted once per second, the template namespace, UI
helpers, locale and cookies are built on first use, and per-class facts (which verbs
exist, which hooks are overridden, whether anything may need awaiting before the verb
method) are computed once per class. When nothing before the verb method can need
awaiting, the request runs as plain calls (:meth:`RequestHandler._run`), and a
coroutine is made only for what the handler returns to be awaited; that coroutine,
like :meth:`RequestHandler._execute`, runs in an asyncio task of its own (an ``async
def get`` sees ``asyncio.current_task()``).
"""

from __future__ import annotations

__all__ = ["HeaderTemplate", "RequestHandler", "forget_class_info"]

import asyncio
import inspect
import time
import traceback
import types
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from typhoon import httputil
from typhoon.concurrent import convert_yielded, future_set_result_unless_cancelled
from typhoon.errors import ConfigurationError, Finish, HTTPError, PluginError
from typhoon.iostream import StreamClosedError
from typhoon.log import app_log, gen_log
from typhoon.web._output import DEFAULT_CONTENT_TYPE, SERVER_HEADER, HeaderTemplate, OutputMixin
from typhoon.web.context import _current_handler
from typhoon.web.rendering import RenderingMixin
from typhoon.web.xsrf import SAFE_METHODS, XsrfMixin

if TYPE_CHECKING:
    from typhoon.web.application import Application

_time = time.time
_new_headers = httputil.HTTPHeaders._from_parsed
# Bound here: CPython 3.11 compiles ``name.method()`` on a name bound by an import as
# an attribute load it cannot specialise (it assumes the name is a module).
_set_current_handler = _current_handler.set

#: The handler method of each standard HTTP method (others are lower-cased per request).
_VERB_ATTRS = {
    method: method.lower()
    for method in ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
}


class _ClassInfo:
    """Facts about a handler class that do not change between its requests."""

    __slots__ = (
        "allowed",
        "chains_init",
        "cls",
        "default_etag",
        "default_flush",
        "has_default_headers",
        "has_initialize",
        "has_on_finish",
        "has_prepare",
        "needs_close_callback",
        "plain_init",
        "resolves_user_async",
        "runs_inline",
    )

    def __init__(self, cls: type[RequestHandler]) -> None:
        #: The class these facts are about (subclasses inherit the attribute).
        self.cls = cls
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
        #: The constructor calls nothing after the default headers (given no rule
        #: arguments and no ``request_finished`` hook).
        self.plain_init = not (
            self.has_default_headers or self.needs_close_callback or self.has_initialize
        )
        #: ``flush`` is not overridden: ``finish`` may send a whole response itself.
        self.default_flush = cls.flush is RequestHandler.flush
        #: Nothing of the class itself must be awaited before the verb method (the
        #: application's hooks are checked per request): :meth:`RequestHandler._run`.
        self.runs_inline = not (
            cls._stream_request_body
            or self.resolves_user_async
            or _is_async(cls.prepare)
            or cls._execute is not RequestHandler._execute
        )


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function)


def forget_class_info(cls: type[RequestHandler]) -> None:
    """Drop what was computed about ``cls`` (after a decorator changed the class)."""
    if "_typhoon_class_info" in cls.__dict__:
        type.__delattr__(cls, "_typhoon_class_info")


class RequestHandler(OutputMixin, RenderingMixin, XsrfMixin):
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

    #: What was computed about the class (see ``_ClassInfo``); set on first use.
    _typhoon_class_info: ClassVar[_ClassInfo | None] = None

    #: Set by ``@stream_request_body``: the body goes to :meth:`data_received`.
    _stream_request_body: ClassVar[bool] = False

    path_args: list[Any]
    path_kwargs: dict[str, Any]

    # Per-request state read on every request is stored by __init__ (an instance's own
    # attribute reads several times faster than a class default); the rest starts
    # from these class-level defaults.
    _auto_finish = True
    _finish_notified = False
    _prepared_future: asyncio.Future[None] | None = None
    #: Resolved when a streamed body has been received in full (streaming only).
    _body_future: asyncio.Future[None] | None = None

    def __init__(
        self,
        application: Application,
        request: httputil.HTTPServerRequest,
        **kwargs: Any,
    ) -> None:
        cls = type(self)
        # Kept on each class itself (an inherited one names another class), so classes
        # made at run time do not accumulate in a registry.
        info = cls._typhoon_class_info
        if info is None or info.cls is not cls:
            info = _ClassInfo(cls)
            type.__setattr__(cls, "_typhoon_class_info", info)
        if info.chains_init:
            super().__init__()
        self.application = application
        self.request = request
        self.path_args = []
        self.path_kwargs = {}
        self._info = info
        # What clear() does (the default headers, HeaderTemplate.fresh inline; an
        # empty body; status 200), then the rest of the per-request state.
        template = application._header_template
        now = _time()
        if int(now) != template.second:
            template.refresh(now)
        self._headers = _new_headers(
            {
                "Server": [SERVER_HEADER],
                "Content-Type": [DEFAULT_CONTENT_TYPE],
                "Date": [template.date],
            }
        )
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"
        self._headers_written = False
        self._finished = False
        self._auto_finish = True
        self._transforms = ()
        self._new_cookie = None
        if info.plain_init and not kwargs and not application._hooks.request_finished:
            return
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

    # --- the end of a request -------------------------------------------------------------

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

    def detach(self) -> Any:
        """Take over the connection's stream (for protocols that leave HTTP behind).

        The handler is finished from then on; the caller owns the returned
        :class:`~typhoon.iostream.IOStream`.
        """
        self._finished = True
        connection = self.request.connection
        assert connection is not None
        return connection.detach()  # type: ignore[attr-defined]

    # --- errors ---------------------------------------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Answer with an error page for ``status_code`` (see :meth:`write_error`).

        Headers and body written so far are discarded (cookies are kept). When headers
        were already sent, the response is cut short instead: finished if it can be,
        else the connection is closed, so the client never waits for the rest of a
        response that will not come.
        """
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
                    self._close_connection()
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
            # An unsafe reason gives way to "Unknown" (as in Tornado: the page does not
            # pretend to know the real phrase); an impossible code (not 100-999) to a
            # plain 500.
            try:
                self.set_status(status_code, reason="Unknown")
            except ValueError:
                status_code = 500
                self.set_status(status_code)
        if status_code == 405 and self._info.allowed:
            # RFC 9110, section 15.5.6: a 405 lists the methods that are supported.
            self._headers["Allow"] = self._info.allowed
        try:
            self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            try:
                self.finish()
            except Exception:
                app_log.error("Cannot send the error response", exc_info=True)
                self._answer_bare_500()

    def _answer_bare_500(self) -> None:
        """The last resort of an error response that failed: a 500 with no body and only
        the default headers when nothing was sent yet, else a closed connection."""
        if not self._headers_written:
            self.clear()
            self.set_status(500)
            try:
                self.finish()
                return
            except Exception:
                app_log.error("Cannot send a 500 response", exc_info=True)
        self._close_connection()

    def _close_connection(self) -> None:
        """Close the connection of a response that cannot be completed, and end the request."""
        close = getattr(self.request.connection, "close", None)
        if close is not None:
            close()
        self._abandon()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Write the body of an error page; override it for custom error pages.

        ``kwargs["exc_info"]`` holds the exception when one caused the error. The
        default writes a small HTML page, or a plain-text traceback when the
        ``serve_traceback`` setting is on (never in production: it reveals code). A
        status that has no content (1xx, 204, 304) is answered without a page.
        """
        if status_code < 200 or status_code == 204 or status_code == 304:
            # RFC 9110, sections 15.2, 15.3.5 and 15.4.5: these responses have no content.
            self.finish()
            return
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
            if args or kwargs:
                self._decode_path_arguments(args, kwargs)
            if method not in SAFE_METHODS:
                self._check_unsafe_method()
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
            result = self._call_verb(method)
            if result is not None:
                await _awaitable(result)
            if self._auto_finish and not self._finished:
                self.finish()
        except (Exception, asyncio.CancelledError) as exc:
            try:
                if _task_cancelled(exc):
                    self._end_cancelled()
                    raise
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

    def _run(
        self,
        transforms: Sequence[Any],
        args: Sequence[bytes | None],
        kwargs: dict[str, bytes | None],
    ) -> Coroutine[Any, Any, None] | None:
        """Run the request as :meth:`_execute` does, as plain calls where it can.

        For a class whose facts say nothing of its own must be awaited before the verb
        method (``runs_inline``), in an application with no plugin hook that must be
        awaited there. The caller runs it in the request's own context (a copy), so the
        current handler is set there for good. Returns ``None`` when the request is
        done, or a coroutine that completes it when ``prepare`` or the verb method
        returned something to wait for.
        """
        if transforms:
            self._transforms = transforms
        _set_current_handler(self)
        try:
            method = self.request.method
            if method not in self.SUPPORTED_METHODS:
                raise HTTPError(405)
            if args or kwargs:
                self._decode_path_arguments(args, kwargs)
            if method not in SAFE_METHODS:
                self._check_unsafe_method()
            if self._info.has_prepare:
                result = self.prepare()
                if result is not None:
                    return self._resume(result, method)
                if self._finished:
                    return None
            verb = getattr(self, _VERB_ATTRS.get(method) or method.lower())
            if args or kwargs or self._info.has_prepare:
                # The decoded captures, as prepare() may have left them.
                result = verb(*self.path_args, **self.path_kwargs)
            else:
                result = verb()
            if result is not None:
                return self._resume(result, None)
            if self._auto_finish and not self._finished:
                self.finish()
        except (Exception, asyncio.CancelledError) as exc:
            self._handle_inline_exception(exc)
        return None

    async def _resume(self, pending: Any, method: str | None) -> None:
        """The rest of :meth:`_run` once ``pending`` must be awaited.

        ``pending`` came from ``prepare`` when ``method`` is given (the verb method is
        still to be called), else from the verb method.
        """
        try:
            await _awaitable(pending)
            if method is not None:
                if self._finished:
                    return
                result = self._call_verb(method)
                if result is not None:
                    await _awaitable(result)
            if self._auto_finish and not self._finished:
                self.finish()
        except (Exception, asyncio.CancelledError) as exc:
            if _task_cancelled(exc):
                self._end_cancelled()
                raise
            self._handle_inline_exception(exc)

    def _call_verb(self, method: str | None) -> Any:
        verb = getattr(self, _VERB_ATTRS.get(method) or method.lower())  # type: ignore[arg-type, union-attr]
        return verb(*self.path_args, **self.path_kwargs)

    def _decode_path_arguments(
        self, args: Sequence[bytes | None], kwargs: dict[str, bytes | None]
    ) -> None:
        # A group that did not take part in the match arrives as None.
        if args:
            self.path_args = [None if arg is None else self.decode_argument(arg) for arg in args]
        if kwargs:
            self.path_kwargs = {
                name: None if value is None else self.decode_argument(value, name=name)
                for name, value in kwargs.items()
            }

    def _check_unsafe_method(self) -> None:
        settings = self.application.settings
        if settings.get("cross_origin_protection"):
            self.check_cross_origin_request()
        if settings.get("xsrf_cookies"):
            self.check_xsrf_cookie()

    def _handle_inline_exception(self, exc: BaseException) -> None:
        try:
            self._handle_request_exception(exc)
        except Exception:
            app_log.error("Exception in exception handler", exc_info=True)

    def _end_cancelled(self) -> None:
        """Answer 500 for a request whose task was cancelled (not a handler bug: no log)."""
        if self._finished:
            return
        try:
            self.send_error(500)
        except Exception:
            app_log.error("Exception in exception handler", exc_info=True)

    async def _handle_exception_with_plugins(self, exc: BaseException) -> None:
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


def _task_cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is the cancellation of the running task itself.

    A handler that awaits something cancelled elsewhere (or raises ``CancelledError``)
    has a bug answered with a logged 500; a request whose own task is cancelled (a
    shutdown, a caller's timeout) is answered too, then its task ends cancelled.
    """
    if not isinstance(exc, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _awaitable(result: Any) -> Awaitable[Any]:
    """``result`` itself when it is a coroutine or a future, else what ``convert_yielded``
    makes of it: foreign awaitables go through the adapters plugins registered (Twisted's
    ``Deferred`` is awaitable but yields itself, which a task cannot wait on), then
    ``None``, lists and dicts of futures and other awaitables."""
    if inspect.iscoroutine(result) or isinstance(result, asyncio.Future):
        return result
    return convert_yielded(result)


def _overrides_user(cls: type[RequestHandler]) -> bool:
    return cls.get_current_user is not RequestHandler.get_current_user
