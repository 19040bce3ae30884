"""Environment variables TYPHOON_<NAME>: format, precedence whatever the call order."""

from __future__ import annotations

import datetime
import pathlib
from typing import Any

import pytest
from typhoon.errors import OptionsError
from typhoon_options import OptionParser


@pytest.fixture
def typed(parser: OptionParser) -> OptionParser:
    parser.define("port", default=80)
    parser.define("log_file_prefix", type=str)
    parser.define("ports", type=int, multiple=True)
    parser.define("debug", default=False)
    parser.define("timeout", type=datetime.timedelta)
    return parser


def test_parse_environment_from_a_mapping(typed: OptionParser) -> None:
    typed.parse_environment(
        {
            "TYPHOON_PORT": "8080",
            "TYPHOON_LOG_FILE_PREFIX": "/var/log/app",
            "TYPHOON_PORTS": "1,4:5",
            "TYPHOON_DEBUG": "on",
            "TYPHOON_TIMEOUT": "2m",
            "OTHER_PORT": "1",
        }
    )
    assert typed.port == 8080
    assert typed.log_file_prefix == "/var/log/app"
    assert typed.ports == [1, 4, 5]
    assert typed.debug is True
    assert typed.timeout == datetime.timedelta(minutes=2)
    assert typed.source_of("port") == "environment variable TYPHOON_PORT"


def test_environment_is_read_by_parse_command_line(
    typed: OptionParser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TYPHOON_PORT", "8080")
    monkeypatch.setenv("TYPHOON_DEBUG", "1")
    typed.parse_command_line(["prog", "--debug=false"])
    assert typed.port == 8080
    assert typed.debug is False


def test_command_line_beats_environment_in_either_order(
    typed: OptionParser, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed.parse_command_line(["prog", "--port=1"])
    typed.parse_environment({"TYPHOON_PORT": "2"})
    assert typed.port == 1
    assert typed.source_of("port") == "command line"
    other = OptionParser()
    other.define("port", default=80)
    monkeypatch.setenv("TYPHOON_PORT", "2")
    other.parse_environment()
    other.parse_command_line(["prog", "--port=1"])
    assert other.port == 1


def test_environment_beats_config_in_either_order(
    typed: OptionParser, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    config = tmp_path / "app.toml"
    config.write_text("port = 1\ndebug = true\n")
    monkeypatch.setenv("TYPHOON_PORT", "2")
    typed.parse_config_file(config)
    assert typed.port == 2
    assert typed.debug is True
    other = OptionParser()
    other.define("port", default=80)
    other.define("debug", default=False)
    other.parse_environment()
    other.parse_config_file(config)
    assert other.port == 2


def test_full_precedence(
    typed: OptionParser, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    config = tmp_path / "app.toml"
    config.write_text("port = 1\nlog_file_prefix = 'file'\nports = [1]\n")
    monkeypatch.setenv("TYPHOON_PORT", "2")
    monkeypatch.setenv("TYPHOON_LOG_FILE_PREFIX", "env")
    typed.parse_command_line(["prog", "--port=3"], final=False)
    typed.parse_config_file(config)
    assert (typed.port, typed.log_file_prefix, typed.ports, typed.debug) == (3, "env", [1], False)
    assert [typed.source_of(name) for name in ("port", "log_file_prefix", "ports", "debug")] == [
        "command line",
        "environment variable TYPHOON_LOG_FILE_PREFIX",
        f"config file {config}",
        "default",
    ]


def test_code_assignment_ranks_with_the_command_line(typed: OptionParser) -> None:
    typed.port = 5
    typed.parse_environment({"TYPHOON_PORT": "6"})
    assert typed.port == 5
    typed.parse_command_line(["prog", "--port=7"])
    assert typed.port == 7
    typed.port = 8
    assert typed.port == 8


def test_removed_variable_no_longer_counts(typed: OptionParser) -> None:
    seen: list[Any] = []
    typed._options["port"].callback = seen.append
    typed.parse_environment({"TYPHOON_PORT": "2"})
    typed.parse_environment({"TYPHOON_PORT": "2"})
    assert seen == [2]
    typed.parse_environment({})
    assert typed.port == 80
    assert typed.source_of("port") == "default"
    assert seen == [2, 80]


def test_bad_environment_value_names_the_variable(typed: OptionParser) -> None:
    with pytest.raises(
        OptionsError,
        match=r"^Bad value for option 'port' \(environment variable TYPHOON_PORT\): "
        r"expected int, got 'x'$",
    ):
        typed.parse_environment({"TYPHOON_PORT": "x"})
    with pytest.raises(OptionsError, match=r"TYPHOON_DEBUG\): expected bool"):
        typed.parse_environment({"TYPHOON_DEBUG": "sure"})


def test_help_is_never_read_from_the_environment(typed: OptionParser) -> None:
    typed.parse_environment({"TYPHOON_HELP": "1"})
    assert typed.help is None


def test_custom_prefix_and_disabled_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYAPP_PORT", "1")
    monkeypatch.setenv("TYPHOON_PORT", "2")
    custom = OptionParser(env_prefix="MYAPP_")
    custom.define("port", default=80)
    custom.parse_command_line(["prog"])
    assert custom.port == 1
    disabled = OptionParser(env_prefix=None)
    disabled.define("port", default=80)
    disabled.parse_command_line(["prog"])
    disabled.parse_environment()
    assert disabled.port == 80


def test_environment_callbacks_run_only_when_final(typed: OptionParser) -> None:
    calls: list[str] = []
    typed.add_parse_callback(lambda: calls.append("done"))
    typed.parse_environment({}, final=False)
    assert calls == []
    typed.parse_environment({})
    assert calls == ["done"]
