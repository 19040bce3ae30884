"""Typhoon's named loggers, a terminal-friendly log formatter, and a logging setup helper.

Layer 0: imports only the standard library.

Three loggers carry everything typhoon itself writes:

* ``typhoon.access`` (:data:`access_log`): one line per finished HTTP request.
* ``typhoon.application`` (:data:`app_log`): errors raised by application code
  (handlers, callbacks, ``handle_stream``).
* ``typhoon.general`` (:data:`gen_log`): everything else (network errors, process
  management, configuration warnings).

Plugins log under ``typhoon.<plugin>``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_COLORS",
    "DEFAULT_DATE_FORMAT",
    "DEFAULT_FORMAT",
    "LogFormatter",
    "access_log",
    "app_log",
    "enable_pretty_logging",
    "gen_log",
]

import logging
import logging.handlers
import sys
from collections.abc import Mapping
from typing import Any

#: Logger for per-request access lines.
access_log = logging.getLogger("typhoon.access")
#: Logger for errors raised by application code.
app_log = logging.getLogger("typhoon.application")
#: Logger for everything else typhoon reports.
gen_log = logging.getLogger("typhoon.general")

#: Record layout of :class:`LogFormatter`: level initial, time, module:line, message.
DEFAULT_FORMAT = (
    "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]%(end_color)s %(message)s"
)
#: Timestamp layout of :class:`LogFormatter` (``yymmdd HH:MM:SS``).
DEFAULT_DATE_FORMAT = "%y%m%d %H:%M:%S"
#: ANSI colour numbers (30 + n foreground) for each level.
DEFAULT_COLORS: Mapping[int, int] = {
    logging.DEBUG: 4,  # blue
    logging.INFO: 2,  # green
    logging.WARNING: 3,  # yellow
    logging.ERROR: 1,  # red
    logging.CRITICAL: 5,  # magenta
}

_RESET = "\033[0m"


def _stream_is_tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (OSError, ValueError):
        # A closed or detached stream is not a terminal.
        return False


def _text(value: Any) -> str:
    """Render ``value`` as text for a log line, never raising."""
    try:
        return str(value)
    except Exception as exc:
        return f"<unprintable {type(value).__name__}: {exc!r}>"


class LogFormatter(logging.Formatter):
    """A log formatter that colours the record prefix by level when writing to a terminal.

    Each line reads ``[L yymmdd HH:MM:SS module:line] message``; multi-line
    messages and tracebacks are indented so they stay readable next to single-line
    records. Colour is used only when ``color`` is true and standard error is a
    terminal, so log files never receive escape codes.

    Args:
        fmt: A ``%``-style (or ``style``-style) format; ``%(color)s`` and
            ``%(end_color)s`` mark the part that is coloured.
        datefmt: The ``time.strftime`` layout of ``%(asctime)s``.
        style: The format style passed to :class:`logging.Formatter`.
        color: Whether colour may be used at all.
        colors: Level number to ANSI colour number (0-7).
    """

    def __init__(
        self,
        fmt: str = DEFAULT_FORMAT,
        datefmt: str = DEFAULT_DATE_FORMAT,
        style: str = "%",
        color: bool = True,
        colors: Mapping[int, int] = DEFAULT_COLORS,
    ) -> None:
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)  # type: ignore[arg-type]
        self._colors: dict[int, str] = {}
        self._normal = ""
        if color and _stream_is_tty(sys.stderr):
            self._colors = {level: f"\033[2;3{code}m" for level, code in colors.items()}
            self._normal = _RESET

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as one (possibly indented multi-line) log entry."""
        record.message = _text(self._message(record))
        record.asctime = self.formatTime(record, self.datefmt)
        if record.levelno in self._colors:
            record.color = self._colors[record.levelno]
            record.end_color = self._normal
        else:
            record.color = record.end_color = ""
        formatted = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        extra = [line for line in (record.exc_text, record.stack_info) if line]
        if extra:
            formatted = "\n".join([formatted.rstrip(), *(_text(line) for line in extra)])
        return formatted.replace("\n", "\n    ")

    @staticmethod
    def _message(record: logging.LogRecord) -> str:
        try:
            return record.getMessage()
        except Exception as exc:
            # A bad format string must not hide the record itself.
            return f"Bad message ({exc!r}): {record.__dict__!r}"


def _option(options: Any, name: str, default: Any) -> Any:
    return getattr(options, name, default)


def enable_pretty_logging(options: Any = None, logger: logging.Logger | None = None) -> None:
    """Configure ``logger`` (the root logger by default) for readable output.

    ``options`` is any object with Tornado's logging option attributes (for example
    the options plugin's registry); a missing attribute takes its default:

    * ``logging``: level name (``"info"``); ``None`` or ``"none"`` leaves logging alone.
    * ``log_file_prefix``: when set, also log to this file, rotated by
      ``log_rotate_mode`` (``"size"`` with ``log_file_max_size`` bytes, or
      ``"time"`` with ``log_rotate_when`` / ``log_rotate_interval``), keeping
      ``log_file_num_backups`` old files.
    * ``log_to_stderr``: force (``True``) or suppress (``False``) the standard error
      handler; ``None`` adds it only when the logger has no handler yet.

    Raises:
        ValueError: ``log_rotate_mode`` is neither ``"size"`` nor ``"time"``.
    """
    level = _option(options, "logging", "info")
    if level is None or str(level).lower() == "none":
        return
    if logger is None:
        logger = logging.getLogger()
    logger.setLevel(getattr(logging, str(level).upper()))
    prefix = _option(options, "log_file_prefix", None)
    if prefix:
        mode = _option(options, "log_rotate_mode", "size")
        backups = int(_option(options, "log_file_num_backups", 10))
        file_handler: logging.Handler
        if mode == "size":
            file_handler = logging.handlers.RotatingFileHandler(
                filename=prefix,
                maxBytes=int(_option(options, "log_file_max_size", 100 * 1000 * 1000)),
                backupCount=backups,
                encoding="utf-8",
            )
        elif mode == "time":
            file_handler = logging.handlers.TimedRotatingFileHandler(
                filename=prefix,
                when=_option(options, "log_rotate_when", "midnight"),
                interval=int(_option(options, "log_rotate_interval", 1)),
                backupCount=backups,
                encoding="utf-8",
            )
        else:
            raise ValueError(
                f"The value of log_rotate_mode option should be 'size' or 'time', not {mode!r}."
            )
        file_handler.setFormatter(LogFormatter(color=False))
        logger.addHandler(file_handler)
    to_stderr = _option(options, "log_to_stderr", None)
    if to_stderr or (to_stderr is None and not logger.handlers):
        stderr_handler = logging.StreamHandler()
        stderr_handler.setFormatter(LogFormatter())
        logger.addHandler(stderr_handler)
