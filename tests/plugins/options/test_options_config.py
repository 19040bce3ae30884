"""Config files: Python files as in Tornado, TOML files, and their rank among sources."""

from __future__ import annotations

import datetime
import pathlib
import textwrap

import pytest
from typhoon.errors import OptionsError
from typhoon_options import OptionParser


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def typed(parser: OptionParser) -> OptionParser:
    parser.define("port", default=80)
    parser.define("debug", default=False)
    parser.define("name", default="app")
    parser.define("ratio", default=1.0)
    parser.define("ports", type=int, multiple=True)
    parser.define("hosts", type=str, multiple=True)
    parser.define("started", type=datetime.datetime)
    parser.define("timeout", type=datetime.timedelta)
    parser.define("log_file_prefix", type=str)
    return parser


# --- Python files ---------------------------------------------------------------------------


def test_python_file_values_of_the_final_type(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(
        tmp_path / "server.conf",
        """
        import os
        port = 8000 + 80
        debug = True
        ports = [1, 2]
        hosts = ["a", "b"]
        timeout = __import__("datetime").timedelta(seconds=5)
        def helper():
            return 1
        unrelated = helper()
        """,
    )
    typed.parse_config_file(str(config))
    assert typed.port == 8080
    assert typed.debug is True
    assert typed.ports == [1, 2]
    assert typed.hosts == ["a", "b"]
    assert typed.timeout == datetime.timedelta(seconds=5)
    assert typed.source_of("port") == f"config file {config}"


def test_python_file_strings_are_parsed(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(
        tmp_path / "server.conf",
        """
        port = "8080"
        debug = "yes"
        ports = "1,5:7"
        hosts = "x,y"
        started = "2024-03-01 12:00"
        timeout = "1m 30s"
        ratio = 2
        """,
    )
    typed.parse_config_file(config)
    assert typed.port == 8080
    assert typed.debug is True
    assert typed.ports == [1, 5, 6, 7]
    assert typed.hosts == ["x", "y"]
    assert typed.started == datetime.datetime(2024, 3, 1, 12, 0)
    assert typed.timeout == datetime.timedelta(seconds=90)
    assert typed.ratio == 2.0


def test_python_file_sees_its_own_path(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(
        tmp_path / "server.conf",
        """
        import os
        log_file_prefix = os.path.join(os.path.dirname(__file__), "server.log")
        """,
    )
    typed.parse_config_file(config)
    assert typed.log_file_prefix == str(tmp_path / "server.log")


def test_python_file_option_names_with_underscores(
    parser: OptionParser, tmp_path: pathlib.Path
) -> None:
    parser.define("log-dir", default="/")
    parser.parse_config_file(_write(tmp_path / "c.py", "log_dir = '/srv'\n"))
    assert parser.log_dir == "/srv"


def test_python_file_errors_name_the_file(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    broken = _write(tmp_path / "broken.conf", "port = (\n")
    with pytest.raises(OptionsError, match=r"Error in config file .*broken\.conf: SyntaxError"):
        typed.parse_config_file(broken)
    failing = _write(tmp_path / "failing.conf", "port = undefined_name\n")
    with pytest.raises(OptionsError, match=r"failing\.conf: NameError: name 'undefined_name'"):
        typed.parse_config_file(failing)
    with pytest.raises(
        OptionsError, match=r"Cannot read config file .*missing\.conf: No such file"
    ):
        typed.parse_config_file(tmp_path / "missing.conf")


def test_a_bad_value_changes_nothing(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(tmp_path / "bad.conf", "name = 'changed'\nport = 'eighty'\n")
    with pytest.raises(
        OptionsError,
        match=r"^Bad value for option 'port' \(config file .*bad\.conf\): expected int, got 'eighty'$",
    ):
        typed.parse_config_file(config)
    assert typed.name == "app"


def test_wrong_type_in_python_file(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(tmp_path / "bad.conf", "ports = 5\n")
    with pytest.raises(OptionsError, match=r"option 'ports' .*list of int.*got 5 \(int\)"):
        typed.parse_config_file(config)


def test_same_option_twice_with_both_spellings(
    parser: OptionParser, tmp_path: pathlib.Path
) -> None:
    parser.define("log_dir", default="/")
    config = _write(tmp_path / "c.toml", 'log_dir = "/a"\n"log-dir" = "/b"\n')
    with pytest.raises(OptionsError, match="option 'log-dir' is set twice"):
        parser.parse_config_file(config)


# --- TOML files -----------------------------------------------------------------------------


def test_toml_file(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(
        tmp_path / "app.toml",
        """
        name = "web"
        ratio = 3

        [server]
        port = 8080
        debug = true
        ports = [8000, "8010:8012"]
        hosts = ["a", "b"]

        [timing]
        started = 2024-03-01T12:00:00
        timeout = 90
        """,
    )
    typed.parse_config_file(config)
    assert typed.name == "web"
    assert typed.ratio == 3.0
    assert typed.port == 8080
    assert typed.debug is True
    assert typed.ports == [8000, 8010, 8011, 8012]
    assert typed.hosts == ["a", "b"]
    assert typed.started == datetime.datetime(2024, 3, 1, 12, 0)
    assert typed.timeout == datetime.timedelta(seconds=90)


def test_toml_dates_and_text_durations(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    typed.parse_config_file(_write(tmp_path / "a.TOML", 'started = 2024-03-01\ntimeout = "2h"\n'))
    assert typed.started == datetime.datetime(2024, 3, 1)
    assert typed.timeout == datetime.timedelta(hours=2)


def test_toml_unknown_names_are_errors(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(tmp_path / "app.toml", "port = 1\nprot = 2\n[x]\nnope = 3\n")
    with pytest.raises(
        OptionsError, match=r"app\.toml: no option named 'prot', 'nope'; see --help"
    ):
        typed.parse_config_file(config)
    assert typed.port == 80


def test_toml_structure_errors(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    nested = _write(tmp_path / "nested.toml", "[a.b]\nport = 1\n")
    with pytest.raises(OptionsError, match=r"\[a\.b\] is nested too deep"):
        typed.parse_config_file(nested)
    twice = _write(tmp_path / "twice.toml", "port = 1\n[server]\nport = 2\n")
    with pytest.raises(OptionsError, match="option 'port' is set twice"):
        typed.parse_config_file(twice)
    invalid = _write(tmp_path / "invalid.toml", "port = \n")
    with pytest.raises(OptionsError, match=r"Error in config file .*invalid\.toml: "):
        typed.parse_config_file(invalid)
    (tmp_path / "latin.toml").write_bytes(b'name = "\xe9"\n')
    with pytest.raises(OptionsError, match=r"latin\.toml: .*utf-8"):
        typed.parse_config_file(tmp_path / "latin.toml")


def test_toml_wrong_type(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(tmp_path / "app.toml", "debug = 1\n")
    with pytest.raises(OptionsError, match=r"option 'debug' .*expected bool .*got 1 \(int\)"):
        typed.parse_config_file(config)


# --- rank among the sources -----------------------------------------------------------------


def test_config_never_overrides_the_command_line(
    typed: OptionParser, tmp_path: pathlib.Path
) -> None:
    config = _write(tmp_path / "app.toml", "port = 1\nname = 'from-file'\n")
    typed.parse_command_line(["prog", "--port=2"])
    typed.parse_config_file(config)
    assert typed.port == 2
    assert typed.name == "from-file"


def test_command_line_overrides_the_config(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    config = _write(tmp_path / "app.toml", "port = 1\n")
    typed.parse_config_file(config)
    typed.parse_command_line(["prog", "--port=2"])
    assert typed.port == 2


def test_later_config_file_wins_over_earlier(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    typed.parse_config_file(_write(tmp_path / "a.toml", "port = 1\nname = 'a'\n"))
    typed.parse_config_file(_write(tmp_path / "b.toml", "port = 2\n"))
    assert typed.port == 2
    assert typed.name == "a"


def test_config_parse_callbacks(typed: OptionParser, tmp_path: pathlib.Path) -> None:
    calls: list[int] = []
    typed.add_parse_callback(lambda: calls.append(typed.port))
    config = _write(tmp_path / "a.toml", "port = 5\n")
    typed.parse_config_file(config, final=False)
    assert calls == []
    typed.parse_config_file(config)
    assert calls == [5]
