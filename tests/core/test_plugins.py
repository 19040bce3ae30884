"""Tests for typhoon.plugins: discovery, registration, ordering, callers, failures, tracing."""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import typhoon
from _fake_dists import Site
from typhoon.errors import ConfigurationError, HTTPError, PluginError, PluginWarning
from typhoon.hookspecs import hookspec
from typhoon.plugins import PluginInfo, PluginManager, Setting


class App:
    """The part of an application plugins see: settings and the plugin manager."""

    def __init__(self, pm: PluginManager, **settings: Any) -> None:
        self.settings = settings
        self.plugin_manager = pm


def manager(*plugins: object, **kwargs: Any) -> PluginManager:
    kwargs.setdefault("load_entrypoints", False)
    return PluginManager(plugins, **kwargs)


def named(name: str, **hooks: Callable[..., Any]) -> types.SimpleNamespace:
    """A plugin object whose attributes are the given functions marked as hook impls."""
    plugin = types.SimpleNamespace(__name__=name)
    for hook_name, function in hooks.items():
        setattr(plugin, hook_name, function)
    return plugin


def impl(function: Callable[..., Any], **opts: Any) -> Callable[..., Any]:
    return typhoon.hookimpl(**opts)(function) if opts else typhoon.hookimpl(function)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = Site(tmp_path)
    yield fake
    for module in fake.modules:
        sys.modules.pop(module, None)


GOOD_PLUGIN = """
import typhoon
from typhoon.plugins import Setting

@typhoon.hookimpl
def register_settings():
    return [Setting("greeting", str, "hello", "What to say")]

@typhoon.hookimpl
def configure(app):
    app.settings.setdefault("configured_by", []).append(__name__)
"""


def test_entry_point_plugin_is_discovered_with_its_distribution(site: Site) -> None:
    site.add("typhoon-greeter", "greeter", GOOD_PLUGIN, version="2.5")
    pm = PluginManager(environ={"TYPHOON_PLUGINS": "greeter"})
    assert pm.has_plugin("greeter")
    [info] = pm.list_plugins()
    assert info == PluginInfo(
        name="greeter",
        version="2.5",
        distribution="typhoon-greeter",
        hooks=("configure", "register_settings"),
        source="entrypoint",
    )
    assert info.as_dict()["hooks"] == ["configure", "register_settings"]
    [setting] = pm.collect_settings()
    assert setting == Setting("greeting", str, "hello", "What to say", plugin="greeter")
    app = App(pm)
    pm.call_each("configure", app=app)
    assert app.settings["configured_by"] == [site.modules[0]]


def test_load_entrypoints_false_loads_nothing_installed(site: Site) -> None:
    site.add("typhoon-greeter", "greeter", GOOD_PLUGIN)
    pm = PluginManager(load_entrypoints=False, environ={})
    assert pm.list_plugins() == []


