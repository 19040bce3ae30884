"""The hook specifications: the whole contract between typhoon's core and its plugins.

A plugin is a module or object whose functions are marked with :data:`typhoon.hookimpl`
and named after the hooks below. Every hook is called through
:class:`typhoon.plugins.PluginManager`'s callers, which define how results combine:

* **each** -- every implementation runs, results are ignored;
* **collect** -- every implementation runs, the non-``None`` results are returned as a list;
* **first** -- implementations run until one returns an accepted result, which is returned.

Implementations run in pluggy's order: the most recently registered plugin first, adjusted
by ``tryfirst=True`` / ``trylast=True``. Hooks called on a running event loop (lifecycle
and per-request hooks) may be written as ``async def``; typhoon awaits each result before
it calls the next implementation. Hooks called while the application is being assembled
are synchronous, and returning an awaitable from them is an error. Wrapper
implementations (``wrapper=True`` / ``hookwrapper=True``) are refused for these hooks
because a generator cannot wrap an awaited chain; use ``tryfirst`` / ``trylast`` instead.

Hooks that receive ``app`` get the object being served. Its contract towards plugins is
small: ``app.settings`` is the settings ``dict`` and ``app.plugin_manager`` is the
:class:`~typhoon.plugins.PluginManager` whose hooks are being called. Hooks that receive
``handler`` get the ``RequestHandler`` of the current request.
"""

from __future__ import annotations

__all__ = [
    "Setting",
    "configure",
    "handle_exception",
    "hookspec",
    "prepare_event_loop",
    "prepare_request",
    "prepare_template_namespace",
    "register_awaitable_adapters",
    "register_commands",
    "register_hookspecs",
    "register_output_transforms",
    "register_routes",
    "register_settings",
    "register_template_helpers",
    "register_template_paths",
    "request_finished",
    "resolve_current_user",
    "shutdown",
    "startup",
]

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy

#: Marks a function in a namespace as a typhoon hook specification.
hookspec = pluggy.HookspecMarker("typhoon")


@dataclass(frozen=True)
class Setting:
    """A typed setting a plugin declares from its :func:`register_settings` hook.

    The application merges declared settings with the values the user passes; the options
    plugin turns each one into a command-line flag and reads it from the environment
    variable :attr:`env_var`. Declaring a setting does not enable anything by itself:
    plugins stay inert until their settings say otherwise.
    """

    #: The key in ``app.settings`` (and the flag name, ``--<name>``).
    name: str
    #: The value's type; values from the command line or environment are parsed to it.
    type: type[Any]
    #: The value used when nobody sets it.
    default: Any = None
    #: One line for ``--help`` output and the docs.
    help: str = ""
    #: The name of the plugin that declared it (filled in by the manager when missing).
    plugin: str | None = None

    @property
    def env_var(self) -> str:
        """The environment variable that sets this value: ``TYPHOON_<NAME>``."""
        return "TYPHOON_" + self.name.upper()


# --- assembly: synchronous, called while the application is built --------------------


@hookspec(historic=True)
def register_hookspecs(pm: pluggy.PluginManager) -> None:
    """Add hook specifications of the plugin's own, so other plugins can implement them.

    When: once per plugin, as soon as the plugin is registered (the call is historic:
    a plugin registered later still receives it). Call ``pm.add_hookspecs(namespace)``.

    Sync or async: sync only.

    Results: each -- the return value is ignored.
    """


@hookspec
def register_settings() -> Sequence[Setting]:
    """Declare the typed settings the plugin reads from ``app.settings``.

    When: before the settings are final, by the application (to fill defaults) and by
    the options plugin (to offer one flag and one environment variable per setting).
    ``Setting.plugin`` is filled in with the plugin's name when left ``None``; two
    plugins declaring the same name is an error.

    Sync or async: sync only.

    Results: collect -- each implementation returns a list of :class:`Setting`; the
    manager concatenates them in call order (``PluginManager.collect_settings``).
    """
    raise NotImplementedError


@hookspec
def configure(app: Any) -> None:
    """Validate the plugin's settings and store its per-application state.

    When: once per application, after ``app.settings`` is final and before any other
    hook that receives ``app``. A plugin whose settings leave it disabled returns
    without doing anything. Raise ``typhoon.errors.ConfigurationError`` for a bad value;
    it reaches the user as a ``PluginError`` naming the plugin.

    Sync or async: sync only.

    Results: each -- the return value is ignored.
    """


@hookspec
def register_awaitable_adapters(
    app: Any,
) -> Sequence[tuple[type[Any], Callable[[Any], Awaitable[Any]]]]:
    """Teach coroutines to await foreign awaitables (for example Twisted's ``Deferred``).

    When: once per application, after ``configure``.

    Sync or async: sync only.

    Results: collect -- each implementation returns a list of ``(type, converter)``
    pairs; ``converter(obj)`` turns an instance of ``type`` into an awaitable (an
    ``asyncio.Future`` is best). They are registered with ``typhoon.gen.convert_yielded``.
    """
    raise NotImplementedError


@hookspec
def register_routes(app: Any) -> Sequence[Any]:
    """Contribute URL rules to the application.

    When: once per application, after ``configure``; the rules are added after the
    application's own handlers, so an application rule for the same path wins.

    Sync or async: sync only.

    Results: collect -- each implementation returns a list of rules in any form
    ``Application.add_handlers`` accepts: ``(pattern, handler_class)``,
    ``(pattern, handler_class, kwargs)``, ``(pattern, handler_class, kwargs, name)``,
    ``URLSpec`` or ``Rule`` objects.
    """
    raise NotImplementedError


