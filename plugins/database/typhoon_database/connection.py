"""The blocking ``Connection``: torndb's API on one pymysql connection.

Use it from scripts and worker threads; request handlers use :class:`~typhoon_database.AsyncPool`,
which runs these same calls on its own threads so the event loop never waits on the network.
A ``Connection`` is not thread-safe: one thread at a time.
"""

from __future__ import annotations

__all__ = ["Connection", "Row"]

import contextlib
import datetime
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pymysql
import pymysql.cursors

from typhoon_database.errors import MultipleRowsError, translate_error

# MySQL client error numbers that mean the server closed the connection under us:
# 2006 "server has gone away", 2013 "lost connection during query",
# 4031 "disconnected by the server because of inactivity" (MySQL 8 / MariaDB 10.11).
_DISCONNECT_CODES = frozenset({2006, 2013, 4031})
# An offset like "+0:00" or a zone name like "Europe/Paris"; it is sent in SET time_zone.
_TIME_ZONE = re.compile(r"[A-Za-z0-9_+:/-]{1,64}")


class Row(dict[str, Any]):
    """A result row: a ``dict`` whose keys can also be read as attributes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _error_code(error: pymysql.err.MySQLError) -> int | None:
    return error.args[0] if error.args and isinstance(error.args[0], int) else None


def _bindable(value: Any) -> Any:
    # Aware datetimes are stored as UTC: the session time zone is UTC by default and
    # MySQL DATETIME columns carry no offset.
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def _parameters(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    if args and kwargs:
        raise TypeError("pass query parameters either positionally or by name, not both")
    if kwargs:
        return {key: _bindable(value) for key, value in kwargs.items()}
    return tuple(_bindable(value) for value in args)


def _split_host(host: str) -> tuple[str | None, int, str | None]:
    """Return (host, port, unix_socket) for ``host``, ``host:port`` or a socket path."""
    if "/" in host:
        return None, 3306, host
    name, sep, port = host.rpartition(":") if host.count(":") == 1 else ("", "", host)
    if sep:
        if not port.isdigit():
            raise ValueError(f"invalid port in database host {host!r}")
        return name or "127.0.0.1", int(port), None
    return port, 3306, None


class Connection:
    """A connection to a MySQL or MariaDB database with torndb's methods.

    ``host`` is ``"host"``, ``"host:port"`` or the path of a Unix socket. The connection is
    in autocommit mode; it reconnects by itself after ``max_idle_time`` seconds unused, and
    a read (``query``, ``get``, ``iter``) that finds the connection dropped by the server
    reconnects and runs once more. Statements that change data are never retried.
    Parameters are always bound by the driver with ``%s`` (or ``%(name)s``) placeholders.
    """

    def __init__(
        self,
        host: str,
        database: str,
        user: str | None = None,
        password: str | None = None,
        max_idle_time: float = 7 * 3600,
        connect_timeout: float = 10,
        time_zone: str = "+0:00",
        charset: str = "utf8mb4",
        sql_mode: str = "TRADITIONAL",
        port: int | None = None,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.database = database
        self.max_idle_time = float(max_idle_time)
        self._password = password
        if time_zone and not _TIME_ZONE.fullmatch(time_zone):
            raise ValueError(f"invalid time_zone {time_zone!r}")
        hostname, default_port, unix_socket = _split_host(host)
        self._connect_args: dict[str, Any] = {
            "host": hostname,
            "port": port or default_port,
            "unix_socket": unix_socket,
            "database": database,
            "user": user,
            "password": password or "",
            "charset": charset,
            "sql_mode": sql_mode,
            "init_command": f"SET time_zone = '{time_zone}'" if time_zone else None,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "write_timeout": write_timeout,
            "autocommit": True,
            "use_unicode": True,
        }
        self._db: pymysql.connections.Connection[Any] | None = None
        self._last_use_time = time.monotonic()
        self._in_transaction = False
        self.reconnect()

    def __repr__(self) -> str:
        return f"<Connection {self.host}/{self.database} user={self._connect_args['user']!r}>"

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # --- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; a later call reconnects."""
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            # Closing a connection the server already dropped fails harmlessly.
            with contextlib.suppress(Exception):
                db.close()
        self._in_transaction = False

    def reconnect(self) -> None:
        """Close the current connection, if any, and open a new one."""
        self.close()
        try:
            self._db = pymysql.connect(**self._connect_args)
        except pymysql.err.MySQLError as error:
            raise translate_error(error, self._password) from error
        self._last_use_time = time.monotonic()

    def ping(self) -> None:
        """Check the connection, reconnecting if the server dropped it."""
        try:
            self._ensure_connected().ping(reconnect=False)
        except pymysql.err.MySQLError:
            self.reconnect()

    def _ensure_connected(self) -> pymysql.connections.Connection[Any]:
        # MySQL drops connections idle past wait_timeout (8 hours by default); reconnect
        # before that rather than fail the next query.
        if self._db is None or (
            not self._in_transaction and time.monotonic() - self._last_use_time > self.max_idle_time
        ):
            self.reconnect()
        assert self._db is not None
        self._last_use_time = time.monotonic()
        return self._db

    # --- transactions -----------------------------------------------------------------

    def begin(self) -> None:
        """Start a transaction; statements until ``commit``/``rollback`` belong to it."""
        self._run(lambda cursor: cursor.execute("BEGIN"), retry=False)
        self._in_transaction = True

    def commit(self) -> None:
        """Commit the current transaction."""
        try:
            self._ensure_connected().commit()
        except pymysql.err.MySQLError as error:
            raise translate_error(error, self._password) from error
        finally:
            self._in_transaction = False

    def rollback(self) -> None:
        """Roll back the current transaction."""
        try:
            if self._db is not None:
                self._db.rollback()
        except pymysql.err.MySQLError as error:
            raise translate_error(error, self._password) from error
        finally:
            self._in_transaction = False

    # --- queries ----------------------------------------------------------------------

    def _run(self, operation: Any, retry: bool, cursor_class: Any = pymysql.cursors.Cursor) -> Any:
        retries_left = 1 if retry and not self._in_transaction else 0
        while True:
            db = self._ensure_connected()
            try:
                with db.cursor(cursor_class) as cursor:
                    return operation(cursor)
            except pymysql.err.MySQLError as error:
                if _error_code(error) in _DISCONNECT_CODES:
                    self.close()
                    if retries_left:
                        retries_left -= 1
                        continue
                raise translate_error(error, self._password) from error

    @staticmethod
    def _rows(cursor: Any) -> list[Row]:
        names = [column[0] for column in cursor.description or ()]
        return [Row(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def query(self, query: str, *parameters: Any, **kwparameters: Any) -> list[Row]:
        """Run a read query and return every row."""
        params = _parameters(parameters, kwparameters)

        def operation(cursor: Any) -> list[Row]:
            cursor.execute(query, params)
            return self._rows(cursor)

        result: list[Row] = self._run(operation, retry=True)
        return result

    def get(self, query: str, *parameters: Any, **kwparameters: Any) -> Row | None:
        """Return the single row of a query, ``None`` if there is none.

        Raises :class:`MultipleRowsError` if the query returns more than one row.
        """
        rows = self.query(query, *parameters, **kwparameters)
        if not rows:
            return None
        if len(rows) > 1:
            raise MultipleRowsError(
                f"get() expected at most one row, the query returned {len(rows)}"
            )
        return rows[0]

    def iter(self, query: str, *parameters: Any, **kwparameters: Any) -> Iterator[Row]:
        """Yield the rows of a query one at a time without holding them all in memory."""
        params = _parameters(parameters, kwparameters)
        db = self._ensure_connected()
        cursor = db.cursor(pymysql.cursors.SSCursor)
        try:
            try:
                cursor.execute(query, params)
            except pymysql.err.MySQLError as error:
                if _error_code(error) not in _DISCONNECT_CODES or self._in_transaction:
                    raise translate_error(error, self._password) from error
                self.close()
                cursor = self._ensure_connected().cursor(pymysql.cursors.SSCursor)
                cursor.execute(query, params)
            names = [column[0] for column in cursor.description or ()]
            for values in cursor:
                yield Row(zip(names, values, strict=True))
        except pymysql.err.MySQLError as error:
            raise translate_error(error, self._password) from error
        finally:
            cursor.close()

    def execute(self, query: str, *parameters: Any, **kwparameters: Any) -> int:
        """Run a statement and return the last inserted row id."""
        return self.execute_lastrowid(query, *parameters, **kwparameters)

    def execute_lastrowid(self, query: str, *parameters: Any, **kwparameters: Any) -> int:
        """Run a statement and return the last inserted row id."""
        params = _parameters(parameters, kwparameters)

        def operation(cursor: Any) -> int:
            cursor.execute(query, params)
            return int(cursor.lastrowid or 0)

        result: int = self._run(operation, retry=False)
        return result

    def execute_rowcount(self, query: str, *parameters: Any, **kwparameters: Any) -> int:
        """Run a statement and return the number of rows it affected."""
        params = _parameters(parameters, kwparameters)

        def operation(cursor: Any) -> int:
            return int(cursor.execute(query, params))

        result: int = self._run(operation, retry=False)
        return result

    def executemany(
        self, query: str, parameters: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> int:
        """Run a statement once per parameter set and return the last inserted row id."""
        return self.executemany_lastrowid(query, parameters)

    def executemany_lastrowid(
        self, query: str, parameters: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> int:
        """Run a statement once per parameter set and return the last inserted row id."""
        rows = [self._bind_set(p) for p in parameters]

        def operation(cursor: Any) -> int:
            cursor.executemany(query, rows)
            return int(cursor.lastrowid or 0)

        result: int = self._run(operation, retry=False)
        return result

    def executemany_rowcount(
        self, query: str, parameters: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> int:
        """Run a statement once per parameter set and return the total rows affected."""
        rows = [self._bind_set(p) for p in parameters]

        def operation(cursor: Any) -> int:
            return int(cursor.executemany(query, rows) or 0)

        result: int = self._run(operation, retry=False)
        return result

    @staticmethod
    def _bind_set(parameters: Sequence[Any] | Mapping[str, Any]) -> Any:
        if isinstance(parameters, Mapping):
            return _parameters((), parameters)
        return _parameters(parameters, {})

    # torndb's historical names
    update = execute_rowcount
    updatemany = executemany_rowcount
    insert = execute_lastrowid
    insertmany = executemany_lastrowid
