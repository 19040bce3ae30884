"""Tests for typhoon.log: the named loggers, LogFormatter and enable_pretty_logging."""

from __future__ import annotations

import io
import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from typhoon import log
from typhoon.log import LogFormatter, enable_pretty_logging


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(msg: object, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("typhoon.test", level, __file__, 42, msg, args, None)


@pytest.fixture
def fresh_logger() -> Iterator[logging.Logger]:
    # A logger outside the global hierarchy, so pytest's capture handlers never show up.
    logger = logging.Logger("typhoon.test.pretty")
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.NOTSET)


def test_logger_names() -> None:
    assert log.access_log.name == "typhoon.access"
    assert log.app_log.name == "typhoon.application"
    assert log.gen_log.name == "typhoon.general"


def test_format_plain_when_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    text = LogFormatter().format(_record("hello %s", "world", level=logging.WARNING))
    assert "\033[" not in text
    assert text.startswith("[W ")
    assert text.endswith("test_log:42] hello world")


def test_format_coloured_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _TTY())
    text = LogFormatter().format(_record("boom", level=logging.ERROR))
    assert text.startswith("\033[2;31m[E ")
    assert "\033[0m boom" in text
    # Levels without a colour get no escape codes.
    plain = LogFormatter().format(_record("x", level=25))
    assert "\033[" not in plain


def test_color_false_never_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _TTY())
    text = LogFormatter(color=False).format(_record("boom", level=logging.ERROR))
    assert "\033[" not in text


def test_multiline_and_exception_are_indented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "first\nsecond", None, sys.exc_info()
        )
    lines = LogFormatter().format(record).split("\n")
    assert lines[0].endswith("first")
    assert lines[1] == "    second"
    assert all(line.startswith("    ") for line in lines[1:])
    assert lines[-1] == "    ValueError: bad value"


def test_bad_format_arguments_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    text = LogFormatter().format(_record("%d", "not a number"))
    assert "Bad message" in text
    # Non-text messages are rendered with str(), as the logging module does.
    assert LogFormatter().format(_record(b"\xff bytes")).endswith("b'\\xff bytes'")


def test_custom_format_and_style(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    formatter = LogFormatter(fmt="{levelname}|{message}", style="{")
    assert formatter.format(_record("hi")) == "INFO|hi"


def test_enable_pretty_logging_stderr_default(fresh_logger: logging.Logger) -> None:
    enable_pretty_logging(logger=fresh_logger)
    assert fresh_logger.level == logging.INFO
    assert len(fresh_logger.handlers) == 1
    assert isinstance(fresh_logger.handlers[0].formatter, LogFormatter)
    # With a handler already present no second stderr handler is added.
    enable_pretty_logging(logger=fresh_logger)
    assert len(fresh_logger.handlers) == 1


def test_enable_pretty_logging_none_leaves_logger(fresh_logger: logging.Logger) -> None:
    enable_pretty_logging(types.SimpleNamespace(logging="none"), logger=fresh_logger)
    enable_pretty_logging(types.SimpleNamespace(logging=None), logger=fresh_logger)
    assert fresh_logger.handlers == []
    assert fresh_logger.level == logging.NOTSET


@pytest.mark.parametrize("mode", ["size", "time"])
def test_enable_pretty_logging_to_file(
    tmp_path: Path, fresh_logger: logging.Logger, mode: str
) -> None:
    target = tmp_path / "app.log"
    options = types.SimpleNamespace(
        logging="debug",
        log_file_prefix=str(target),
        log_rotate_mode=mode,
        log_file_max_size=1000,
        log_file_num_backups=2,
        log_rotate_when="midnight",
        log_rotate_interval=1,
        log_to_stderr=False,
    )
    enable_pretty_logging(options, logger=fresh_logger)
    assert fresh_logger.level == logging.DEBUG
    assert len(fresh_logger.handlers) == 1
    fresh_logger.debug("written to the file")
    fresh_logger.handlers[0].flush()
    content = target.read_text("utf-8")
    assert "written to the file" in content
    assert "\033[" not in content


def test_enable_pretty_logging_file_and_forced_stderr(
    tmp_path: Path, fresh_logger: logging.Logger
) -> None:
    options = types.SimpleNamespace(log_file_prefix=str(tmp_path / "x.log"), log_to_stderr=True)
    enable_pretty_logging(options, logger=fresh_logger)
    kinds = sorted(type(h).__name__ for h in fresh_logger.handlers)
    assert kinds == ["RotatingFileHandler", "StreamHandler"]


def test_enable_pretty_logging_bad_rotate_mode(
    tmp_path: Path, fresh_logger: logging.Logger
) -> None:
    options = types.SimpleNamespace(log_file_prefix=str(tmp_path / "x.log"), log_rotate_mode="x")
    with pytest.raises(ValueError, match="log_rotate_mode"):
        enable_pretty_logging(options, logger=fresh_logger)
