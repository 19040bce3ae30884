"""Application: the routing table, the settings, and the plugins of a web application.

Layer 5 (web). Imports ``typhoon.routing``, ``typhoon.httputil``, ``typhoon.httpserver``,
``typhoon.netutil``, ``typhoon.ioloop``, ``typhoon.plugins`` (the only web module that
may), ``typhoon.concurrent``, ``typhoon.errors``, ``typhoon.log`` and the web modules
below it.

An :class:`Application` is an ``HTTPServerConnectionDelegate``: give it to an HTTP
server (or call :meth:`Application.listen`) and each request is routed to a
``RequestHandler`` class, instantiated, and run by the delegate in
:mod:`typhoon.web._dispatch` (which also explains how that path is kept cheap).

Plugins. The application owns a :class:`~typhoon.plugins.PluginManager`. While it is
built it registers the built-in plugins, the installed ones (``load_entrypoints``) and
the ones passed in ``plugins=``; fills in the settings they declare
(``register_settings``); calls ``configure``; and collects routes, output transforms,
template helpers and template directories from the ``register_*`` hooks.
:meth:`Application.startup` runs ``prepare_event_loop`` and ``startup`` (the server
does it before it accepts connections), :meth:`Application.shutdown` undoes it. The
per-request hooks are called only when some plugin implements them: which ones do is
decided once (:meth:`Application.update_hook_flags`), so requests pay nothing for the
others.
"""

from __future__ import annotations

__all__ = ["Application"]

import asyncio
import functools
import importlib
import inspect
import socket
import types
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from typhoon import httputil
from typhoon.concurrent import convert_yielded
from typhoon.errors import PluginError
from typhoon.httpserver import HTTPServer
from typhoon.ioloop import IOLoop
from typhoon.log import app_log
from typhoon.netutil import bind_sockets
from typhoon.plugins import PluginManager
from typhoon.routing import AnyMatches, DefaultHostMatches, HostMatches, ReversibleRouter, Rule
from typhoon.web._dispatch import (
    ApplicationRouter,
    HandlerDelegate,
    Route,
    run_whole_request,
    uses_default_dispatch,
)
from typhoon.web.handler import HeaderTemplate, RequestHandler
from typhoon.web.handlers import ErrorHandler
from typhoon.web.settings import CORE_SETTINGS, apply_debug_defaults, validate_settings

_CORE_NAMES = frozenset(setting.name for setting in CORE_SETTINGS)


class _HookFlags:
    """Which per-request hooks some plugin implements (checked once, read per request)."""

    __slots__ = (
        "awaits_early",
        "handle_exception",
        "prepare_request",
        "prepare_template_namespace",
        "request_finished",
        "request_finished_async",
        "resolve_current_user_async",
        "resolve_current_user_sync",
    )

    def __init__(self, manager: PluginManager | None = None) -> None:
        def implemented(name: str) -> bool:
            return manager is not None and manager.has_implementations(name)

        def any_async(name: str) -> bool:
            if manager is None:
                return False
            caller = getattr(manager.hook, name)
            return any(_is_async(impl.function) for impl in caller.get_hookimpls())

        self.prepare_request = implemented("prepare_request")
        self.prepare_template_namespace = implemented("prepare_template_namespace")
        self.handle_exception = implemented("handle_exception")
        self.request_finished = implemented("request_finished")
        self.request_finished_async = any_async("request_finished")
        user_hook = implemented("resolve_current_user")
        user_async = any_async("resolve_current_user")
        #: Resolved lazily on first ``current_user`` read (every implementation is sync).
        self.resolve_current_user_sync = user_hook and not user_async
        #: Resolved before ``prepare`` because some implementation must be awaited.
        self.resolve_current_user_async = user_hook and user_async
        #: A hook must be awaited before a handler's verb method, or may handle its
        #: errors: handlers run as the ``_execute`` coroutine (not ``_run``).
        self.awaits_early = (
            self.prepare_request or self.handle_exception or self.resolve_current_user_async
        )


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _is_ui_module(value: Any) -> bool:
    """A UI module is a class with ``render`` and the asset methods (see rendering)."""
    return isinstance(value, type) and all(
        callable(getattr(value, name, None)) for name in ("render", "css_files", "html_head")
    )


