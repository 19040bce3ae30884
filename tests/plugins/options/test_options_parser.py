"""OptionParser: defining, reading, the command line, help, callbacks and mockable()."""

from __future__ import annotations

import datetime
import io
from typing import Any
from unittest import mock

import pytest
from typhoon.errors import OptionsError
from typhoon_options import OptionParser

# --- define -------------------------------------------------------------------------------


def test_type_is_inferred_from_the_default(parser: OptionParser) -> None:
    parser.define("port", default=8080)
    parser.define("ratio", default=0.5)
    parser.define("name")
    parser.define("hosts", default=["a"], multiple=True)
    parser.define("ports", default=[80, 443], multiple=True)
    parser.define("empty", multiple=True)
    assert parser._options["port"].type is int
    assert parser._options["ratio"].type is float
    assert parser._options["name"].type is str
    assert parser._options["hosts"].type is str
    assert parser._options["ports"].type is int
    assert parser._options["empty"].type is str
    assert parser.empty == []


def test_default_must_fit_the_type(parser: OptionParser) -> None:
    with pytest.raises(OptionsError, match=r"Bad value for option 'port' \(the default\)"):
        parser.define("port", default=[1], type=int)
    parser.define("delay", default="1m", type=datetime.timedelta)
    assert parser.delay == datetime.timedelta(minutes=1)


def test_defining_twice_fails_naming_the_file(parser: OptionParser) -> None:
    parser.define("log_dir")
    with pytest.raises(
        OptionsError, match=r"Option 'log-dir' already defined in .*test_options_parser\.py"
    ):
        parser.define("log-dir")
    with pytest.raises(OptionsError, match=r"'help' already defined$"):
        parser.define("help")


def test_group_defaults_to_the_defining_file(parser: OptionParser) -> None:
    parser.define("a")
    parser.define("b", group="web")
    assert parser._options["a"].group_name == __file__
    assert parser._options["a"].file_name == __file__
    assert parser.groups() == {"", __file__, "web"}


# --- reading and writing --------------------------------------------------------------------


def test_attribute_and_item_access_with_either_spelling(parser: OptionParser) -> None:
    parser.define("log_dir", default="/var/log")
    assert parser.log_dir == "/var/log"
    assert parser["log-dir"] == "/var/log"
    parser["log-dir"] = "/tmp"
    assert parser.log_dir == "/tmp"
    parser.log_dir = "/srv"
    assert parser["log_dir"] == "/srv"
    assert "log_dir" in parser
    assert "log-dir" in parser
    assert "logdir" not in parser
    assert 5 not in parser


def test_unknown_names_raise_attribute_error(parser: OptionParser) -> None:
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        _ = parser.nope
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        parser.nope = 1
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        _ = parser["nope"]
    assert not hasattr(parser, "nope")


def test_assignment_is_type_checked(parser: OptionParser) -> None:
    parser.define("port", default=1)
    parser.define("ports", default=[1], multiple=True)
    with pytest.raises(
        OptionsError, match=r"option 'port' \(code\): expected int, got '80' \(str\)"
    ):
        parser.port = "80"
    with pytest.raises(OptionsError, match=r"option 'ports' .*list of int"):
        parser.ports = 80
    parser.ports = (1, 2)
    assert parser.ports == [1, 2]
    parser.port = None
    assert parser.port is None


def test_iteration_and_dict_views(parser: OptionParser) -> None:
    parser.define("log_dir", default="/var/log", group="files")
    parser.define("port", default=80, group="server")
    parser.define("debug", default=False, group="server")
    assert list(parser) == ["help", "log_dir", "port", "debug"]
    assert parser.items() == [
        ("help", None),
        ("log_dir", "/var/log"),
        ("port", 80),
        ("debug", False),
    ]
    assert parser.group_dict("server") == {"port": 80, "debug": False}
    assert parser.group_dict("files") == {"log_dir": "/var/log"}
    assert parser.group_dict("missing") == {}
    assert parser.group_dict(None) == parser.as_dict()
    assert parser.as_dict() == {"help": None, "log_dir": "/var/log", "port": 80, "debug": False}
    assert "port" in dir(parser)


def test_option_named_like_a_method_is_reachable_by_item(parser: OptionParser) -> None:
    parser.define("items", default=3)
    assert parser["items"] == 3
    assert callable(parser.items)


# --- the command line -----------------------------------------------------------------------


def test_parse_command_line_reads_values_and_returns_the_rest(parser: OptionParser) -> None:
    parser.define("port", default=80)
    parser.define("name", default="x")
    rest = parser.parse_command_line(["prog", "--port=8080", "-name=web", "serve", "--port=1"])
    assert rest == ["serve", "--port=1"]
    assert parser.port == 8080
    assert parser.name == "web"
    assert parser.source_of("port") == "command line"