@hookspec
def register_output_transforms(app: Any) -> Sequence[Callable[[Any], Any]]:
    """Contribute output transforms (for example gzip) applied to every response.

    When: once per application, after ``configure``.

    Sync or async: sync only.

    Results: collect -- each implementation returns a list of ``OutputTransform``
    classes (or other callables taking the request and returning a transform), appended
    to the application's ``transforms`` in call order.
    """
    raise NotImplementedError


@hookspec
def register_template_helpers(app: Any) -> Mapping[str, Any]:
    """Contribute functions and UI modules to every template's namespace.

    When: once per application, after ``configure``.

    Sync or async: sync only.

    Results: collect -- each implementation returns a mapping of names to helpers. A
    ``UIModule`` subclass is available as ``modules.<name>`` (like the ``ui_modules``
    setting); any other callable is a UI method, called as ``helper(handler, *args)``
    (like the ``ui_methods`` setting). The application's own helpers win on a name clash.
    """
    raise NotImplementedError


@hookspec
def register_template_paths(app: Any) -> Sequence[str | os.PathLike[str]]:
    """Contribute directories searched for templates.

    When: once per application, after ``configure``.

    Sync or async: sync only.

    Results: collect -- each implementation returns a list of directories, searched in
    call order after the application's ``template_path``.
    """
    raise NotImplementedError


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``typhoon`` command-line tool.

    When: once, when ``typhoon`` starts, before it parses its arguments. Call
    ``cli.add_command(name, help, setup_parser, handler)`` (see ``typhoon.cli.CommandLine``);
    ``cli.plugin_manager`` is the manager of the installed plugins.

    Sync or async: sync only (a command's handler itself may be ``async def``).

    Results: each -- the return value is ignored.
    """


# --- lifecycle: called on the running event loop ----------------------------------------


@hookspec
def prepare_event_loop(app: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Adapt the event loop before anything else uses it (for example install a reactor).

    When: first step of startup, on the running ``loop``, before every ``startup``
    implementation and before the server accepts connections.

    Sync or async: either; an ``async def`` implementation is awaited before the next
    one runs.

    Results: each -- the return value is ignored.
    """


@hookspec
def startup(app: Any) -> None:
    """Acquire the plugin's resources: connection pools, background tasks, clients.

    When: once per application start, after ``prepare_event_loop`` and before the
    server accepts connections. If one implementation fails, the start is aborted and
    ``shutdown`` runs so that the plugins already started release what they hold.

    Sync or async: either; each result is awaited before the next implementation runs.

    Results: each -- the return value is ignored.
    """


@hookspec
def shutdown(app: Any) -> None:
    """Release what ``startup`` acquired; every task the plugin started must end here.

    When: once per application stop, after the server stopped accepting connections.
    Implementations run in the reverse of the startup order, and all of them run even
    when one fails (the first failure is raised afterwards, the others are logged).

    Sync or async: either; each result is awaited before the next implementation runs.

    Results: each -- the return value is ignored.
    """


# --- per request: called only when at least one plugin implements them -----------------


@hookspec
def resolve_current_user(handler: Any) -> Any:
    """Find the user making the request; backs ``RequestHandler.get_current_user``.

    When: the first time ``handler.current_user`` is read during a request, and only
    when the handler class does not override ``get_current_user``.

    Sync or async: either; an ``async def`` implementation is awaited (the handler
    resolves the user in ``prepare`` when an implementation is asynchronous).

    Results: first -- implementations run until one returns something other than
    ``None``; that value becomes ``current_user``. ``None`` means "not mine, ask the next".
    """


@hookspec
def prepare_request(handler: Any) -> None:
    """Inspect or short-circuit a request before the handler's verb method runs.

    When: for every request, after the handler's own ``prepare``. An implementation may
    call ``handler.finish()`` (then the remaining implementations and the verb method
    are skipped) or raise ``HTTPError`` (answered like an ``HTTPError`` raised by the
    handler; other exceptions become a 500 and are logged as a ``PluginError``).

    Sync or async: either; each result is awaited before the next implementation runs.

    Results: each -- the return value is ignored.
    """


@hookspec
def prepare_template_namespace(handler: Any, ns: dict[str, Any]) -> None:
    """Add or change names in the namespace of a template about to be rendered.

    When: on every ``render_string`` (so also on every ``render``), after the handler's
    ``get_template_namespace`` built ``ns``. Modify ``ns`` in place.

    Sync or async: sync only, because rendering is synchronous; load data asynchronously
    in ``prepare_request`` and read it from the handler here.

    Results: each -- the return value is ignored.
    """


@hookspec
def handle_exception(handler: Any, exc: BaseException) -> bool | None:
    """Produce a custom response for an exception raised while serving a request.

    When: when a request fails with an exception, before the handler's ``send_error``.
    ``exc`` is the exception (``HTTPError`` included).

    Sync or async: either; each result is awaited before the next implementation runs.

    Results: first ``True`` -- return ``True`` after writing the response yourself:
    the remaining implementations and the default error page are skipped. Return
    ``None`` (or ``False``) to leave the exception to the next implementation.
    """


@hookspec
def request_finished(handler: Any) -> None:
    """Observe a finished request: metrics, access logs, per-request cleanup.

    When: after the response has been sent (or the connection was lost), at the time
    of the handler's ``on_finish``. The response can no longer change: exceptions are
    logged as ``PluginError``, not sent to the client.

    Sync or async: either; each result is awaited before the next implementation runs.

    Results: each -- the return value is ignored.
    """