class Application(ReversibleRouter):
    """A web application: URL rules mapped to handlers, settings, and plugins.

    ``handlers`` are rules in any form ``typhoon.routing`` accepts, usually
    ``(pattern, HandlerClass[, initialize_kwargs[, name]])`` tuples or ``url()``
    objects. ``default_host`` is the host whose virtual-host rules
    (:meth:`add_handlers`) also answer requests for unknown hosts. ``transforms``
    replaces the default (empty) list of output transforms. ``plugins`` are registered
    after the installed ones, which load unless ``load_entrypoints`` is false. Other
    keyword arguments are the settings (``typhoon.web.settings.CORE_SETTINGS`` lists the
    core's, plugins declare theirs).

    Raises:
        ConfigurationError: a setting has the wrong type.
        PluginError: a plugin failed while the application was assembled.
    """

    #: Dotted names of the plugin modules that implement core features (static files,
    #: compression, ...). They are registered first, so installed and explicit
    #: plugins run before them. Named here rather than imported: they sit in the
    #: assembly layer, above this one (``typhoon._builtin.BUILTIN_PLUGINS``).
    builtin_plugins: tuple[str, ...] = (
        "typhoon._builtin.static",
        "typhoon._builtin.compression",
        "typhoon._builtin.uimodules",
        "typhoon._builtin.access_log",
    )

    def __init__(
        self,
        handlers: Sequence[Any] | None = None,
        default_host: str | None = None,
        transforms: Sequence[Callable[[httputil.HTTPServerRequest], Any]] | None = None,
        plugins: Iterable[object] | None = None,
        load_entrypoints: bool = True,
        **settings: Any,
    ) -> None:
        #: Output transform classes applied to every response, in order.
        self.transforms: list[Callable[[httputil.HTTPServerRequest], Any]] = (
            list(transforms) if transforms is not None else []
        )
        self.default_host = default_host
        #: The settings passed in (plus what ``debug`` implies and plugin defaults).
        self.settings: dict[str, Any] = settings
        apply_debug_defaults(settings)
        #: UI module classes by name (``modules.<name>`` in templates).
        self.ui_modules: dict[str, type[Any]] = {}
        #: UI methods by name (functions called with the handler first).
        self.ui_methods: dict[str, Callable[..., Any]] = {}
        #: Template directories searched after ``template_path`` (from plugins).
        self.template_paths: list[str] = []
        self._hooks = _HookFlags()
        self._header_template = HeaderTemplate()
        self._background: set[asyncio.Task[Any]] = set()
        self._servers: list[HTTPServer] = []
        self._default_dispatch = uses_default_dispatch(self, Application)
        #: ``log_request`` is not overridden: handlers call ``log_function`` themselves.
        self._default_log_request = type(self).log_request is Application.log_request
        # Handlers that are waiting (kept referenced until they finish).
        self._running: set[asyncio.Task[Any]] = set()
        self.wildcard_router = ApplicationRouter(self, handlers)
        self.default_router = ApplicationRouter(self, [Rule(AnyMatches(), self.wildcard_router)])
        # The default router's rules while there are no virtual hosts (add_handlers).
        self._no_host_rules = list(self.default_router.rules)
        #: The plugin manager whose hooks this application calls.
        self.plugin_manager = self._make_plugin_manager(plugins or (), load_entrypoints)
        self._apply_plugin_settings()
        validate_settings(settings)
        self._load_ui_modules(settings.get("ui_modules") or {})
        self._load_ui_methods(settings.get("ui_methods") or {})
        self._assemble()
        self.update_hook_flags()

    # --- assembly -------------------------------------------------------------------------

    def _make_plugin_manager(
        self, plugins: Iterable[object], load_entrypoints: bool
    ) -> PluginManager:
        manager = PluginManager(load_entrypoints=False)
        for name in self.builtin_plugins:
            module = importlib.import_module(name)
            manager.register(module, name)
        if load_entrypoints:
            manager.load_entrypoints()
        for plugin in plugins:
            manager.register(plugin)
        manager.check_pending()
        return manager

    def _apply_plugin_settings(self) -> None:
        for setting in self.plugin_manager.collect_settings():
            if setting.name in _CORE_NAMES:
                raise PluginError(
                    f"plugin {setting.plugin!r} declares setting {setting.name!r}, "
                    "which is a core setting",
                    plugin_name=setting.plugin,
                    hook_name="register_settings",
                )
            self.settings.setdefault(setting.name, setting.default)

    def _assemble(self) -> None:
        manager = self.plugin_manager
        own_helpers = set(self.ui_modules) | set(self.ui_methods)
        manager.call_each("configure", app=self)
        for pairs in manager.call_collect("register_awaitable_adapters", app=self):
            for kind, converter in pairs:
                convert_yielded.register(kind, _adapter(converter))
        manager.convert_awaitable = convert_yielded
        for rules in manager.call_collect("register_routes", app=self):
            self.wildcard_router.add_rules(rules)
        for transforms in manager.call_collect("register_output_transforms", app=self):
            self.transforms.extend(transforms)
        for helpers in manager.call_collect("register_template_helpers", app=self):
            for name, helper in helpers.items():
                if name in own_helpers:
                    continue
                if _is_ui_module(helper):
                    self.ui_modules.setdefault(name, helper)
                elif callable(helper):
                    self.ui_methods.setdefault(name, helper)
                else:
                    raise PluginError(
                        f"template helper {name!r} is neither a UI module nor callable",
                        hook_name="register_template_helpers",
                    )
        for paths in manager.call_collect("register_template_paths", app=self):
            self.template_paths.extend(str(path) for path in paths)

    def _load_ui_methods(self, methods: Any) -> None:
        if isinstance(methods, types.ModuleType):
            self._load_ui_methods({name: getattr(methods, name) for name in dir(methods)})
        elif isinstance(methods, list | tuple):
            for item in methods:
                self._load_ui_methods(item)
        else:
            for name, function in methods.items():
                if not name.startswith("_") and callable(function) and name[0].islower():
                    self.ui_methods[name] = function

    def _load_ui_modules(self, modules: Any) -> None:
        if isinstance(modules, types.ModuleType):
            self._load_ui_modules({name: getattr(modules, name) for name in dir(modules)})
        elif isinstance(modules, list | tuple):
            for item in modules:
                self._load_ui_modules(item)
        else:
            for name, cls in modules.items():
                if _is_ui_module(cls):
                    self.ui_modules[name] = cls

    def update_hook_flags(self) -> None:
        """Re-check which per-request hooks are implemented.

        Called when the application is built and at :meth:`startup`; call it after
        registering a plugin on :attr:`plugin_manager` by hand.
        """
        self._hooks = _HookFlags(self.plugin_manager)

    # --- lifecycle ------------------------------------------------------------------------

    async def startup(self) -> None:
        """Run the plugins' ``prepare_event_loop`` and ``startup`` hooks (once).

        Servers call it before accepting connections; tests and embedding code may
        call it themselves. A second call before :meth:`shutdown` does nothing.
        """
        self.update_hook_flags()
        await self.plugin_manager.run_startup(self)

    async def shutdown(self) -> None:
        """Stop the servers :meth:`listen` started, wait for background work, then run
        the plugins' ``shutdown`` hooks (once per :meth:`startup`).

        Servers stop accepting; connections in progress are left to finish (use the
        server's own ``shutdown`` for a deadline).
        """
        for server in self._servers:
            server.stop()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.plugin_manager.run_shutdown(self)

    def listen(
        self,
        port: int,
        address: str | None = None,
        *,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int | None = None,
        flags: int | None = None,
        reuse_port: bool = False,
        **kwargs: Any,
    ) -> HTTPServer:
        """Serve this application on ``port`` with a new :class:`~typhoon.httpserver.HTTPServer`.

        ``kwargs`` go to the server (``xheaders``, ``ssl_options``, ``max_body_size``,
        ...); the other arguments to :func:`~typhoon.netutil.bind_sockets`. The
        sockets are bound now, so a port in use raises here. When plugins implement
        ``prepare_event_loop`` or ``startup``, connections are accepted only once
        :meth:`startup` has completed on the event loop.

        Returns:
            The server, for ``stop()`` or a graceful ``shutdown()``.
        """
        server = HTTPServer(self, **kwargs)
        bind_options: dict[str, Any] = {"family": family, "flags": flags, "reuse_port": reuse_port}
        if backlog is not None:
            bind_options["backlog"] = backlog
        sockets = bind_sockets(port, address=address, **bind_options)
        self._servers.append(server)
        manager = self.plugin_manager
        if manager.has_implementations("startup") or manager.has_implementations(
            "prepare_event_loop"
        ):
            loop = IOLoop.current()
            assert loop is not None
            loop.spawn_callback(self._serve_after_startup, server, sockets)
        else:
            server.add_sockets(sockets)
        return server

    async def _serve_after_startup(self, server: HTTPServer, sockets: list[socket.socket]) -> None:
        try:
            await self.startup()
        except Exception:
            app_log.error("Application startup failed; not accepting connections", exc_info=True)
            for sock in sockets:
                sock.close()
            server.stop()
            return
        server.add_sockets(sockets)

    # --- routing --------------------------------------------------------------------------

    def add_handlers(self, host_pattern: str, host_handlers: Sequence[Any]) -> None:
        """Add rules that only apply to requests for hosts matching ``host_pattern``.

        Host rules are tried in the order added, before the rules given to the
        constructor (which apply to every host).
        """
        host_matcher = HostMatches(host_pattern)
        rule = Rule(host_matcher, ApplicationRouter(self, host_handlers))
        self.default_router.rules.insert(-1, rule)
        if self.default_host is not None:
            self.wildcard_router.add_rules(
                [(DefaultHostMatches(self, host_matcher.host_pattern), host_handlers)]
            )

    def add_transform(self, transform_class: Callable[[httputil.HTTPServerRequest], Any]) -> None:
        """Append an output transform class (applied to every later response)."""
        self.transforms.append(transform_class)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        """Begin a request on a connection: it is routed when its head arrives."""
        if self._default_dispatch:
            return HandlerDelegate(self, request_conn, server_conn)
        return super().start_request(server_conn, request_conn)

    def _whole_request_runner(
        self,
    ) -> Callable[[httputil.HTTPServerRequest], httputil.HTTPMessageDelegate | None] | None:
        """What the HTTP server may call with a request that arrived whole, without a body.

        The callable routes the request and starts its handler in one call, instead of
        a delegate receiving the head and then the end of the message. ``None`` when
        the class routes its own way (``start_request``, ``find_handler`` or
        ``get_handler_delegate`` overridden).
        """
        if not self._default_dispatch:
            return None
        return functools.partial(run_whole_request, self)

    def _match_route(
        self, request: httputil.HTTPServerRequest
    ) -> Route | httputil.HTTPMessageDelegate:
        router = self.default_router
        if router.rules == self._no_host_rules:
            router = self.wildcard_router  # no virtual hosts: skip a level
        route = router.match_route(request)
        if route is not None:
            return route
        settings = self.settings
        default_class = settings.get("default_handler_class")
        if default_class:
            return default_class, settings.get("default_handler_args") or {}, None, None
        return ErrorHandler, {"status_code": 404}, None, None

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate:
        """The delegate for ``request``: its rule's handler, else the default handler.

        Unmatched requests go to ``default_handler_class`` when set, else a 404.
        """
        route = self._match_route(request)
        if type(route) is tuple:
            return self.get_handler_delegate(request, *route)
        return route  # type: ignore[return-value]

    def get_handler_delegate(
        self,
        request: httputil.HTTPServerRequest,
        target_class: type[RequestHandler],
        target_kwargs: dict[str, Any] | None = None,
        path_args: list[bytes | None] | None = None,
        path_kwargs: dict[str, bytes | None] | None = None,
    ) -> HandlerDelegate:
        """The message delegate that runs ``target_class`` for ``request``."""
        return HandlerDelegate.routed(
            self, request, target_class, target_kwargs, path_args, path_kwargs
        )

    def reverse_url(self, name: str, *args: Any) -> str:
        """The URL path of the rule called ``name``, with ``args`` in its groups.

        Raises:
            KeyError: no rule has that name.
        """
        url = self.default_router.reverse_url(name, *args)
        if url is None:
            raise KeyError(f"{name} not found in named urls")
        return url

    def __call__(self, request: httputil.HTTPServerRequest) -> Awaitable[None] | None:
        """Serve a complete request (the pre-delegate interface): route and run it."""
        delegate = self.find_handler(request)
        assert isinstance(delegate, HandlerDelegate)
        return delegate.execute()

    # --- per request ----------------------------------------------------------------------

    def log_request(self, handler: RequestHandler) -> None:
        """Write the access-log line of a finished request through ``log_function``.

        The built-in access-log plugin (``typhoon._builtin.access_log``) installs the
        default, one line on the ``typhoon.access`` logger; the ``log_function`` setting
        replaces it.
        """
        log_function = self.settings.get("log_function")
        if log_function is not None:
            log_function(handler)

    def _request_finished(self, handler: RequestHandler) -> None:
        """Call the ``request_finished`` hooks; async ones run in an owned task."""
        manager = self.plugin_manager
        if self._hooks.request_finished_async:
            task = asyncio.get_running_loop().create_task(
                _log_plugin_errors(manager.acall_each("request_finished", handler=handler))
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        try:
            manager.call_each("request_finished", handler=handler)
        except PluginError:
            app_log.error("request_finished hook failed", exc_info=True)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in a task the application owns (awaited by :meth:`shutdown`)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


async def _log_plugin_errors(call: Awaitable[None]) -> None:
    try:
        await call
    except PluginError:
        app_log.error("request_finished hook failed", exc_info=True)


def _adapter(converter: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], asyncio.Future[Any]]:
    def convert(value: Any) -> asyncio.Future[Any]:
        return asyncio.ensure_future(converter(value))

    return convert
