"""The request path of an Application: routing to a handler class and running it.

Layer 5 (web), private to ``typhoon.web.application``. Imports ``typhoon.httputil``,
``typhoon.routing``, ``typhoon.concurrent``, ``typhoon.errors``, ``typhoon.log`` and
``typhoon.web.handler``; the ``Application`` type is named for the checker only.

Strategy. Every request costs the same fixed work, so this path does as little as it
can:

* At most one delegate object per request. :class:`HandlerDelegate` is what the
  application's ``start_request`` returns: it builds the request when the head
  arrives, routes it, and then itself collects the body and runs the handler. Only
  when a route leads somewhere else (a nested application, a plain callable) does it
  forward the message to that target's delegate. A request the server received
  whole, without a body, needs none: :func:`run_whole_request` routes it and
  :func:`start_handler` runs its handler.
* Routes are plain tuples ``(handler_class, initialize_kwargs, path_args,
  path_kwargs)``; the common rule (a path pattern leading to a handler class) is
  matched inline, other rules through the generic ``Matcher`` protocol.
* The handler runs in a copy of the current context. When nothing has to be awaited
  before its verb method (no ``async`` ``prepare`` or user lookup, no plugin hook to
  await, no streamed body), it runs as plain calls (``RequestHandler._run``): a plain
  ``def get`` finishes without the event loop scheduling anything. Whatever is left to
  await (an ``async def get``, a coroutine ``prepare``, a future the verb returned)
  runs in an asyncio task of its own (:func:`run_in_task`), as does the handler's
  ``_execute`` coroutine otherwise: code in a handler may rely on
  ``asyncio.current_task()`` and ``asyncio.timeout()``, and cancelling the task ends
  the request like any other interruption.
"""

from __future__ import annotations

__all__ = [
    "ApplicationRouter",
    "HandlerDelegate",
    "Route",
    "run_in_task",
    "run_whole_request",
    "start_handler",
]

import asyncio
import contextvars
import re
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from typhoon import httputil, routing
from typhoon.concurrent import future_set_result_unless_cancelled
from typhoon.errors import HTTPInputError
from typhoon.log import app_log, gen_log
from typhoon.routing import PathMatches, ReversibleRuleRouter, Router, Rule
from typhoon.web.handler import RequestHandler

if TYPE_CHECKING:
    from typhoon.web.application import Application

#: A matched handler: its class, ``initialize`` keyword arguments, and the path
#: captures (positional and named; ``None`` when the pattern has none).
Route = tuple[
    type[RequestHandler],
    "dict[str, Any] | None",
    "list[bytes | None] | None",
    "dict[str, bytes | None] | None",
]

# Shared empty arguments: only ever unpacked (``**``), never changed.
_NO_KWARGS: dict[str, Any] = {}
#: The inline request run, called unbound (cheaper than making a bound method).
_run_handler = RequestHandler._run


