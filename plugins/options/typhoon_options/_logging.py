"""Tornado's standard logging options, applied through ``typhoon.log.enable_pretty_logging``."""

from __future__ import annotations

__all__ = ["define_logging_options"]

from typing import Any

from typhoon.errors import OptionsError
from typhoon.log import enable_pretty_logging

from typhoon_options._parser import OptionParser

_LEVELS = ("debug", "info", "warning", "warn", "error", "critical", "fatal", "none")
_ROTATE_MODES = ("size", "time")
_GROUP = "logging"


def _check_level(value: Any) -> None:
    if value is not None and str(value).lower() not in _LEVELS:
        raise OptionsError(
            f"Bad value for option 'logging': expected one of {', '.join(_LEVELS)}, got {value!r}"
        )


def _check_rotate_mode(value: Any) -> None:
    if value not in _ROTATE_MODES:
        raise OptionsError(
            f"Bad value for option 'log_rotate_mode': expected 'size' or 'time', got {value!r}"
        )


def define_logging_options(parser: OptionParser) -> None:
    """Define the logging options on ``parser`` and configure logging after each parse.

    The options are ``logging`` (level, or ``none`` to leave logging alone),
    ``log_to_stderr``, ``log_file_prefix``, ``log_file_max_size``,
    ``log_file_num_backups``, ``log_rotate_when``, ``log_rotate_interval`` and
    ``log_rotate_mode``. A parse callback passes them to
    :func:`typhoon.log.enable_pretty_logging`, which sets up the root logger.
    """
    parser.define(
        "logging",
        default="info",
        help="Python log level; 'none' leaves the logging configuration alone",
        metavar="debug|info|warning|error|none",
        group=_GROUP,
        callback=_check_level,
    )
    parser.define(
        "log_to_stderr",
        type=bool,
        default=None,
        help="send log output to stderr; by default only when no other log output is set up",
        group=_GROUP,
    )
    parser.define(
        "log_file_prefix",
        type=str,
        default=None,
        metavar="PATH",
        help="path of the log file; logging to a file is off when unset",
        group=_GROUP,
    )
    parser.define(
        "log_file_max_size",
        type=int,
        default=100 * 1000 * 1000,
        help="maximum size of a log file in bytes before it is rotated (size rotation)",
        group=_GROUP,
    )
    parser.define(
        "log_file_num_backups",
        type=int,
        default=10,
        help="number of rotated log files to keep",
        group=_GROUP,
    )
    parser.define(
        "log_rotate_when",
        type=str,
        default="midnight",
        help="unit of the time rotation interval: S, M, H, D, W0-W6 or midnight",
        group=_GROUP,
    )
    parser.define(
        "log_rotate_interval",
        type=int,
        default=1,
        help="how many log_rotate_when units pass between time rotations",
        group=_GROUP,
    )
    parser.define(
        "log_rotate_mode",
        type=str,
        default="size",
        metavar="size|time",
        help="rotate the log file by size or by time",
        group=_GROUP,
        callback=_check_rotate_mode,
    )
    parser.add_parse_callback(lambda: enable_pretty_logging(parser))
