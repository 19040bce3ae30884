"""ExpectLog: assert that a log message appears, and keep it out of the test output.

Layer 6 (assembly). Imports the standard library and ``typhoon.log``.
"""

from __future__ import annotations

__all__ = ["ExpectLog"]

import logging
import re
import types

from typhoon.log import app_log


class ExpectLog(logging.Filter):
    """Context manager: swallow log records matching ``regex`` on ``logger``.

    ``logger`` is a :class:`logging.Logger` or its name; ``regex`` is matched at the
    start of each record's message. On exit, if ``required`` and nothing matched,
    the block fails. With ``level``, only records of that level count (a record that
    matches at another level is let through with a warning), and the logger is made
    to emit that level for the duration of the block.

    Filters apply to the logger they are added to, not to its children: name the
    logger that actually writes the record (``typhoon.access``,
    ``typhoon.application``, ``typhoon.general``, ...).
    """

    def __init__(
        self,
        logger: logging.Logger | str,
        regex: str,
        required: bool = True,
        level: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger
        self.regex = re.compile(regex)
        self.required = required
        #: Whether a record matched (the count is in :attr:`matched_count`).
        self.matched = False
        self.matched_count = 0
        #: Whether any record seen carried an exception (a logged traceback).
        self.logged_stack = False
        self.level = level
        self.orig_level: int | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop matching records (``False``), pass the others."""
        if record.exc_info:
            self.logged_stack = True
        message = record.getMessage()
        if self.regex.match(message):
            if self.level is not None and record.levelno != self.level:
                app_log.warning(
                    "Got expected log message %r at unexpected level (%s vs %s)",
                    message,
                    logging.getLevelName(self.level),
                    record.levelname,
                )
                return True
            self.matched = True
            self.matched_count += 1
            return False
        return True

    def __enter__(self) -> ExpectLog:
        if self.level is not None and self.level < self.logger.getEffectiveLevel():
            self.orig_level = self.logger.level
            self.logger.setLevel(self.level)
        self.logger.addFilter(self)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if self.orig_level is not None:
            self.logger.setLevel(self.orig_level)
            self.orig_level = None
        self.logger.removeFilter(self)
        if typ is None and self.required and not self.matched:
            raise AssertionError(f"did not get expected log message {self.regex.pattern!r}")
