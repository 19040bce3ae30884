"""Database errors: pymysql's failures translated into typhoon's exception tree.

Each class keeps the driver's exception as ``__cause__`` and its MySQL error code as
``code``. Messages never contain the connection password.
"""

from __future__ import annotations

__all__ = [
    "DatabaseError",
    "IntegrityError",
    "InterfaceError",
    "MultipleRowsError",
    "OperationalError",
    "PoolTimeoutError",
    "ProgrammingError",
    "translate_error",
]

import pymysql
from typhoon.errors import TyphoonError


class DatabaseError(TyphoonError):
    """A query or connection failed; ``code`` is the MySQL error number when known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OperationalError(DatabaseError):
    """The server is unreachable, went away, or refused the connection."""


class IntegrityError(DatabaseError):
    """A constraint (unique key, foreign key, NOT NULL) rejected the statement."""


class ProgrammingError(DatabaseError):
    """The SQL is invalid, or refers to a table or column that does not exist."""


class InterfaceError(DatabaseError):
    """The connection object was used wrongly (for example after ``close``)."""


class MultipleRowsError(DatabaseError):
    """``get`` found more than one row where at most one was expected."""


class PoolTimeoutError(DatabaseError, TimeoutError):
    """No pooled connection became free within the pool's ``acquire_timeout``."""


def translate_error(error: BaseException, password: str | None) -> DatabaseError:
    """Map a pymysql exception to the matching typhoon database error.

    The password, if it appears anywhere in the driver's message, is masked.
    """
    code: int | None = None
    detail = str(error)
    if isinstance(error, pymysql.err.MySQLError) and error.args:
        first = error.args[0]
        if isinstance(first, int):
            code = first
            detail = str(error.args[1]) if len(error.args) > 1 else detail
    if password:
        detail = detail.replace(password, "***")
    message = f"({code}) {detail}" if code is not None else detail
    kind: type[DatabaseError]
    if isinstance(error, pymysql.err.IntegrityError):
        kind = IntegrityError
    elif isinstance(error, pymysql.err.ProgrammingError | pymysql.err.NotSupportedError):
        kind = ProgrammingError
    elif isinstance(error, pymysql.err.InterfaceError):
        kind = InterfaceError
    elif isinstance(error, pymysql.err.OperationalError | OSError):
        kind = OperationalError
    else:
        kind = DatabaseError
    return kind(message, code)