def test_allow_list_from_the_process_environment(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.add("typhoon-one", "one", GOOD_PLUGIN)
    site.add("typhoon-two", "two", GOOD_PLUGIN)
    monkeypatch.setenv("TYPHOON_PLUGINS", " two , ")
    monkeypatch.delenv("TYPHOON_DISABLE_PLUGINS", raising=False)
    pm = PluginManager()
    assert [info.name for info in pm.list_plugins()] == ["two"]


def test_empty_allow_list_loads_no_installed_plugin(site: Site) -> None:
    site.add("typhoon-one", "one", GOOD_PLUGIN)
    pm = PluginManager(environ={"TYPHOON_PLUGINS": ""})
    assert pm.list_plugins() == []


def test_block_list_wins_over_allow_list(site: Site) -> None:
    site.add("typhoon-one", "one", GOOD_PLUGIN)
    site.add("typhoon-two", "two", GOOD_PLUGIN)
    pm = PluginManager(environ={"TYPHOON_PLUGINS": "one,two", "TYPHOON_DISABLE_PLUGINS": "one"})
    assert [info.name for info in pm.list_plugins()] == ["two"]


def test_block_list_alone(site: Site) -> None:
    site.add("typhoon-one", "one", GOOD_PLUGIN)
    site.add("typhoon-two", "two", GOOD_PLUGIN)
    pm = PluginManager(environ={"TYPHOON_DISABLE_PLUGINS": "two"})
    names = {info.name for info in pm.list_plugins()}
    assert "one" in names
    assert "two" not in names


def test_allow_list_naming_a_missing_plugin_warns(site: Site) -> None:
    site.add("typhoon-one", "one", GOOD_PLUGIN)
    with pytest.warns(PluginWarning, match="not installed: onee"):
        pm = PluginManager(environ={"TYPHOON_PLUGINS": "onee"})
    assert pm.list_plugins() == []


def test_plugin_failing_to_import_warns_naming_the_distribution(site: Site) -> None:
    site.add("typhoon-broken", "broken", "raise ImportError('needs libfoo')\n", version="0.3")
    site.add("typhoon-fine", "fine", GOOD_PLUGIN)
    with pytest.warns(PluginWarning) as caught:
        pm = PluginManager(environ={"TYPHOON_PLUGINS": "broken,fine"})
    [warning] = caught
    message = str(warning.message)
    assert "'typhoon-broken' 0.3" in message
    assert "ImportError: needs libfoo" in message
    assert [info.name for info in pm.list_plugins()] == ["fine"]


def test_plugin_failing_validation_warns_and_is_skipped(site: Site) -> None:
    source = """
        import typhoon

        @typhoon.hookimpl
        def configure(app, colour):
            pass
    """
    site.add("typhoon-invalid", "invalid", source)
    with pytest.warns(PluginWarning, match=r"typhoon-invalid.*colour"):
        pm = PluginManager(environ={"TYPHOON_PLUGINS": "invalid"})
    assert pm.list_plugins() == []
    assert not pm.has_implementations("configure")


def test_duplicate_entry_point_name_warns(site: Site) -> None:
    site.add("typhoon-first", "same", GOOD_PLUGIN)
    site.add("typhoon-second", "same", GOOD_PLUGIN)
    with pytest.warns(PluginWarning, match="already registered under that name"):
        pm = PluginManager(environ={"TYPHOON_PLUGINS": "same"})
    assert [info.name for info in pm.list_plugins()] == ["same"]


def test_loading_entry_points_again_is_harmless(site: Site) -> None:
    site.add("typhoon-greeter", "greeter", GOOD_PLUGIN)
    pm = PluginManager(environ={"TYPHOON_PLUGINS": "greeter"})
    assert pm.load_entrypoints() == []
    assert [info.name for info in pm.list_plugins()] == ["greeter"]


# --- explicit registration -----------------------------------------------------------------


def test_explicit_module_plugin_uses_module_name() -> None:
    module = types.ModuleType("my_app_plugin")
    module.configure = impl(lambda app: None)  # type: ignore[attr-defined]
    pm = manager(module)
    assert pm.get_plugin("my_app_plugin") is module
    [info] = pm.list_plugins()
    assert info.source == "explicit"
    assert info.hooks == ("configure",)


def test_explicit_plugin_distribution_is_found_from_its_module() -> None:
    plugin = types.ModuleType("pluggy")  # a module name that an installed dist provides
    pm = manager(plugin)
    [info] = pm.list_plugins()
    assert info.distribution == "pluggy"
    assert info.version == pluggy.__version__


def test_two_instances_of_one_class_get_distinct_names() -> None:
    class Counter:
        @typhoon.hookimpl
        def configure(self, app: Any) -> None:
            app.settings["count"] = app.settings.get("count", 0) + 1

    pm = manager(Counter(), Counter())
    names = [info.name for info in pm.list_plugins()]
    assert len(names) == 2
    assert names[1] == names[0] + "#2"
    app = App(pm)
    pm.call_each("configure", app=app)
    assert app.settings["count"] == 2


def test_explicit_invalid_plugin_raises_plugin_error() -> None:
    plugin = named("bad", configure=impl(lambda app, extra: None))
    with pytest.raises(PluginError, match=r"cannot register plugin 'bad'.*extra") as info:
        manager(plugin)
    assert info.value.plugin_name == "bad"
    assert isinstance(info.value.__cause__, pluggy.PluginValidationError)


def test_registering_the_same_plugin_twice_is_an_error_and_keeps_the_first() -> None:
    plugin = named("once", configure=impl(lambda app: None))
    pm = manager(plugin)
    with pytest.raises(PluginError, match="already registered"):
        pm.register(plugin, "again")
    assert pm.get_plugin("once") is plugin
    assert pm.has_implementations("configure")


def test_wrapper_implementations_of_typhoon_hooks_are_refused() -> None:
    def configure(app: Any) -> Iterator[None]:
        yield

    plugin = named("wrapping", configure=impl(configure, wrapper=True))
    with pytest.raises(PluginError, match="as a wrapper") as info:
        manager(plugin)
    assert info.value.hook_name == "configure"
    pm = manager()
    with pytest.raises(PluginError):
        pm.register(plugin)
    assert not pm.is_registered(plugin)


def test_unregister_removes_implementations_from_the_cached_plan() -> None:
    plugin = named("gone", prepare_request=impl(lambda handler: None))
    pm = manager(plugin)
    assert pm.has_implementations("prepare_request")
    pm.unregister(plugin)
    assert not pm.has_implementations("prepare_request")
    pm.register(plugin)
    assert pm.has_implementations("prepare_request")


def test_has_implementations_unknown_hook_is_an_error() -> None:
    with pytest.raises(ValueError, match="no hook specification named 'prepare_requets'"):
        manager().has_implementations("prepare_requets")


# --- check_pending ---------------------------------------------------------------------------


def test_check_pending_names_misspelled_hook_and_suggests() -> None:
    plugin = named("typo", prepare_requset=impl(lambda handler: None))
    pm = manager(plugin)
    with pytest.raises(PluginError, match="did you mean 'prepare_request'") as info:
        pm.check_pending()
    assert info.value.plugin_name == "typo"
    assert info.value.hook_name == "prepare_requset"


def test_check_pending_accepts_optional_hooks_and_known_ones() -> None:
    plugin = named(
        "fine",
        configure=impl(lambda app: None),
        other_plugins_hook=impl(lambda: None, optionalhook=True),
    )
    manager(plugin).check_pending()


def test_register_hookspecs_is_historic_and_adds_a_callable_hook() -> None:
    class Specs:
        @hookspec
        def greeting_names(self, app: Any) -> list[str]:
            """A plugin-defined hook."""
            raise NotImplementedError

    seen: list[pluggy.PluginManager] = []

    def register_hookspecs(pm: pluggy.PluginManager) -> None:
        seen.append(pm)
        pm.add_hookspecs(Specs)

    provider = named("provider", register_hookspecs=impl(register_hookspecs))
    implementer = named("implementer", greeting_names=impl(lambda app: ["ada"]))
    pm = manager()
    pm.register(implementer)
    pm.register(provider)  # registered after the manager called the historic hook
    assert seen == [pm]
    pm.check_pending()
    assert pm.call_collect("greeting_names", app=None) == [["ada"]]


# --- ordering --------------------------------------------------------------------------------


def recorder(log: list[str], name: str, **opts: Any) -> types.SimpleNamespace:
    def configure(app: Any) -> None:
        log.append(name)

    return named(name, configure=impl(configure, **opts))


def test_call_order_is_lifo_with_tryfirst_and_trylast() -> None:
    log: list[str] = []
    pm = manager(
        recorder(log, "last", trylast=True),
        recorder(log, "a"),
        recorder(log, "first", tryfirst=True),
        recorder(log, "b"),
    )
    pm.call_each("configure", app=None)
    assert log == ["first", "b", "a", "last"]


def test_explicit_plugins_run_before_entry_point_plugins(site: Site) -> None:
    source = """
        import typhoon

        @typhoon.hookimpl
        def configure(app):
            app.settings.setdefault("order", []).append("installed")
    """
    site.add("typhoon-installed", "installed", source)

    def configure(app: App) -> None:
        app.settings.setdefault("order", []).append("explicit")

    pm = PluginManager(
        [named("explicit", configure=impl(configure))],
        environ={"TYPHOON_PLUGINS": "installed"},
    )
    app = App(pm)
    pm.call_each("configure", app=app)
    assert app.settings["order"] == ["explicit", "installed"]


async def test_async_callers_keep_the_order_and_await_one_at_a_time() -> None:
    log: list[str] = []
    active = 0

    def make(name: str, **opts: Any) -> types.SimpleNamespace:
        async def startup(app: Any) -> None:
            nonlocal active
            active += 1
            assert active == 1, "implementations must not overlap"
            log.append(name + ":start")
            await asyncio.sleep(0.001)
            log.append(name + ":end")
            active -= 1

        return named(name, startup=impl(startup, **opts))

    pm = manager(make("late", trylast=True), make("x"), make("early", tryfirst=True))
    await pm.acall_each("startup", app=None)
    assert log == [
        "early:start",
        "early:end",
        "x:start",
        "x:end",
        "late:start",
        "late:end",
    ]


# --- callers and result rules ---------------------------------------------------------------


def test_call_collect_skips_none_and_keeps_call_order() -> None:
    pm = manager(
        named("r1", register_routes=impl(lambda app: [("/a", object)])),
        named("r2", register_routes=impl(lambda app: None)),
        named("r3", register_routes=impl(lambda app: [("/c", object)])),
    )
    assert pm.call_collect("register_routes", app=None) == [
        [("/c", object)],
        [("/a", object)],
    ]


@pytest.mark.parametrize(
    "hook_name",
    [
        "register_awaitable_adapters",
        "register_output_transforms",
        "register_template_helpers",
        "register_template_paths",
    ],
)
def test_assembly_collect_hooks_return_each_plugins_contribution(hook_name: str) -> None:
    contribution = {"marker": hook_name}
    pm = manager(named("p", **{hook_name: impl(lambda app: contribution)}))
    assert pm.call_collect(hook_name, app=None) == [contribution]


def test_sync_caller_refuses_a_coroutine_without_leaking_it() -> None:
    async def prepare_template_namespace(handler: Any, ns: dict[str, Any]) -> None:
        ns["never"] = True

    pm = manager(named("asyncns", prepare_template_namespace=impl(prepare_template_namespace)))
    ns: dict[str, Any] = {}
    # filterwarnings=error would turn a "never awaited" RuntimeWarning into a failure.
    with pytest.raises(PluginError, match="returned an awaitable") as info:
        pm.call_each("prepare_template_namespace", handler=None, ns=ns)
    assert info.value.plugin_name == "asyncns"
    assert ns == {}


def test_prepare_template_namespace_modifies_ns_in_place() -> None:
    def prepare_template_namespace(handler: Any, ns: dict[str, Any]) -> None:
        ns["site_name"] = handler

    pm = manager(named("ns", prepare_template_namespace=impl(prepare_template_namespace)))
    ns: dict[str, Any] = {"existing": 1}
    pm.call_each("prepare_template_namespace", handler="typhoon", ns=ns)
    assert ns == {"existing": 1, "site_name": "typhoon"}


def test_call_first_stops_at_first_non_none() -> None:
    calls: list[str] = []

    def make(name: str, value: Any) -> types.SimpleNamespace:
        def resolve_current_user(handler: Any) -> Any:
            calls.append(name)
            return value

        return named(name, resolve_current_user=impl(resolve_current_user))

    pm = manager(make("third", "carol"), make("second", "bob"), make("first", None))
    assert pm.call_first("resolve_current_user", handler=None) == "bob"
    assert calls == ["first", "second"]
    assert manager().call_first("resolve_current_user", handler=None) is None


async def test_acall_first_awaits_coroutines_and_skips_none() -> None:
    async def nobody(handler: Any) -> None:
        await asyncio.sleep(0)

    async def somebody(handler: Any) -> str:
        await asyncio.sleep(0)
        return f"user-of-{handler}"

    pm = manager(
        named("found", resolve_current_user=impl(somebody)),
        named("none", resolve_current_user=impl(nobody)),
    )
    assert await pm.acall_first("resolve_current_user", handler="h") == "user-of-h"


async def test_handle_exception_rule_is_first_true() -> None:
    calls: list[str] = []

    def declines(handler: Any, exc: BaseException) -> bool:
        calls.append("declines")
        return False

    async def handles(handler: Any, exc: BaseException) -> bool:
        calls.append(f"handles {type(exc).__name__}")
        return True

    def never(handler: Any, exc: BaseException) -> bool:
        calls.append("never")
        return True

    pm = manager(
        named("never", handle_exception=impl(never)),
        named("handles", handle_exception=impl(handles)),
        named("declines", handle_exception=impl(declines)),
    )
    handled = await pm.acall_first(
        "handle_exception", until=lambda result: result is True, handler=None, exc=KeyError()
    )
    assert handled is True
    assert calls == ["declines", "handles KeyError"]


async def test_prepare_request_stops_once_the_handler_finished() -> None:
    class Handler:
        finished = False

    async def finishes(handler: Handler) -> None:
        handler.finished = True

    def must_not_run(handler: Handler) -> None:
        raise AssertionError("ran after finish")

    pm = manager(
        named("after", prepare_request=impl(must_not_run)),
        named("finisher", prepare_request=impl(finishes)),
    )
    handler = Handler()
    await pm.acall_first("prepare_request", until=lambda _: handler.finished, handler=handler)
    assert handler.finished


async def test_prepare_request_http_error_passes_through_unwrapped() -> None:
    def forbid(handler: Any) -> None:
        raise HTTPError(403)

    pm = manager(named("guard", prepare_request=impl(forbid)))
    with pytest.raises(HTTPError) as info:
        await pm.acall_each("prepare_request", passthrough=(HTTPError,), handler=None)
    assert info.value.status_code == 403
    with pytest.raises(PluginError, match="'guard' failed in hook 'prepare_request'"):
        await pm.acall_each("prepare_request", handler=None)


async def test_request_finished_each_and_async_collect() -> None:
    finished: list[str] = []

    async def request_finished(handler: str) -> None:
        await asyncio.sleep(0)
        finished.append(handler)

    async def paths(app: Any) -> list[str]:
        return ["/templates"]

    pm = manager(
        named("metrics", request_finished=impl(request_finished)),
        named("paths", register_template_paths=impl(paths)),
    )
    await pm.acall_each("request_finished", handler="GET /")
    assert finished == ["GET /"]
    assert await pm.acall_collect("register_template_paths", app=None) == [["/templates"]]


def test_callers_check_arguments_against_the_spec() -> None:
    pm = manager()
    with pytest.raises(TypeError, match=r"takes arguments \['app'\], called with \['ap'\]"):
        pm.call_each("configure", ap=None)
    with pytest.raises(ValueError, match="no hook specification"):
        pm.call_each("not_a_hook")


def test_implementation_may_take_a_subset_of_the_arguments() -> None:
    seen: list[Any] = []
    pm = manager(named("ns", prepare_template_namespace=impl(lambda ns: seen.append(ns))))
    pm.call_each("prepare_template_namespace", handler="h", ns={"a": 1})
    assert seen == [{"a": 1}]


# --- failures inside implementations --------------------------------------------------------


def test_exception_in_sync_hook_names_plugin_and_hook() -> None:
    def configure(app: Any) -> None:
        raise ConfigurationError("greeting must not be empty")

    pm = manager(named("greeter", configure=impl(configure)))
    with pytest.raises(PluginError) as info:
        pm.call_each("configure", app=None)
    error = info.value
    assert str(error) == (
        "plugin 'greeter' failed in hook 'configure': "
        "ConfigurationError: greeting must not be empty"
    )
    assert (error.plugin_name, error.hook_name) == ("greeter", "configure")
    assert isinstance(error.__cause__, ConfigurationError)


async def test_exception_in_awaited_hook_names_plugin_and_hook() -> None:
    async def startup(app: Any) -> None:
        await asyncio.sleep(0)
        raise OSError("pool unreachable")

    pm = manager(named("pool", startup=impl(startup)))
    with pytest.raises(PluginError, match="'pool' failed in hook 'startup'") as info:
        await pm.acall_each("startup", app=None)
    assert isinstance(info.value.__cause__, OSError)


async def test_cancellation_is_not_wrapped() -> None:
    async def prepare_request(handler: Any) -> None:
        raise asyncio.CancelledError

    pm = manager(named("cancel", prepare_request=impl(prepare_request)))
    with pytest.raises(asyncio.CancelledError):
        await pm.acall_each("prepare_request", handler=None)


def test_settings_must_be_setting_objects_and_unique() -> None:
    bad = named("bad", register_settings=impl(lambda: [("name", str)]))
    with pytest.raises(PluginError, match="must return a list of Setting"):
        manager(bad).collect_settings()
    one = named("one", register_settings=impl(lambda: [Setting("port", int, 1)]))
    two = named("two", register_settings=impl(lambda: [Setting("port", int, 2)]))
    with pytest.raises(PluginError, match="'port' is declared by plugin 'two' and again"):
        manager(one, two).collect_settings()


def test_setting_keeps_an_explicit_plugin_and_names_its_env_var() -> None:
    declared = Setting("db_url", str, plugin="database")
    pm = manager(named("p", register_settings=impl(lambda: [declared])))
    assert pm.collect_settings() == [declared]
    assert declared.env_var == "TYPHOON_DB_URL"


# --- lifecycle -------------------------------------------------------------------------------


def lifecycle(log: list[str], name: str, fail_startup: bool = False) -> types.SimpleNamespace:
    async def prepare_event_loop(app: Any, loop: asyncio.AbstractEventLoop) -> None:
        assert loop is asyncio.get_running_loop()
        log.append(f"{name}:loop")

    async def startup(app: Any) -> None:
        if fail_startup:
            raise RuntimeError("cannot start")
        log.append(f"{name}:startup")

    def shutdown(app: Any) -> None:
        log.append(f"{name}:shutdown")

    return named(
        name,
        prepare_event_loop=impl(prepare_event_loop),
        startup=impl(startup),
        shutdown=impl(shutdown),
    )


async def test_startup_then_shutdown_in_reverse_order_once() -> None:
    log: list[str] = []
    pm = manager(lifecycle(log, "a"), lifecycle(log, "b"))
    await pm.run_startup(None)
    await pm.run_startup(None)
    await pm.run_shutdown(None)
    await pm.run_shutdown(None)
    assert log == ["b:loop", "a:loop", "b:startup", "a:startup", "a:shutdown", "b:shutdown"]


async def test_failed_startup_shuts_down_only_what_started() -> None:
    log: list[str] = []
    pm = manager(
        lifecycle(log, "a"), lifecycle(log, "broken", fail_startup=True), lifecycle(log, "c")
    )
    with pytest.raises(PluginError, match="'broken' failed in hook 'startup'"):
        await pm.run_startup(None)
    assert log == [
        "c:loop",
        "broken:loop",
        "a:loop",
        "c:startup",
        "c:shutdown",
    ]


async def test_every_shutdown_runs_and_the_first_failure_is_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []

    def failing(name: str) -> types.SimpleNamespace:
        def shutdown(app: Any) -> None:
            log.append(name)
            raise RuntimeError(f"{name} leaked")

        return named(name, shutdown=impl(shutdown))

    pm = manager(failing("one"), failing("two"), lifecycle(log, "ok"))
    await pm.run_startup(None)
    with (
        caplog.at_level(logging.ERROR, logger="typhoon.plugins"),
        pytest.raises(PluginError, match="'one' failed"),
    ):
        await pm.run_shutdown(None)
    assert log == ["ok:loop", "ok:startup", "one", "two", "ok:shutdown"]
    assert "'two' failed in hook 'shutdown'" in caplog.text


# --- tracing ---------------------------------------------------------------------------------


def test_tracing_from_the_environment_logs_calls(caplog: pytest.LogCaptureFixture) -> None:
    def configure(app: Any) -> None:
        raise ValueError("x")

    plugins = [
        named("boom", configure=impl(configure, trylast=True)),
        named("traced", configure=impl(lambda app: None)),
    ]
    pm = PluginManager(plugins, load_entrypoints=False, environ={"TYPHOON_TRACE_PLUGINS": "1"})
    assert pm.trace_calls
    with caplog.at_level(logging.DEBUG, logger="typhoon.plugins"), pytest.raises(PluginError):
        pm.call_each("configure", app=None)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "hook configure: calling plugin 'traced'"
    assert messages[1].startswith("hook configure: plugin 'traced' returned NoneType in ")
    assert messages[2:] == [
        "hook configure: calling plugin 'boom'",
        "hook configure: plugin 'boom' raised ValueError",
    ]


def test_tracing_is_off_by_default(caplog: pytest.LogCaptureFixture) -> None:
    pm = PluginManager(
        [named("quiet", configure=impl(lambda app: None))], load_entrypoints=False, environ={}
    )
    assert not pm.trace_calls
    with caplog.at_level(logging.DEBUG, logger="typhoon.plugins"):
        pm.call_each("configure", app=None)
    assert caplog.records == []


def test_tracing_covers_calls_made_through_pluggy(caplog: pytest.LogCaptureFixture) -> None:
    pm = manager(named("direct", configure=impl(lambda app: None)), trace_calls=True)
    with caplog.at_level(logging.DEBUG, logger="typhoon.plugins"):
        pm.hook.configure(app=None)
    assert "hook configure (pluggy call): 'direct'" in caplog.text