def test_double_dash_ends_the_options(parser: OptionParser) -> None:
    parser.define("port", default=80)
    assert parser.parse_command_line(["prog", "--port=1", "--", "--port=2"]) == ["--port=2"]
    assert parser.port == 1
    assert parser.parse_command_line(["prog", "-", "x"]) == ["-", "x"]
    assert parser.parse_command_line(["prog"]) == []


def test_bool_flags(parser: OptionParser) -> None:
    parser.define("debug", default=False)
    parser.define("verbose", type=bool)
    parser.parse_command_line(["prog", "--debug", "--verbose=no"])
    assert parser.debug is True
    assert parser.verbose is False
    parser.parse_command_line(["prog", "--debug=false"])
    assert parser.debug is False


def test_last_occurrence_wins(parser: OptionParser) -> None:
    parser.define("ports", type=int, multiple=True)
    parser.parse_command_line(["prog", "--ports=1:3", "--ports=8,9"])
    assert parser.ports == [8, 9]


def test_dashes_and_underscores_on_the_command_line(parser: OptionParser) -> None:
    parser.define("log_file_prefix", type=str)
    parser.parse_command_line(["prog", "--log-file-prefix=/a"])
    assert parser.log_file_prefix == "/a"
    parser.parse_command_line(["prog", "--log_file_prefix=/b"])
    assert parser.log_file_prefix == "/b"


def test_typed_values_from_the_command_line(parser: OptionParser) -> None:
    parser.define("when", type=datetime.datetime)
    parser.define("every", type=datetime.timedelta)
    parser.define("ratio", type=float)
    parser.parse_command_line(["prog", "--when=2024-05-01 10:00", "--every=1h 30m", "--ratio=0.25"])
    assert parser.when == datetime.datetime(2024, 5, 1, 10, 0)
    assert parser.every == datetime.timedelta(hours=1, minutes=30)
    assert parser.ratio == 0.25


def test_a_value_is_required_except_for_bools(parser: OptionParser) -> None:
    parser.define("port", default=80)
    parser.define("flags", type=bool, multiple=True)
    with pytest.raises(OptionsError, match=r"Option 'port' requires a value: --port=VALUE"):
        parser.parse_command_line(["prog", "--port", "8080"])
    with pytest.raises(OptionsError, match="Option 'flags' requires a value"):
        parser.parse_command_line(["prog", "--flags"])


def test_unknown_option_suggests_a_close_name(parser: OptionParser) -> None:
    parser.define("port", default=80)
    with pytest.raises(
        OptionsError,
        match=r"Unrecognized command line option: 'prot' \(did you mean --port\?\); see --help",
    ):
        parser.parse_command_line(["prog", "--prot=1"])
    with pytest.raises(
        OptionsError, match=r"Unrecognized command line option: 'zzzzzz'; see --help"
    ):
        parser.parse_command_line(["prog", "--zzzzzz"])


def test_bad_value_names_option_type_and_source(parser: OptionParser) -> None:
    parser.define("port", default=80)
    with pytest.raises(
        OptionsError,
        match=r"^Bad value for option 'port' \(command line\): expected int, got 'http'$",
    ):
        parser.parse_command_line(["prog", "--port=http"])
    assert parser.port == 80


def test_help_prints_and_exits(parser: OptionParser, capsys: pytest.CaptureFixture[str]) -> None:
    parser.define("port", default=80, help="port to listen on")
    with pytest.raises(SystemExit) as info:
        parser.parse_command_line(["prog", "--help", "--not-an-option"])
    assert info.value.code == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--port=INT" in captured.err
    assert "port to listen on (default 80)" in captured.err


# --- help text ------------------------------------------------------------------------------


def _help(parser: OptionParser) -> str:
    out = io.StringIO()
    parser.print_help(out)
    return out.getvalue()


