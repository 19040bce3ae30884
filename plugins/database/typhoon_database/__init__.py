"""MySQL and MariaDB for typhoon: torndb's ``Connection`` and an async pool on pymysql.

``Connection`` is the blocking torndb API for scripts and threads. ``AsyncPool`` offers the
same methods as coroutines for request handlers; it runs them on its own worker threads,
one connection per thread, so no query blocks the event loop. With the plugin enabled
(``mysql_host`` set), the application opens a pool at startup as ``application.db``.
"""

from __future__ import annotations

__all__ = [
    "AsyncPool",
    "Connection",
    "DatabaseError",
    "IntegrityError",
    "InterfaceError",
    "MultipleRowsError",
    "OperationalError",
    "PoolTimeoutError",
    "ProgrammingError",
    "Row",
    "Transaction",
]

from typhoon_database.connection import Connection, Row
from typhoon_database.errors import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    MultipleRowsError,
    OperationalError,
    PoolTimeoutError,
    ProgrammingError,
)
from typhoon_database.pool import AsyncPool, Transaction
