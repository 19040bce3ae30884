"""Tornado's logging options: defined, validated, and applied to the root logger."""

from __future__ import annotations

import logging
import logging.handlers
import pathlib
from collections.abc import Iterator

import pytest
from typhoon.errors import OptionsError
from typhoon_options import OptionParser, define_logging_options

_NAMES = [
    "logging",
    "log_to_stderr",
    "log_file_prefix",
    "log_file_max_size",
    "log_file_num_backups",
    "log_rotate_when",
    "log_rotate_interval",
    "log_rotate_mode",
]


@pytest.fixture
def logged(parser: OptionParser) -> OptionParser:
    define_logging_options(parser)
    return parser


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its level and handlers put back (and new handlers closed)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield root
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def test_logging_options_are_defined(logged: OptionParser) -> None:
    assert list(logged.group_dict("logging")) == _NAMES
    assert logged.logging == "info"
    assert logged.log_file_max_size == 100 * 1000 * 1000
    assert logged.log_file_num_backups == 10
    assert logged.log_rotate_when == "midnight"
    assert logged.log_rotate_interval == 1
    assert logged.log_rotate_mode == "size"
    assert logged.log_to_stderr is None
    assert logged.log_file_prefix is None


def test_logging_none_leaves_logging_alone(
    logged: OptionParser, root_logger: logging.Logger
) -> None:
    level, handlers = root_logger.level, list(root_logger.handlers)
    logged.parse_command_line(["prog", "--logging=none"])
    assert root_logger.level == level
    assert root_logger.handlers == handlers


def test_logging_to_a_file(
    logged: OptionParser, root_logger: logging.Logger, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "app.log"
    logged.parse_command_line(
        ["prog", "--logging=debug", f"--log_file_prefix={path}", "--log-to-stderr=false"]
    )
    assert root_logger.level == logging.DEBUG
    added = [h for h in root_logger.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert len(added) == 1
    assert added[0].maxBytes == 100 * 1000 * 1000
    logging.getLogger("typhoon.test.options").debug("hello %s", "file")
    added[0].flush()
    assert "hello file" in path.read_text(encoding="utf-8")


def test_time_rotation_from_a_config_file(
    logged: OptionParser, root_logger: logging.Logger, tmp_path: pathlib.Path
) -> None:
    config = tmp_path / "log.toml"
    config.write_text(
        f"logging = 'warning'\nlog_file_prefix = '{tmp_path / 'app.log'}'\n"
        "log_rotate_mode = 'time'\nlog_rotate_when = 'H'\nlog_rotate_interval = 2\n"
        "log_to_stderr = false\n"
    )
    logged.parse_config_file(config)
    assert root_logger.level == logging.WARNING
    timed = [
        h for h in root_logger.handlers if isinstance(h, logging.handlers.TimedRotatingFileHandler)
    ]
    assert len(timed) == 1
    assert timed[0].when == "H"
    assert timed[0].interval == 2 * 60 * 60


def test_no_logging_setup_before_the_final_parse(
    logged: OptionParser, root_logger: logging.Logger
) -> None:
    level = root_logger.level
    logged.parse_command_line(["prog", "--logging=critical"], final=False)
    assert root_logger.level == level


def test_bad_logging_values(logged: OptionParser) -> None:
    with pytest.raises(
        OptionsError, match=r"Bad value for option 'logging': expected one of debug, info"
    ):
        logged.parse_command_line(["prog", "--logging=loud"])
    assert logged.logging == "info"
    with pytest.raises(
        OptionsError, match=r"option 'log_rotate_mode': expected 'size' or 'time', got 'daily'"
    ):
        logged.log_rotate_mode = "daily"
    assert logged.log_rotate_mode == "size"
    logged.logging = None
    assert logged.logging is None