def test_help_layout(parser: OptionParser, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/usr/bin/server.py"])
    parser.define("port", default=8080, help="port to listen on", group="server")
    parser.define("debug", default=False, help="debug mode", group="server")
    parser.define("hosts", default=["a", "b"], multiple=True, group="server")
    parser.define("ports", type=int, multiple=True, group="server")
    parser.define("secret", metavar="TOKEN", help="", group="server")
    parser.define(
        "a_very_long_option_name_indeed",
        type=str,
        help="a help text that is long enough to need wrapping onto a second line of output",
        group="server",
    )
    text = _help(parser)
    lines = text.splitlines()
    assert lines[:4] == ["Usage: server.py [OPTIONS]", "", "Options:", ""]
    assert lines[4] == "  --help" + " " * 27 + "show this help information"
    assert "server options:" in lines
    assert "  --port=INT" + " " * 23 + "port to listen on (default 8080)" in lines
    assert "  --debug" + " " * 26 + "debug mode (default False)" in lines
    assert "  --hosts=STR[,STR...]" + " " * 13 + "(default a,b)" in lines
    assert "  --ports=INT[:INT][,...]" in lines
    assert "  --secret=TOKEN" in lines
    long_flag = lines.index("  --a-very-long-option-name-indeed=STR")
    assert lines[long_flag + 1].startswith(" " * 35 + "a help text")
    assert lines[long_flag + 2].startswith(" " * 35)
    assert all(len(line) <= 79 for line in lines)
    assert "TYPHOON_<NAME>" in text


def test_help_sorts_groups_and_names(parser: OptionParser) -> None:
    parser.define("zeta", group="b")
    parser.define("alpha", group="b")
    parser.define("mid", group="a")
    text = _help(parser)
    assert text.index("a options:") < text.index("b options:")
    assert text.index("--alpha") < text.index("--zeta")


def test_help_shows_module_groups_and_omits_env_note_when_disabled() -> None:
    quiet = OptionParser(env_prefix=None)
    quiet.define("port", default=1)
    text = _help(quiet)
    assert "test_options_parser.py options:" in text
    assert "TYPHOON_" not in text


def test_print_help_defaults_to_stderr(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    parser.print_help()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--help" in captured.err


# --- callbacks ------------------------------------------------------------------------------


def test_option_callback_sees_each_effective_value(parser: OptionParser) -> None:
    seen: list[Any] = []
    parser.define("port", default=80, callback=seen.append)
    parser.parse_command_line(["prog", "--port=81"])
    parser.port = 82
    assert seen == [81, 82]


def test_option_callback_not_called_for_a_masked_value(parser: OptionParser, tmp_path: Any) -> None:
    seen: list[Any] = []
    parser.define("port", default=80, callback=seen.append)
    parser.parse_command_line(["prog", "--port=81"])
    config = tmp_path / "app.toml"
    config.write_text("port = 90\n")
    parser.parse_config_file(config)
    assert parser.port == 81
    assert seen == [81]


def test_a_refusing_callback_undoes_the_change(parser: OptionParser) -> None:
    def only_even(value: int) -> None:
        if value % 2:
            raise OptionsError(f"port must be even, not {value}")

    parser.define("port", default=80, callback=only_even)
    with pytest.raises(OptionsError, match="port must be even, not 81"):
        parser.parse_command_line(["prog", "--port=81"])
    assert parser.port == 80
    assert parser.source_of("port") == "default"


def test_parse_callbacks_run_after_final_parse_only(parser: OptionParser) -> None:
    calls: list[str] = []
    parser.add_parse_callback(lambda: calls.append("first"))
    parser.add_parse_callback(lambda: calls.append("second"))
    parser.parse_command_line(["prog"], final=False)
    assert calls == []
    parser.parse_command_line(["prog"])
    assert calls == ["first", "second"]
    parser.run_parse_callbacks()
    assert calls == ["first", "second", "first", "second"]


# --- mockable -------------------------------------------------------------------------------


def test_mockable_patches_and_restores(parser: OptionParser) -> None:
    parser.define("port", default=80)
    parser.parse_command_line(["prog", "--port=81"])
    with mock.patch.object(parser.mockable(), "port", 9999):
        assert parser.port == 9999
        assert parser.source_of("port") == "code"
    assert parser.port == 81
    assert parser.source_of("port") == "command line"


def test_mockable_restores_a_default(parser: OptionParser) -> None:
    parser.define("log_dir", default="/var/log")
    mockable = parser.mockable()
    with mock.patch.object(mockable, "log_dir", "/tmp"):
        assert parser["log-dir"] == "/tmp"
        assert mockable.log_dir == "/tmp"
    assert parser.log_dir == "/var/log"
    assert parser.source_of("log_dir") == "default"


def test_mockable_checks_types_and_refuses_reuse(parser: OptionParser) -> None:
    parser.define("port", default=80)
    mockable = parser.mockable()
    with pytest.raises(OptionsError, match="expected int"):
        mockable.port = "x"
    mockable.port = 1
    with pytest.raises(OptionsError, match="already patched through this mockable"):
        mockable.port = 2
    del mockable.port
    assert parser.port == 80


def test_mockable_restore_calls_the_callback(parser: OptionParser) -> None:
    seen: list[Any] = []
    parser.define("port", default=80, callback=seen.append)
    with mock.patch.object(parser.mockable(), "port", 1):
        pass
    assert seen == [1, 80]


def test_env_var_names(parser: OptionParser) -> None:
    assert parser.env_var("log-file-prefix") == "TYPHOON_LOG_FILE_PREFIX"
    assert parser.env_var("port") == "TYPHOON_PORT"
    assert OptionParser(env_prefix="APP_").env_var("db_host") == "APP_DB_HOST"
    assert OptionParser(env_prefix=None).env_var("port") is None
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        parser.source_of("nope")