class ApplicationRouter(ReversibleRuleRouter):
    """A rule router whose ``RequestHandler`` targets become handler delegates."""

    def __init__(self, application: Application, rules: Sequence[Any] | None = None) -> None:
        self.application = application
        # The routing table (see _compile), built on first use and when rules change.
        self._table_rules: list[Rule] | None = None
        self._table_edits = -1
        self._exact: dict[str, tuple[int, Route]] = {}
        self._others: list[tuple[int, Rule]] = []
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        """Turn a list target into a nested router of the same application."""
        if isinstance(rule.target, list | tuple):
            rule.target = ApplicationRouter(self.application, rule.target)
        return super().process_rule(rule)

    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """A handler class runs in a handler delegate; other targets as for any router."""
        if isinstance(target, type) and issubclass(target, RequestHandler):
            return self.application.get_handler_delegate(request, target, **target_params)
        return super().get_target_delegate(target, request, **target_params)

    def match_route(
        self, request: httputil.HTTPServerRequest
    ) -> Route | httputil.HTTPMessageDelegate | None:
        """The first rule's answer: a :data:`Route`, another target's delegate, or ``None``."""
        rules = self.rules
        if self._table_edits != routing._rule_edits or self._table_rules != rules:
            self._compile(rules)
        path = request.path
        hit = self._exact.get(path)
        if hit is None and path[-1:] == "\n":
            hit = self._exact.get(path[:-1])  # "$" also matches before a final newline
        others = self._others
        if others:
            # Rules that are not exact paths come first when they come earlier.
            limit = len(rules) if hit is None else hit[0]
            for position, rule in others:
                if position > limit:
                    break
                route = self._match_rule(rule, request, path)
                if route is not None:
                    return route
        return None if hit is None else hit[1]

    def _compile(self, rules: list[Rule]) -> None:
        """Split ``rules`` into exact paths (one dictionary lookup) and the others.

        Rebuilt whenever the list changes or a rule (or its path matcher) is edited in
        place (both checked on each request).
        """
        exact: dict[str, tuple[int, Route]] = {}
        others: list[tuple[int, Rule]] = []
        for position, rule in enumerate(rules):
            matcher = rule.matcher
            target = rule.target
            if _handler_path_rule(matcher, target):
                path = _literal_path(matcher.regex)  # type: ignore[attr-defined]
                if path is not None:
                    exact.setdefault(path, (position, (target, rule.target_kwargs, None, None)))
                    continue
            others.append((position, rule))
        self._exact = exact
        self._others = others
        self._table_rules = list(rules)
        self._table_edits = routing._rule_edits

    def _match_rule(
        self, rule: Rule, request: httputil.HTTPServerRequest, path: str
    ) -> Route | httputil.HTTPMessageDelegate | None:
        matcher = rule.matcher
        target = rule.target
        if _handler_path_rule(matcher, target):
            found = matcher.match_path(path)  # type: ignore[attr-defined]
            if found is None:
                return None
            args, kwargs = found
            return target, rule.target_kwargs, args or None, kwargs or None
        params = matcher.match(request)
        if params is None:
            return None
        if type(target) is ApplicationRouter:
            # Nested rules of this application: route without building delegates.
            return target.match_route(request)
        if rule.target_kwargs:
            params["target_kwargs"] = rule.target_kwargs
        return self.get_target_delegate(target, request, **params)

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        """The delegate of the first matching rule, or ``None``."""
        route = self.match_route(request)
        if type(route) is tuple:
            return self.application.get_handler_delegate(request, *route)
        return route  # type: ignore[return-value]


_REGEX_SYNTAX = frozenset("\\.^$*+?{}[]|()")


def _handler_path_rule(matcher: object, target: object) -> bool:
    """A rule the web layer routes itself: a path pattern leading to a handler class."""
    return (
        type(matcher) is PathMatches
        and isinstance(target, type)
        and issubclass(target, RequestHandler)
    )


def _literal_path(regex: re.Pattern[str]) -> str | None:
    """The one path ``regex`` matches (ignoring ``$``'s final newline), if it is literal."""
    pattern = regex.pattern
    if regex.flags != re.UNICODE or type(pattern) is not str or not pattern.endswith("$"):
        return None
    body = pattern[:-1]
    if _REGEX_SYNTAX.intersection(body):
        return None
    return body


def run_in_task(
    running: set[asyncio.Task[Any]], coro: Any, context: contextvars.Context | None = None
) -> asyncio.Task[Any]:
    """Run ``coro`` in a new task, in ``context`` (default: a copy of the current one).

    The task is kept in ``running`` until it ends.
    """
    task = asyncio.get_running_loop().create_task(coro, context=context)
    running.add(task)
    task.add_done_callback(_request_task_done(running))
    return task


def _request_task_done(running: set[asyncio.Task[Any]]) -> Any:
    def done(task: asyncio.Task[Any]) -> None:
        running.discard(task)
        # The handler deals with its own errors; anything left is a bug worth a log line.
        if not task.cancelled() and task.exception() is not None:
            app_log.error("Uncaught exception in request handler", exc_info=task.exception())

    return done


