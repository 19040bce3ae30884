"""The settings bridge: declared plugin settings become options and reach app.settings."""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Sequence
from typing import Any

import pytest
import typhoon_options
import typhoon_options.plugin
from typhoon import hookimpl
from typhoon.errors import OptionsError
from typhoon.plugins import PluginManager, Setting
from typhoon_options import OptionParser, define_settings
from typhoon_options._settings import apply_settings, flag_type


class Demo:
    """A plugin that declares typed settings and records what its configure saw."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    @hookimpl
    def register_settings(self) -> Sequence[Setting]:
        return [
            Setting("demo_workers", int, 1, "worker count"),
            Setting("demo_enabled", bool, False, "turn the demo on"),
            Setting("demo_hosts", list[str], None, "hosts to call"),
            Setting("demo_timeout", datetime.timedelta, datetime.timedelta(seconds=5)),
        ]

    @hookimpl
    def configure(self, app: Any) -> None:
        self.seen = dict(app.settings)


class App:
    """The part of an application that hooks rely on: settings and the plugin manager."""

    def __init__(self, plugin_manager: PluginManager, **settings: Any) -> None:
        self.settings: dict[str, Any] = settings
        self.plugin_manager = plugin_manager


@pytest.fixture
def demo() -> Demo:
    return Demo()


@pytest.fixture
def manager(demo: Demo) -> PluginManager:
    return PluginManager(
        [typhoon_options.plugin, demo], load_entrypoints=False, environ={}, trace_calls=False
    )


# --- types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, (int, False)),
        (bool, (bool, False)),
        (int | None, (int, False)),
        (str | bytes, (str, False)),
        (list[int], (int, True)),
        (tuple[str, ...], (str, True)),
        (Sequence[float], (float, True)),
        (list[int | None], (int, True)),
        (list, (str, True)),
        (Any, (str, False)),
        (object, (str, False)),
        (datetime.timedelta, (datetime.timedelta, False)),
    ],
)
def test_flag_type(annotation: Any, expected: tuple[type, bool]) -> None:
    assert flag_type(annotation) == expected


# --- define_settings ------------------------------------------------------------------------


def test_define_settings_makes_typed_grouped_options(parser: OptionParser) -> None:
    settings = [
        Setting("workers", int, 4, "how many workers", plugin="pool"),
        Setting("hosts", list[str], ["a"], plugin="pool"),
        Setting("secret", str | bytes, b"raw", "a secret"),  # type: ignore[arg-type]
    ]
    assert define_settings(settings, parser) == ["workers", "hosts", "secret"]
    assert parser.workers == 4
    assert parser.hosts == ["a"]
    # A default outside the option's type is left out rather than refused.
    assert parser.secret is None
    assert parser.group_dict("pool") == {"workers": 4, "hosts": ["a"]}
    assert parser._options["secret"].group_name == "typhoon"
    assert parser._options["workers"].help == "how many workers"
    parser.parse_command_line(["prog", "--workers=8", "--hosts=x,y", "--secret=s"])
    assert parser.as_dict()["secret"] == "s"
    assert (parser.workers, parser.hosts) == (8, ["x", "y"])


def test_a_later_define_names_the_declaring_plugin(parser: OptionParser) -> None:
    define_settings([Setting("workers", int, 4, plugin="pool")], parser)
    with pytest.raises(
        OptionsError, match=r"Option 'workers' already defined in settings of plugin 'pool'"
    ):
        parser.define("workers", default=1)


def test_define_settings_keeps_existing_options(parser: OptionParser) -> None:
    parser.define("workers", default=2, help="mine")
    assert define_settings([Setting("workers", int, 4, "theirs")], parser) == []
    assert parser._options["workers"].help == "mine"
    assert parser.workers == 2


def test_define_settings_reads_environment_once_parsed(
    parser: OptionParser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TYPHOON_WORKERS", "9")
    define_settings([Setting("workers", int, 1)], parser)
    assert parser.workers == 1  # the parser was never used: inert
    parser.parse_command_line(["prog"])
    monkeypatch.setenv("TYPHOON_LATE", "yes")
    define_settings([Setting("late", bool, False)], parser)
    assert parser.workers == 9
    assert parser.late is True


def test_define_settings_defaults_to_the_installed_plugins(
    global_options: OptionParser, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        typhoon_options, "PluginManager", lambda: PluginManager([demo], load_entrypoints=False)
    )
    names = define_settings()
    assert names == ["demo_workers", "demo_enabled", "demo_hosts", "demo_timeout"]
    assert global_options.group_dict("test_options_settings.Demo") == {
        "demo_workers": 1,
        "demo_enabled": False,
        "demo_hosts": [],
        "demo_timeout": datetime.timedelta(seconds=5),
    }
    global_options.parse_command_line(["prog", "--demo-workers=3", "--logging=none"])
    assert global_options.demo_workers == 3


# --- apply_settings -------------------------------------------------------------------------


def test_apply_settings_copies_only_values_someone_set(parser: OptionParser) -> None:
    settings = [Setting("a", int, 1), Setting("b", int, 2), Setting("c", int, 3)]
    define_settings(settings, parser)
    parser.parse_command_line(["prog", "--a=10", "--c=30"])
    target: dict[str, Any] = {"c": 99}
    assert apply_settings(settings, parser, target) == {"a": 10}
    assert target == {"a": 10, "c": 99}


def test_apply_settings_overrides_a_filled_in_default(parser: OptionParser) -> None:
    settings = [Setting("debug", bool, False)]
    define_settings(settings, parser)
    parser.debug = True
    target: dict[str, Any] = {"debug": False}
    assert apply_settings(settings, parser, target) == {"debug": True}
    assert target == {"debug": True}


def test_apply_settings_skips_undefined_options(parser: OptionParser) -> None:
    assert apply_settings([Setting("ghost", int, 1)], parser, {}) == {}


# --- the configure hook ---------------------------------------------------------------------


def test_configure_applies_command_line_values(
    global_options: OptionParser, manager: PluginManager, demo: Demo
) -> None:
    define_settings(manager.collect_settings())
    global_options.parse_command_line(
        ["prog", "--demo-workers=4", "--demo_enabled", "--demo-hosts=a,b", "--logging=none"]
    )
    app = App(manager, demo_enabled=False)
    manager.call_each("configure", app=app)
    assert app.settings == {"demo_workers": 4, "demo_enabled": True, "demo_hosts": ["a", "b"]}
    # The options plugin runs first, so other plugins configure with the final values.
    assert demo.seen == app.settings


def test_configure_keeps_explicit_application_settings(
    global_options: OptionParser, manager: PluginManager
) -> None:
    define_settings(manager.collect_settings())
    global_options.parse_command_line(["prog", "--demo-workers=4", "--logging=none"])
    app = App(manager, demo_workers=16)
    manager.call_each("configure", app=app)
    assert app.settings == {"demo_workers": 16}


def test_configure_defines_late_settings_and_reads_the_environment(
    global_options: OptionParser,
    manager: PluginManager,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
) -> None:
    global_options.parse_command_line(["prog", "--logging=none"])
    monkeypatch.setenv("TYPHOON_DEMO_TIMEOUT", "1m")
    app = App(manager)
    manager.call_each("configure", app=app)
    assert app.settings == {"demo_timeout": datetime.timedelta(minutes=1)}
    assert "demo_workers" in global_options
    config = tmp_path / "app.toml"
    config.write_text("demo_workers = 7\ndemo_timeout = 5\n")
    global_options.parse_config_file(config, final=False)
    second = App(manager)
    manager.call_each("configure", app=second)
    assert second.settings == {"demo_workers": 7, "demo_timeout": datetime.timedelta(minutes=1)}


def test_configure_is_inert_when_options_are_unused(
    global_options: OptionParser, manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    object.__setattr__(global_options, "_used", False)
    monkeypatch.setenv("TYPHOON_DEMO_WORKERS", "5")
    app = App(manager, other=1)
    manager.call_each("configure", app=app)
    assert app.settings == {"other": 1}
    assert "demo_workers" not in global_options


def test_configure_applies_values_assigned_in_code(
    global_options: OptionParser, manager: PluginManager
) -> None:
    object.__setattr__(global_options, "_used", False)
    define_settings(manager.collect_settings())
    global_options.demo_enabled = True
    app = App(manager)
    manager.call_each("configure", app=app)
    assert app.settings == {"demo_enabled": True}
