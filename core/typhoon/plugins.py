"""The plugin manager: discovery, registration and typhoon's own hook callers.

Plugins are found through the ``typhoon`` entry-point group (or passed explicitly),
registered with a pluggy manager for the ``typhoon`` project, and called through the
callers defined here. Unlike pluggy's own call, they await implementations written as
coroutines (one at a time, in pluggy's order) and name the plugin and hook when an
implementation fails.

Environment variables, read when the manager is created:

``TYPHOON_PLUGINS``
    Comma-separated entry-point names: when set, only these installed plugins load
    (an empty value loads none).
``TYPHOON_DISABLE_PLUGINS``
    Comma-separated entry-point names that never load.
``TYPHOON_TRACE_PLUGINS``
    ``1`` logs every hook call, implementation, result and timing to the
    ``typhoon.plugins`` logger at ``DEBUG`` level.
"""

from __future__ import annotations

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "PluginManager", "Setting"]

import asyncio
import dataclasses
import difflib
import importlib.metadata
import inspect
import logging
import os
import time
import types
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import pluggy

from typhoon import hookspecs
from typhoon.errors import PluginError, PluginWarning
from typhoon.hookspecs import Setting

#: The entry-point group installed distributions use to announce a typhoon plugin.
ENTRY_POINT_GROUP = "typhoon"

_logger = logging.getLogger("typhoon.plugins")

#: The hooks typhoon itself specifies (plugins may add their own).
_TYPHOON_HOOKS = frozenset(
    name
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and hasattr(value, "typhoon_spec")
)

_TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class PluginInfo:
    """What ``typhoon plugins`` shows about one registered plugin."""

    #: The registration name: the entry-point name for installed plugins.
    name: str
    #: The version of the distribution that provides it, when known.
    version: str | None
    #: The name of the distribution that provides it, when known.
    distribution: str | None
    #: The hooks it implements, sorted by name.
    hooks: tuple[str, ...]
    #: ``"entrypoint"`` when discovered from an installed distribution, else ``"explicit"``.
    source: Literal["entrypoint", "explicit"]

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (``hooks`` as a list)."""
        data = dataclasses.asdict(self)
        data["hooks"] = list(self.hooks)
        return data


class _Plan(NamedTuple):
    """A hook's implementations in call order, and the argument names its spec requires."""

    impls: tuple[pluggy.HookImpl, ...]
    argnames: frozenset[str]