class HandlerDelegate(httputil.HTTPMessageDelegate):
    """Receives one request for an application and runs its handler.

    Made with the connection before the head arrives (``Application.start_request``):
    it then builds and routes the request itself, and forwards everything to another
    delegate when the route is not a handler. :meth:`routed` makes one for a request
    that is already routed (``Application.get_handler_delegate``).
    """

    # Per-request state starts from these class-level defaults; an instance stores
    # what it changes, and ``_route_to`` the route's handler and arguments.
    request: httputil.HTTPServerRequest | None = None
    handler_class: type[RequestHandler] = RequestHandler
    handler_kwargs: dict[str, Any] = _NO_KWARGS
    path_args: Sequence[bytes | None] = ()
    path_kwargs: dict[str, bytes | None] = _NO_KWARGS
    #: The body received so far (``None`` until a piece arrives).
    chunks: list[bytes] | None = None
    #: The connection closed early: pieces arriving after that are not kept.
    dropped = False
    handler: RequestHandler | None = None
    stream_request_body = False
    forward: httputil.HTTPMessageDelegate | None = None

    def __init__(
        self,
        application: Application,
        connection: httputil.HTTPConnection | None = None,
        server_connection: object = None,
    ) -> None:
        self.application = application
        #: Used to build the request from its head (when it is not routed yet).
        self.connection = connection
        self.server_connection = server_connection

    @classmethod
    def routed(
        cls,
        application: Application,
        request: httputil.HTTPServerRequest,
        handler_class: type[RequestHandler],
        handler_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes | None] | None = None,
        path_kwargs: dict[str, bytes | None] | None = None,
    ) -> HandlerDelegate:
        """A delegate for ``request``, already routed to ``handler_class``."""
        delegate = cls(application)
        delegate.request = request
        delegate._route_to(handler_class, handler_kwargs, path_args, path_kwargs)
        return delegate

    def _route_to(
        self,
        handler_class: type[RequestHandler],
        handler_kwargs: dict[str, Any] | None,
        path_args: list[bytes | None] | None,
        path_kwargs: dict[str, bytes | None] | None,
    ) -> bool:
        """Take the route's handler and arguments; True when it streams the body."""
        # Stored even when empty: execute() reads them, and reading an instance's own
        # attribute is several times cheaper than falling back to the class default.
        self.handler_class = handler_class
        self.handler_kwargs = handler_kwargs or _NO_KWARGS
        self.path_args = path_args or ()
        self.path_kwargs = path_kwargs or _NO_KWARGS
        if handler_class._stream_request_body:
            self.stream_request_body = True
            return True
        return False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        if self.request is None:
            # A server delegate only ever gets request start lines.
            method, uri, version = start_line
            request = self.request = httputil._server_request(
                method,
                uri,  # type: ignore[arg-type]
                version,
                headers,
                self.connection,
                self.server_connection,
            )
            route = self.application._match_route(request)
            if type(route) is not tuple:
                self.forward = route  # type: ignore[assignment]
                return route.headers_received(start_line, headers)  # type: ignore[union-attr]
            if self._route_to(*route):
                return self.execute()
            return None
        if self.stream_request_body:
            return self.execute()
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self.forward is not None:
            return self.forward.data_received(chunk)
        if self.stream_request_body:
            # No handler: creating it failed, and the 500 is answered; drop the body.
            return None if self.handler is None else self.handler.data_received(chunk)
        chunks = self.chunks
        if chunks is not None:
            chunks.append(chunk)
        elif not self.dropped:
            self.chunks = [chunk]
        return None

    def finish(self) -> None:
        if self.forward is not None:
            self.forward.finish()
            return
        if self.stream_request_body:
            handler = self.handler
            if handler is not None and handler._body_future is not None:
                future_set_result_unless_cancelled(handler._body_future, None)
            return
        chunks = self.chunks
        if chunks is not None:
            self.chunks = None
            request = self.request
            assert request is not None
            request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                request._parse_body()
            except HTTPInputError as exc:
                gen_log.warning("Malformed request body from %s: %s", request.remote_ip, exc)
                self._reject(exc.status_code)
                return
        self.execute()

    def on_connection_close(self) -> None:
        if self.forward is not None:
            self.forward.on_connection_close()
        elif self.stream_request_body:
            if self.handler is not None:
                self.handler.on_connection_close()
        else:
            self.chunks = None
            self.dropped = True

    def _reject(self, status: int) -> None:
        """Answer ``status`` without running the handler's verb method.

        The route's handler class writes the error page, so its ``write_error`` applies.
        """
        assert self.request is not None
        handler = self.handler_class(self.application, self.request, **self.handler_kwargs)
        handler.send_error(status)

    def execute(self) -> Awaitable[None] | None:
        """Create the handler and start it.

        For streaming handlers, the returned future resolves once ``prepare`` has run,
        so the connection reads no body before the handler is ready for it.
        """
        request = self.request
        assert request is not None
        return start_handler(
            self.application,
            request,
            self.handler_class,
            self.handler_kwargs,
            self.path_args,
            self.path_kwargs,
            self,
        )


