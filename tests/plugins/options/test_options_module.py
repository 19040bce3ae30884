"""The module-level API on the global registry, and the plugin's packaging."""

from __future__ import annotations

import importlib.metadata
import io
import pathlib
import subprocess
import sys

import pytest
import typhoon_options
from typhoon.errors import OptionsError, TyphoonError
from typhoon.plugins import PluginManager
from typhoon_options import OptionParser

_MODULES = [
    "typhoon_options",
    "typhoon_options.plugin",
    "typhoon_options._config",
    "typhoon_options._help",
    "typhoon_options._logging",
    "typhoon_options._option",
    "typhoon_options._parser",
    "typhoon_options._settings",
    "typhoon_options._types",
]


def test_error_is_the_options_error() -> None:
    assert typhoon_options.Error is OptionsError
    assert issubclass(typhoon_options.Error, TyphoonError)


def test_public_names_exist() -> None:
    for name in typhoon_options.__all__:
        assert hasattr(typhoon_options, name), name
    assert isinstance(typhoon_options.options, OptionParser)


def test_module_functions_use_the_global_registry(
    global_options: OptionParser, tmp_path: pathlib.Path
) -> None:
    typhoon_options.define("module_test_port", default=80, help="a port", group="module test")
    assert global_options._options["module-test-port"].file_name == __file__
    calls: list[int] = []
    typhoon_options.add_parse_callback(lambda: calls.append(global_options.module_test_port))
    rest = typhoon_options.parse_command_line(
        ["prog", "--module-test-port=81", "--logging=none", "extra"]
    )
    assert rest == ["extra"]
    assert calls == [81]
    config = tmp_path / "app.toml"
    config.write_text("module_test_port = 1\nlogging = 'none'\n")
    typhoon_options.parse_config_file(config)
    assert global_options.module_test_port == 81
    assert calls == [81, 81]
    typhoon_options.parse_environment({"TYPHOON_MODULE_TEST_PORT": "82"}, final=False)
    assert global_options.module_test_port == 81
    out = io.StringIO()
    typhoon_options.print_help(out)
    assert "module test options:" in out.getvalue()
    assert "--module-test-port=INT" in out.getvalue()


def test_global_registry_has_the_logging_options() -> None:
    assert "log_file_prefix" in typhoon_options.options
    assert typhoon_options.options.group_dict("logging")["logging"] == "info"
    with pytest.raises(OptionsError, match="'logging' already defined"):
        typhoon_options.define_logging_options()


def test_global_define_detects_duplicates(global_options: OptionParser) -> None:
    typhoon_options.define("module_test_dup")
    with pytest.raises(
        OptionsError, match=r"'module-test-dup' already defined in .*test_options_module"
    ):
        typhoon_options.define("module-test-dup")


def test_entry_point_is_installed_and_loads_the_hooks() -> None:
    (entry_point,) = [
        ep for ep in importlib.metadata.entry_points(group="typhoon") if ep.name == "options"
    ]
    assert entry_point.value == "typhoon_options.plugin"
    assert entry_point.dist is not None
    assert entry_point.dist.metadata["Name"] == "typhoon-options"
    manager = PluginManager(environ={"TYPHOON_PLUGINS": "options"})
    (info,) = manager.list_plugins()
    assert (info.name, info.distribution, info.hooks) == (
        "options",
        "typhoon-options",
        ("configure",),
    )
    manager.check_pending()


def test_distribution_ships_type_information() -> None:
    package = pathlib.Path(typhoon_options.__file__).parent
    assert (package / "py.typed").is_file()


@pytest.mark.parametrize("module", _MODULES)
def test_each_module_imports_alone_without_warnings(module: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