class PluginManager(pluggy.PluginManager):
    """Finds, registers and calls typhoon plugins.

    ``plugins`` are registered explicitly, after the installed plugins found through
    entry points (skip those with ``load_entrypoints=False``). Because pluggy calls the
    most recently registered plugin first, explicitly passed plugins run before installed
    ones unless ``tryfirst``/``trylast`` say otherwise. ``environ`` replaces
    :data:`os.environ` as the source of the ``TYPHOON_*`` switches; ``trace_calls``
    overrides ``TYPHOON_TRACE_PLUGINS``.

    An installed plugin that fails to import or register is skipped with a
    :class:`~typhoon.errors.PluginWarning` naming its distribution; an explicitly passed
    plugin that fails to register raises :class:`~typhoon.errors.PluginError`.
    """

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        load_entrypoints: bool = True,
        environ: Mapping[str, str] | None = None,
        trace_calls: bool | None = None,
    ) -> None:
        super().__init__("typhoon")
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        if trace_calls is None:
            value = self._environ.get("TYPHOON_TRACE_PLUGINS", "")
            trace_calls = value.strip().lower() in _TRUE_VALUES
        #: Whether hook calls are logged to the ``typhoon.plugins`` logger.
        self.trace_calls: bool = trace_calls
        self._plans: dict[str, _Plan] = {}
        self._distributions: dict[str, importlib.metadata.Distribution] = {}
        self._started = False
        self._unfinished_startups: frozenset[str] = frozenset()
        #: Turns an awaitable hook result that is neither a coroutine nor an asyncio
        #: future (Twisted's ``Deferred``, say) into one asyncio can wait on. The
        #: application sets it to ``typhoon.gen.convert_yielded``, which plugins extend
        #: through ``register_awaitable_adapters``; ``None`` awaits such results as they are.
        self.convert_awaitable: Callable[[Any], Awaitable[Any]] | None = None
        self.add_hookspecs(hookspecs)
        if self.trace_calls:
            self.add_hookcall_monitoring(self._trace_before, self._trace_after)
        self.hook.register_hookspecs.call_historic(kwargs={"pm": self})
        if load_entrypoints:
            self.load_entrypoints()
        for plugin in plugins:
            self.register(plugin)

    # --- registration -------------------------------------------------------------------

    def get_canonical_name(self, plugin: object) -> str:
        """A readable default name: the module name, ``module.Class`` for classes and
        instances, or an object's own ``__name__`` string when it has one."""
        if isinstance(plugin, types.ModuleType):
            return plugin.__name__
        own_name = getattr(plugin, "__name__", None)
        if isinstance(own_name, str) and not isinstance(plugin, type):
            return own_name
        owner = plugin if isinstance(plugin, type) else type(plugin)
        return f"{owner.__module__}.{owner.__qualname__}"

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` (a module or object with hook implementations).

        Returns the name it was registered under, or ``None`` when the name is blocked.
        Raises :class:`~typhoon.errors.PluginError` when the plugin is invalid: an
        implementation takes arguments its spec does not offer, a typhoon hook is
        implemented as a wrapper, or the plugin or name is already registered.
        """
        if name is None:
            name = self._free_name(plugin)
        was_registered = self.is_registered(plugin)
        try:
            registered = super().register(plugin, name)
        except Exception as exc:
            # A historic hook replayed during registration may fail after pluggy has
            # recorded the plugin: leave the manager as it was before the call.
            if not was_registered and self.is_registered(plugin):
                self.unregister(plugin)
            raise PluginError(
                f"cannot register plugin {name!r}: {_one_line(exc)}", plugin_name=name
            ) from exc
        finally:
            self._plans.clear()
        if registered is not None:
            for caller in self.get_hookcallers(plugin) or ():
                if caller.name not in _TYPHOON_HOOKS:
                    continue
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                        self.unregister(plugin)
                        raise PluginError(
                            f"plugin {registered!r} implements hook {caller.name!r} as a "
                            "wrapper; typhoon's hooks may be async, so use tryfirst/trylast",
                            plugin_name=registered,
                            hook_name=caller.name,
                        )
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Remove a plugin (given by object or name) and all its hook implementations."""
        removed = super().unregister(plugin, name)
        self._plans.clear()
        self._distributions = {
            key: dist
            for key, dist in self._distributions.items()
            if self.get_plugin(key) is not None
        }
        return removed

    def add_hookspecs(self, module_or_class: types.ModuleType | type) -> None:
        """Add hook specifications (used by plugins from ``register_hookspecs``)."""
        super().add_hookspecs(module_or_class)
        self._plans.clear()

    def load_entrypoints(self) -> list[str]:
        """Load and register the installed plugins of the ``typhoon`` entry-point group.

        Honours ``TYPHOON_PLUGINS`` and ``TYPHOON_DISABLE_PLUGINS``. Returns the names
        registered. Plugins load in name order, so the call order does not depend on how
        the file system lists the installed distributions.
        """
        allowed = self._names_from_env("TYPHOON_PLUGINS")
        blocked = self._names_from_env("TYPHOON_DISABLE_PLUGINS") or frozenset()
        found: set[str] = set()
        loaded: list[str] = []
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in sorted(entry_points, key=lambda ep: ep.name):
            name = entry_point.name
            found.add(name)
            if name in blocked or (allowed is not None and name not in allowed):
                if self.trace_calls:
                    _logger.debug("plugin %r skipped by the environment", name)
                continue
            label = _distribution_label(entry_point.dist)
            if _same_distribution(self._distributions.get(name), entry_point.dist):
                continue  # loaded by an earlier call
            if self.get_plugin(name) is not None:
                warnings.warn(
                    f"typhoon plugin {name!r} from {label} is skipped: another plugin "
                    "is already registered under that name",
                    PluginWarning,
                    stacklevel=2,
                )
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:
                warnings.warn(
                    f"typhoon plugin {name!r} from {label} failed to import and is "
                    f"skipped: {type(exc).__name__}: {_one_line(exc)}",
                    PluginWarning,
                    stacklevel=2,
                )
                continue
            try:
                self.register(plugin, name)
            except PluginError as exc:
                warnings.warn(
                    f"typhoon plugin {name!r} from {label} is skipped: {exc}",
                    PluginWarning,
                    stacklevel=2,
                )
                continue
            if entry_point.dist is not None:
                self._distributions[name] = entry_point.dist
            loaded.append(name)
        if allowed is not None and allowed - found:
            missing = ", ".join(sorted(allowed - found))
            warnings.warn(
                f"TYPHOON_PLUGINS names plugins that are not installed: {missing}",
                PluginWarning,
                stacklevel=2,
            )
        return loaded

    def check_pending(self) -> None:
        """Fail if a plugin implements a hook that has no specification.

        A misspelled hook name would otherwise never be called; this turns it into a
        :class:`~typhoon.errors.PluginError` at start, with the closest known hook
        suggested. Implementations marked ``optionalhook=True`` are exempt.
        """
        known = [name for name, caller in vars(self.hook).items() if caller.has_spec()]
        for name, caller in vars(self.hook).items():
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise PluginError(
                    f"plugin {impl.plugin_name!r} implements unknown hook {name!r}{hint}",
                    plugin_name=impl.plugin_name,
                    hook_name=name,
                )

    def list_plugins(self) -> list[PluginInfo]:
        """Describe every registered plugin (name, version, distribution, hooks), by name."""
        infos = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            dist = self._distributions.get(name)
            source: Literal["entrypoint", "explicit"] = "entrypoint" if dist else "explicit"
            if dist is None:
                dist = _distribution_of(plugin)
            hooks = tuple(sorted(caller.name for caller in self.get_hookcallers(plugin) or ()))
            infos.append(
                PluginInfo(
                    name=name,
                    version=dist.version if dist is not None else None,
                    distribution=dist.metadata["Name"] if dist is not None else None,
                    hooks=hooks,
                    source=source,
                )
            )
        return sorted(infos, key=lambda info: info.name)

    def collect_settings(self) -> list[Setting]:
        """Call ``register_settings`` and return every declared :class:`Setting`.

        ``Setting.plugin`` is filled in with the declaring plugin's name. Raises
        :class:`~typhoon.errors.PluginError` when an implementation returns something
        other than settings or two plugins declare the same name.
        """
        settings: list[Setting] = []
        owners: dict[str, str] = {}
        for impl in self._plan("register_settings", {}).impls:
            result = self._call_one(impl, "register_settings", {}, ())
            if result is None:
                continue
            items = list(result) if isinstance(result, list | tuple) else [result]
            if not all(isinstance(item, Setting) for item in items):
                raise PluginError(
                    f"plugin {impl.plugin_name!r} must return a list of Setting from hook "
                    f"'register_settings', not {result!r}",
                    plugin_name=impl.plugin_name,
                    hook_name="register_settings",
                )
            for setting in items:
                if setting.plugin is None:
                    setting = dataclasses.replace(setting, plugin=impl.plugin_name)
                if setting.name in owners:
                    raise PluginError(
                        f"setting {setting.name!r} is declared by plugin "
                        f"{owners[setting.name]!r} and again by plugin {impl.plugin_name!r}",
                        plugin_name=impl.plugin_name,
                        hook_name="register_settings",
                    )
                owners[setting.name] = impl.plugin_name
                settings.append(setting)
        return settings

    # --- typhoon's callers --------------------------------------------------------------

    def has_implementations(self, hook_name: str) -> bool:
        """Whether any registered plugin implements ``hook_name``.

        A dictionary lookup once the hook has been seen: the web layer checks it before
        each per-request hook so that requests pay nothing for hooks nobody implements.
        """
        plan = self._plans.get(hook_name)
        if plan is None:
            plan = self._plan(hook_name, None)
        return bool(plan.impls)

    def call_each(
        self,
        hook_name: str,
        /,
        *,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> None:
        """Call every implementation of a synchronous hook; results are ignored.

        An exception from an implementation is re-raised as
        :class:`~typhoon.errors.PluginError` (plugin and hook named, the original as
        ``__cause__``) unless its type is in ``passthrough``. Returning an awaitable from
        a hook called this way is an error.
        """
        for impl in self._plan(hook_name, kwargs).impls:
            self._call_one(impl, hook_name, kwargs, passthrough)

    def call_collect(
        self,
        hook_name: str,
        /,
        *,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> list[Any]:
        """Call every implementation of a synchronous hook; return the non-``None`` results.

        Results are in call order. Errors as in :meth:`call_each`.
        """
        results = []
        for impl in self._plan(hook_name, kwargs).impls:
            result = self._call_one(impl, hook_name, kwargs, passthrough)
            if result is not None:
                results.append(result)
        return results

    def call_first(
        self,
        hook_name: str,
        /,
        *,
        until: Callable[[Any], bool] | None = None,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> Any:
        """Call implementations of a synchronous hook until one's result is accepted.

        ``until(result)`` decides (default: the result is not ``None``); the accepted
        result is returned, or ``None`` when no implementation produced one. Errors as
        in :meth:`call_each`.
        """
        for impl in self._plan(hook_name, kwargs).impls:
            result = self._call_one(impl, hook_name, kwargs, passthrough)
            if result is not None if until is None else until(result):
                return result
        return None

    async def acall_each(
        self,
        hook_name: str,
        /,
        *,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> None:
        """Call every implementation, awaiting each awaitable result before the next call.

        Exceptions as in :meth:`call_each`; cancellation is never wrapped.
        """
        for impl in self._plan(hook_name, kwargs).impls:
            await self._acall_one(impl, hook_name, kwargs, passthrough)

    async def acall_collect(
        self,
        hook_name: str,
        /,
        *,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> list[Any]:
        """Like :meth:`call_collect`, awaiting each awaitable result before the next call."""
        results = []
        for impl in self._plan(hook_name, kwargs).impls:
            result = await self._acall_one(impl, hook_name, kwargs, passthrough)
            if result is not None:
                results.append(result)
        return results

    async def acall_first(
        self,
        hook_name: str,
        /,
        *,
        until: Callable[[Any], bool] | None = None,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> Any:
        """Like :meth:`call_first`, awaiting each awaitable result before ``until`` sees it."""
        for impl in self._plan(hook_name, kwargs).impls:
            result = await self._acall_one(impl, hook_name, kwargs, passthrough)
            if result is not None if until is None else until(result):
                return result
        return None

    # --- lifecycle ----------------------------------------------------------------------

    async def run_startup(self, app: Any) -> None:
        """Run ``prepare_event_loop`` then ``startup`` on the running loop, once.

        A second call before :meth:`run_shutdown` does nothing, so the application and
        the command line may both ask for it. If an implementation fails, the plugins
        already started are shut down before the error propagates.
        """
        if self._started:
            return
        self._started = True
        self._unfinished_startups = frozenset(
            impl.plugin_name for impl in self._plan("startup", None).impls
        )
        loop = asyncio.get_running_loop()
        try:
            await self.acall_each("prepare_event_loop", app=app, loop=loop)
            for impl in self._plan("startup", {"app": app}).impls:
                await self._acall_one(impl, "startup", {"app": app}, ())
                self._unfinished_startups -= {impl.plugin_name}
        except Exception:
            await self.run_shutdown(app)
            raise

    async def run_shutdown(self, app: Any) -> None:
        """Run ``shutdown`` in reverse order, once per :meth:`run_startup`.

        Every implementation runs even if one fails; plugins whose ``startup`` did not
        complete are skipped. The first failure is raised at the end, the others logged.
        """
        if not self._started:
            return
        self._started = False
        skipped, self._unfinished_startups = self._unfinished_startups, frozenset()
        failures: list[PluginError] = []
        for impl in reversed(self._plan("shutdown", {"app": app}).impls):
            if impl.plugin_name in skipped:
                continue
            try:
                await self._acall_one(impl, "shutdown", {"app": app}, ())
            except PluginError as exc:
                if failures:
                    _logger.error("%s", exc, exc_info=exc)
                failures.append(exc)
        if failures:
            raise failures[0]

    # --- internals ----------------------------------------------------------------------

    def _free_name(self, plugin: object) -> str:
        """The canonical name, suffixed ``#2``, ``#3``... if another plugin holds it."""
        base = self.get_canonical_name(plugin)
        name, counter = base, 1
        while self.get_plugin(name) not in (None, plugin) or self.is_blocked(name):
            if self.is_blocked(name):
                return name
            counter += 1
            name = f"{base}#{counter}"
        return name

    def _names_from_env(self, variable: str) -> frozenset[str] | None:
        """The comma-separated names in ``variable``, or ``None`` when it is unset."""
        value = self._environ.get(variable)
        if value is None:
            return None
        return frozenset(part.strip() for part in value.split(",") if part.strip())

    def _plan(self, hook_name: str, kwargs: Mapping[str, Any] | None) -> _Plan:
        """The cached call plan of a hook; checks ``kwargs`` against its spec if given."""
        plan = self._plans.get(hook_name)
        if plan is None:
            caller: pluggy.HookCaller | None = getattr(self.hook, hook_name, None)
            if caller is None or caller.spec is None:
                raise ValueError(f"no hook specification named {hook_name!r}")
            impls = tuple(reversed(caller.get_hookimpls()))
            for impl in impls:
                if impl.wrapper or impl.hookwrapper:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} implements hook {hook_name!r} as a "
                        "wrapper, which typhoon's callers cannot run",
                        plugin_name=impl.plugin_name,
                        hook_name=hook_name,
                    )
            plan = _Plan(impls, frozenset(caller.spec.argnames))
            self._plans[hook_name] = plan
        if kwargs is not None and kwargs.keys() != plan.argnames:
            raise TypeError(
                f"hook {hook_name!r} takes arguments {sorted(plan.argnames)}, "
                f"called with {sorted(kwargs)}"
            )
        return plan

    def _invoke(self, impl: pluggy.HookImpl, hook_name: str, kwargs: Mapping[str, Any]) -> Any:
        """Call one implementation with the arguments it asks for."""
        args = [kwargs[name] for name in impl.argnames]
        if self.trace_calls:
            _logger.debug("hook %s: calling plugin %r", hook_name, impl.plugin_name)
        return impl.function(*args)

    def _failure(self, impl: pluggy.HookImpl, hook_name: str, exc: BaseException) -> PluginError:
        if self.trace_calls:
            _logger.debug(
                "hook %s: plugin %r raised %s", hook_name, impl.plugin_name, type(exc).__name__
            )
        return PluginError(
            f"plugin {impl.plugin_name!r} failed in hook {hook_name!r}: "
            f"{type(exc).__name__}: {_one_line(exc)}",
            plugin_name=impl.plugin_name,
            hook_name=hook_name,
        )

    def _trace_result(
        self, impl: pluggy.HookImpl, hook_name: str, result: object, started: float
    ) -> None:
        _logger.debug(
            "hook %s: plugin %r returned %s in %.3f ms",
            hook_name,
            impl.plugin_name,
            type(result).__name__,
            (time.perf_counter() - started) * 1000,
        )

    def _call_one(
        self,
        impl: pluggy.HookImpl,
        hook_name: str,
        kwargs: Mapping[str, Any],
        passthrough: tuple[type[BaseException], ...],
    ) -> Any:
        started = time.perf_counter()
        try:
            result = self._invoke(impl, hook_name, kwargs)
        except passthrough:
            raise
        except Exception as exc:
            raise self._failure(impl, hook_name, exc) from exc
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise PluginError(
                f"plugin {impl.plugin_name!r} returned an awaitable from hook {hook_name!r}, "
                "which is called synchronously",
                plugin_name=impl.plugin_name,
                hook_name=hook_name,
            )
        if self.trace_calls:
            self._trace_result(impl, hook_name, result, started)
        return result

    async def _acall_one(
        self,
        impl: pluggy.HookImpl,
        hook_name: str,
        kwargs: Mapping[str, Any],
        passthrough: tuple[type[BaseException], ...],
    ) -> Any:
        started = time.perf_counter()
        try:
            result = self._invoke(impl, hook_name, kwargs)
            if inspect.isawaitable(result):
                convert = self.convert_awaitable
                if convert is not None and not (
                    inspect.iscoroutine(result) or isinstance(result, asyncio.Future)
                ):
                    result = convert(result)
                result = await result
        except passthrough:
            raise
        except Exception as exc:
            raise self._failure(impl, hook_name, exc) from exc
        if self.trace_calls:
            self._trace_result(impl, hook_name, result, started)
        return result

    def _trace_before(
        self, hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]
    ) -> None:
        _logger.debug(
            "hook %s (pluggy call): %s",
            hook_name,
            ", ".join(repr(impl.plugin_name) for impl in reversed(impls)) or "no implementations",
        )

    def _trace_after(
        self,
        outcome: pluggy.Result[object],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        if outcome.exception is not None:
            _logger.debug(
                "hook %s (pluggy call) raised %s", hook_name, type(outcome.exception).__name__
            )


def _one_line(exc: BaseException) -> str:
    """The exception's message with its lines joined, so errors print as one line."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _distribution_label(dist: importlib.metadata.Distribution | None) -> str:
    """``distribution 'name' version`` for messages."""
    if dist is None:
        return "an unknown distribution"
    return f"distribution {dist.metadata['Name']!r} {dist.version}"


def _same_distribution(
    first: importlib.metadata.Distribution | None,
    second: importlib.metadata.Distribution | None,
) -> bool:
    """Whether both are the same installed distribution (by name and version)."""
    if first is None or second is None:
        return False
    return (first.metadata["Name"], first.version) == (second.metadata["Name"], second.version)


def _distribution_of(plugin: object) -> importlib.metadata.Distribution | None:
    """The installed distribution that provides the module defining ``plugin``, if any."""
    module = plugin.__name__ if isinstance(plugin, types.ModuleType) else None
    if module is None:
        owner = plugin if isinstance(plugin, type) else type(plugin)
        module = owner.__module__
    top = module.partition(".")[0]
    try:
        return importlib.metadata.distribution(top)
    except importlib.metadata.PackageNotFoundError:
        pass
    for name in importlib.metadata.packages_distributions().get(top, ()):
        try:
            return importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