def start_handler(
    application: Application,
    request: httputil.HTTPServerRequest,
    handler_class: type[RequestHandler],
    handler_kwargs: dict[str, Any],
    path_args: Sequence[bytes | None],
    path_kwargs: dict[str, bytes | None],
    delegate: HandlerDelegate | None = None,
) -> Awaitable[None] | None:
    """Create the route's handler for ``request`` and start it.

    ``delegate`` is the request's delegate when it has one: a handler that streams its
    body is reached through it, and the returned future resolves once ``prepare`` has
    run. A request that arrived whole needs none.
    """
    settings = application.settings
    if not settings.get("compiled_template_cache", True):
        with RequestHandler._template_loader_lock:
            for loader in RequestHandler._template_loaders.values():
                loader.reset()
    if not settings.get("static_hash_cache", True):
        static_class = settings.get("static_handler_class")
        if static_class is not None:
            static_class.reset()
    try:
        if handler_kwargs:
            handler = handler_class(application, request, **handler_kwargs)
        else:
            handler = handler_class(application, request)
    except Exception:
        app_log.error(
            "Uncaught exception creating %s for %r",
            handler_class.__name__,
            request,
            exc_info=True,
        )
        RequestHandler(application, request).send_error(500)
        return None
    factories = application.transforms
    transforms = [factory(request) for factory in factories] if factories else ()
    streaming = delegate is not None and delegate.stream_request_body
    if not streaming and handler._info.runs_inline and not application._hooks.awaits_early:
        # Nothing must be awaited before the verb method: plain calls, in the
        # request's own context; a coroutine only for what is left to await.
        context = contextvars.copy_context()
        rest = context.run(_run_handler, handler, transforms, path_args, path_kwargs)
        if rest is not None:
            run_in_task(application._running, rest, context)
        return None
    prepared: asyncio.Future[None] | None = None
    if streaming:
        assert delegate is not None
        delegate.handler = handler
        loop = asyncio.get_running_loop()
        prepared = handler._prepared_future = loop.create_future()
        handler._body_future = loop.create_future()
    run_in_task(
        application._running,
        handler._execute(transforms, *path_args, **path_kwargs),
    )
    return prepared


def run_whole_request(
    application: Application, request: httputil.HTTPServerRequest
) -> httputil.HTTPMessageDelegate | None:
    """Route and start a request that arrived whole, without a body (the server's shortcut).

    A route to a handler class that does not stream its body starts the handler at
    once: ``None``. Any other route hands back the delegate the message is then
    delivered to, as through ``start_request``: the route's own delegate, or a handler
    delegate for a handler that streams its body.
    """
    route = application._match_route(request)
    if type(route) is not tuple:
        return route  # type: ignore[return-value]
    handler_class, handler_kwargs, path_args, path_kwargs = route
    if handler_class._stream_request_body:
        return HandlerDelegate.routed(
            application, request, handler_class, handler_kwargs, path_args, path_kwargs
        )
    start_handler(
        application,
        request,
        handler_class,
        handler_kwargs or _NO_KWARGS,
        path_args or (),
        path_kwargs or _NO_KWARGS,
    )
    return None


def uses_default_dispatch(application: Application, base: type[Router]) -> bool:
    """Whether ``application``'s class keeps the routing entry points of ``base``.

    A subclass that overrides ``find_handler`` or ``get_handler_delegate`` is routed
    through them (the generic path) so its overrides are honoured.
    """
    cls = type(application)
    return all(
        getattr(cls, name) is getattr(base, name)
        for name in ("find_handler", "get_handler_delegate", "start_request")
    )
